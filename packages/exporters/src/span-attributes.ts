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
 * An encoder's last value for one key and where the bytes of its whole entry are in the
 * encoder's {@link MemoArena}: most attributes repeat from span to span (scheme, protocol,
 * addresses, ports, most header values), and copying bytes is far cheaper than encoding them
 * again. A key whose values keep changing (a client port, a connection id) stops being
 * remembered.
 */
export class ValueMemo {
  hits = 0;
  misses = 0;
  constructor(
    public value: string | number | boolean,
    /** The arena generation the entry was written in (older ones are gone). */
    public gen: number,
    /**
     * The entry's offset in the arena (the same as `bytes.byteOffset`, kept as a plain field:
     * every hit reads it, and reading the view's getters instead looked slower side by side).
     */
    public off: number,
    /** The entry's length in bytes. */
    public len: number,
    /** The entry's bytes: a view of the arena, made once (copying one entry needs no new view). */
    public bytes: Uint8Array,
  ) {}

  /**
   * The last run of remembered entries copied from this one on, as a view of the arena, and
   * where it ended: spans repeat their runs, and making a view costs twice what copying it does.
   */
  run: Uint8Array | undefined = undefined;
  runEnd = -1;

  /** False once misses clearly outweigh hits: not worth a copy per span. */
  get useful(): boolean {
    return this.misses < 64 || this.misses < 4 * this.hits;
  }
}

/** Entries past this many bytes are not remembered (they would crowd the arena out). */
const MAX_REMEMBERED_ENTRY = 2048;
/** Generations are unique across arenas, so a memo can't be read from another arena. */
let nextGeneration = 1;

/**
 * The remembered entries of one encoding, one after the other in the order they were
 * remembered. Spans say their attributes in the same order every time, so entries that repeat
 * lie next to each other here and a run of them is copied into a request at once. When it
 * fills it starts over: a new generation, older memos no longer hit.
 */
export class MemoArena {
  /** A plain Uint8Array: its views are cheaper to make than a Buffer's. */
  readonly buf: Uint8Array;
  pos = 0;
  gen = nextGeneration++;
  constructor(bytes = 64 * 1024) {
    this.buf = new Uint8Array(bytes);
  }

  /** Copies `src[start, end)` in; its offset, or -1 when it is too large to remember. */
  add(src: Uint8Array, start: number, end: number): number {
    const n = end - start;
    if (n > MAX_REMEMBERED_ENTRY || n > this.buf.length) return -1;
    if (this.pos + n > this.buf.length) {
      this.pos = 0;
      this.gen = nextGeneration++;
    }
    const off = this.pos;
    this.buf.set(src.subarray(start, end), off);
    this.pos += n;
    return off;
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
   * one connection): `emit(sink, id)` says them, and a sink may keep what they became and
   * reuse it. (`emit` is best a function made once, not a closure per call.)
   */
  block<T extends object>(id: T, emit: (sink: AttributeSink, id: T) => void): void;
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
  block<T extends object>(id: T, emit: (sink: AttributeSink, id: T) => void): void {
    emit(this, id);
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
 * their arena of remembered entries, connection blocks, and the copying of remembered entries. Hits are not
 * copied one by one: a hit that continues the previous one in the arena extends a pending run,
 * and a run is copied when anything else is written (and at {@link flush}).
 */
export abstract class EntrySink<W extends GrowableBuffer> {
  private readonly blocks = new BlockMemo();
  private readonly arena = new MemoArena();
  /** The pending run of remembered entries: arena bytes [runStart, runEnd), its first entry. */
  private runStart = 0;
  private runEnd = 0;
  private runFirst: ValueMemo | undefined;
  /** Where the entry being written afresh starts (its separator included). */
  private entryStart = 0;
  constructor(
    /** The buffer written into (set before each span). */
    public w: W,
    /** This encoding's slot in `AttrKey.encoded` and `AttrKey.memo`. */
    protected readonly slot: number,
  ) {}

  /** Writes what goes before an entry (JSON's comma; nothing in protobuf). */
  protected abstract separate(): void;

  /** Copies the pending run of remembered entries; call before writing anything else. */
  flush(): void {
    const first = this.runFirst;
    if (first === undefined) return;
    // One entry: its own view. More: one view over the run (making a view costs about what
    // copying three entries one by one does, so runs pay from about three entries on).
    if (this.runEnd - this.runStart === first.len) this.w.raw(first.bytes);
    else {
      // A run starts at its first entry's offset: the view made last time is this run's when
      // it ends where this one does (re-remembering the entry moves it and drops the view).
      let run = first.run;
      if (run === undefined || first.runEnd !== this.runEnd) {
        run = this.arena.buf.subarray(this.runStart, this.runEnd);
        first.run = run;
        first.runEnd = this.runEnd;
      }
      this.w.raw(run);
    }
    this.runFirst = undefined;
  }

  /**
   * A connection's block: copied whole when kept, else said by `emit` and kept (the bytes of
   * its entries, separators included, are the same wherever the block stands).
   */
  block<T extends object>(id: T, emit: (sink: this, id: T) => void): void {
    this.flush();
    const kept = this.blocks.get(id);
    if (kept !== undefined) {
      this.w.raw(kept);
      return;
    }
    const start = this.w.pos;
    emit(this, id);
    this.flush();
    this.blocks.set(id, this.w.buf.subarray(start, this.w.pos));
  }

  /** Starts an entry written afresh: the pending run first, then the separator. */
  protected entry(): void {
    this.flush();
    this.entryStart = this.w.pos;
    this.separate();
  }

  /**
   * True when `v` is the key's remembered value: its entry joins the pending run. Otherwise
   * the entry is started ({@link entry}) for the caller to write.
   */
  protected hit(k: AttrKey, v: string | number | boolean): boolean {
    const m = k.memo[this.slot];
    if (m === undefined || m.value !== v || m.gen !== this.arena.gen) {
      this.entry();
      return false;
    }
    m.hits++;
    if (this.runFirst === undefined || m.off !== this.runEnd) {
      this.flush();
      this.runFirst = m;
      this.runStart = m.off;
    }
    this.runEnd = m.off + m.len;
    return true;
  }

  /** Remembers the entry just written (separator included) as the key's last value. */
  protected remember(k: AttrKey, v: string | number | boolean): void {
    const start = this.entryStart;
    const m = k.memo[this.slot];
    if (m !== undefined) {
      m.misses++;
      if (!m.useful) return;
    }
    const arena = this.arena;
    const off = arena.add(this.w.buf, start, this.w.pos);
    if (off < 0) return;
    const len = this.w.pos - start;
    const bytes = arena.buf.subarray(off, off + len);
    if (m === undefined) k.memo[this.slot] = new ValueMemo(v, arena.gen, off, len, bytes);
    else {
      m.value = v;
      m.gen = arena.gen;
      m.off = off;
      m.len = len;
      m.bytes = bytes;
      m.run = undefined;
      m.runEnd = -1;
    }
  }
}
