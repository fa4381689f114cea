/**
 * Span attributes as a stream of typed calls instead of an object: the span mapper says each
 * attribute once, to a sink, and the sink decides what it becomes — an OpenTelemetry
 * `Attributes` object (for any exporter), or protobuf / JSON bytes written straight into an
 * OTLP request (for the project's exporter, with no object made per span).
 */
import type { Attributes } from '@opentelemetry/api';
import type { GrowableBuffer } from './growable-buffer.js';

/**
 * An attribute key, made once and reused on every span: encoders keep its encoded form on it
 * (`encoded`, one slot per encoding) so it is never encoded twice.
 */
export class AttrKey {
  /** Encoded forms of the key, by encoder (protobuf, JSON). */
  readonly encoded: Array<Uint8Array | undefined> = [undefined, undefined];
  /** The last value each encoder wrote under this key, with its whole encoded entry. */
  readonly memo: Array<ValueMemo | undefined> = [undefined, undefined];
  constructor(readonly name: string) {}
}

/**
 * An encoder's last value for one key and the bytes of its whole entry: most attributes repeat
 * from span to span (scheme, protocol, addresses, ports, most header values), and copying the
 * bytes is far cheaper than encoding them again. A key whose values keep changing (a client
 * port, a connection id) stops being remembered.
 */
export class ValueMemo {
  hits = 0;
  misses = 0;
  constructor(
    public value: string | number | boolean,
    public bytes: Uint8Array,
  ) {}

  /** False once misses clearly outweigh hits: not worth a copy per span. */
  get useful(): boolean {
    return this.misses < 64 || this.misses < 4 * this.hits;
  }
}

/** Receives attributes one by one, typed. */
export interface AttributeSink {
  str(key: AttrKey, value: string): void;
  /** An integer attribute. */
  int(key: AttrKey, value: number): void;
  bool(key: AttrKey, value: boolean): void;
  /**
   * A run of attributes that is the same on every span given the same `id` object (those of
   * one connection): `emit` says them, and a sink may keep what they became and reuse it.
   */
  block(id: object, emit: (sink: AttributeSink) => void): void;
  /** A string-array attribute of one item. */
  list1(key: AttrKey, value: string): void;
  /** A string-array attribute: `beginList`, its items, `endList`. */
  beginList(key: AttrKey): void;
  item(value: string): void;
  endList(): void;
}

/** Something that can say its attributes to a sink. */
export interface AttributeSource {
  /**
   * True once the span's `attributes` object was built (someone read it, and may have changed
   * it): from then on that object, not {@link emitAttributes}, is what the span carries.
   */
  readonly attributesRead: boolean;
  emitAttributes(sink: AttributeSink): void;
}

/** Builds an OpenTelemetry `Attributes` object. */
export class ObjectSink implements AttributeSink {
  readonly attrs: Attributes = {};
  private list: string[] = [];
  str(key: AttrKey, value: string): void {
    this.attrs[key.name] = value;
  }
  int(key: AttrKey, value: number): void {
    this.attrs[key.name] = value;
  }
  bool(key: AttrKey, value: boolean): void {
    this.attrs[key.name] = value;
  }
  block(_id: object, emit: (sink: AttributeSink) => void): void {
    emit(this);
  }
  list1(key: AttrKey, value: string): void {
    this.attrs[key.name] = [value];
  }
  beginList(key: AttrKey): void {
    this.list = [];
    this.attrs[key.name] = this.list;
  }
  item(value: string): void {
    this.list.push(value);
  }
  endList(): void {}
}

/**
 * The span as an attribute source when it is one (spans of the project's mapper are) and its
 * attributes object was never built (a stage that read it may have added to it).
 */
export function attributeSourceOf(span: object): AttributeSource | undefined {
  const s = span as Partial<AttributeSource>;
  return typeof s.emitAttributes === 'function' && s.attributesRead === false
    ? (span as AttributeSource)
    : undefined;
}

/** The entry remembered under `k` for encoder `slot` when `v` is its last value (a hit). */
export function recall(
  k: AttrKey,
  slot: number,
  v: string | number | boolean,
): Uint8Array | undefined {
  const m = k.memo[slot];
  if (m === undefined || m.value !== v) return undefined;
  m.hits++;
  return m.bytes;
}

/** Remembers `entry` (copied) as what `v` under `k` became for encoder `slot`. */
export function remember(
  k: AttrKey,
  slot: number,
  v: string | number | boolean,
  entry: Uint8Array,
): void {
  const m = k.memo[slot];
  if (m === undefined) {
    k.memo[slot] = new ValueMemo(v, Buffer.from(entry));
    return;
  }
  m.misses++;
  if (m.useful) {
    m.value = v;
    m.bytes = Buffer.from(entry);
  }
}

/**
 * Encoded blocks by their id object, while reusing them pays: ids that never come back (an
 * embedder making a new connection object per exchange) stop being kept.
 */
export class BlockMemo {
  private readonly blocks = new WeakMap<object, Uint8Array>();
  private hits = 0;
  private misses = 0;

  /** The block encoded for `id`, if kept. */
  get(id: object): Uint8Array | undefined {
    const b = this.blocks.get(id);
    if (b !== undefined) this.hits++;
    return b;
  }

  /** Keeps `bytes` for `id` (a copy), unless blocks have not been coming back. */
  set(id: object, bytes: Uint8Array): void {
    this.misses++;
    if (this.misses < 64 || this.misses < 4 * this.hits) this.blocks.set(id, Buffer.from(bytes));
  }
}

/**
 * What the encoders' sinks share: the buffer they write into, their slot in each key's memo,
 * and the recall of an entry remembered under a key (with the separator the encoding puts
 * before each entry).
 */
export abstract class EntrySink<W extends GrowableBuffer> {
  protected readonly blocks = new BlockMemo();
  constructor(
    /** The buffer written into (set before each span). */
    public w: W,
    /** This encoding's slot in `AttrKey.encoded` and `AttrKey.memo`. */
    protected readonly slot: number,
  ) {}

  /** Writes what goes before an entry (JSON's comma; nothing in protobuf). */
  protected abstract separate(): void;

  /** Writes the separator; copies the remembered entry when `v` is the key's last value. */
  protected hit(k: AttrKey, v: string | number | boolean): boolean {
    this.separate();
    const entry = recall(k, this.slot, v);
    if (entry === undefined) return false;
    this.w.raw(entry);
    return true;
  }

  /** Remembers the entry written since `start` as the key's last value. */
  protected remember(k: AttrKey, v: string | number | boolean, start: number): void {
    remember(k, this.slot, v, this.w.buf.subarray(start, this.w.pos));
  }
}
