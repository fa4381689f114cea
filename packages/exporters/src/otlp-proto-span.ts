/**
 * OTLP protobuf (opentelemetry/proto/trace/v1/trace.proto and common.proto) written straight
 * from a {@link ReadableSpan} into a {@link ProtoWriter}: no intermediate message objects. Values
 * map as the official OTLP transformer maps them (integers → `int_value`, other numbers →
 * `double_value`, `Uint8Array` → `bytes_value`, arrays → `array_value`, plain objects →
 * `kvlist_value`), so a collector can't tell the two apart.
 */
import type { Attributes, AttributeValue, Link } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { InstrumentationScope } from '@opentelemetry/core';
import { ExchangeSpan } from './exchange-span.js';
import { ProtoWriter } from './otlp-proto-writer.js';
import { PooledSpanContext } from './span-ids.js';
import {
  EntrySink,
  attributeSourceOf,
  type AttrKey,
  type AttributeSink,
} from './span-attributes.js';

// Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. Tag = field << 3 | type.
const KV_KEY = 0x0a; // KeyValue.key = 1
const KV_VALUE = 0x12; // KeyValue.value = 2
const ANY_STRING = 0x0a; // AnyValue.string_value = 1
const ANY_BOOL = 0x10; // bool_value = 2
const ANY_INT = 0x18; // int_value = 3
const ANY_DOUBLE = 0x21; // double_value = 4
const ANY_ARRAY = 0x2a; // array_value = 5
const ANY_KVLIST = 0x32; // kvlist_value = 6
const ANY_BYTES = 0x3a; // bytes_value = 7
const LIST_VALUES = 0x0a; // ArrayValue.values = 1, KeyValueList.values = 1

/** The W3C trace-flags byte plus OTLP's "has is_remote" bit and, when set, "is remote". */
export function spanFlags(traceFlags: number, isRemote: boolean | undefined): number {
  return (traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);
}

/**
 * Pre-encoded `KeyValue.key` fields (tag, length, UTF-8) plus the value's tag, per attribute
 * key: keys repeat on every span, so each is encoded once. Bounded: cleared when full.
 */
export class KeyCache {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly maxKeys = 8192) {}

  /** `0x0a len key 0x12` for `key`. */
  get(key: string): Buffer {
    let b = this.map.get(key);
    if (b === undefined) {
      const utf8 = Buffer.from(key, 'utf8');
      const w = new ProtoWriter(utf8.length + 16);
      w.byte(KV_KEY);
      w.bytes(utf8);
      w.byte(KV_VALUE);
      b = w.finish();
      if (this.map.size >= this.maxKeys) this.map.clear();
      this.map.set(key, b);
    }
    return b;
  }
}

/** Writes one `AnyValue`'s fields (the caller wrote its tag and will end it). */
function writeAnyValueFields(w: ProtoWriter, v: unknown, keys: KeyCache): void {
  switch (typeof v) {
    case 'string':
      w.byte(ANY_STRING);
      w.string(v);
      return;
    case 'number':
      if (Number.isInteger(v)) {
        w.byte(ANY_INT);
        w.int64(v);
      } else {
        w.byte(ANY_DOUBLE);
        w.double(v);
      }
      return;
    case 'boolean':
      w.byte(ANY_BOOL);
      w.byte(v ? 1 : 0);
      return;
    case 'object': {
      if (v === null) return;
      if (v instanceof Uint8Array) {
        w.byte(ANY_BYTES);
        w.bytes(v);
        return;
      }
      if (Array.isArray(v)) {
        w.byte(ANY_ARRAY);
        const list = w.begin();
        for (const item of v) {
          w.byte(LIST_VALUES);
          const m = w.begin();
          writeAnyValueFields(w, item, keys);
          w.end(m);
        }
        w.end(list);
        return;
      }
      w.byte(ANY_KVLIST);
      const list = w.begin();
      const obj = v as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        w.byte(LIST_VALUES);
        const m = w.begin();
        writeKeyValue(w, k, obj[k], keys);
        w.end(m);
      }
      w.end(list);
      return;
    }
    default:
      // undefined, functions, symbols: an empty AnyValue, as the official transformer sends.
      return;
  }
}

/** One `KeyValue`'s fields. */
function writeKeyValue(w: ProtoWriter, key: string, value: unknown, keys: KeyCache): void {
  w.raw(keys.get(key));
  const m = w.begin();
  writeAnyValueFields(w, value, keys);
  w.end(m);
}

/** `repeated KeyValue` at tag `tag`, one per attribute. */
export function writeAttributes(
  w: ProtoWriter,
  tag: number,
  attrs: Attributes,
  keys: KeyCache,
): void {
  // Object.keys, not for…in: span attribute objects grow key by key into dictionary mode,
  // where for…in measured several times slower.
  const names = Object.keys(attrs);
  for (let i = 0; i < names.length; i++) {
    const key = names[i]!;
    w.byte(tag);
    const m = w.begin();
    writeKeyValue(w, key, attrs[key] satisfies AttributeValue | undefined, keys);
    w.end(m);
  }
}

function writeEvent(w: ProtoWriter, e: TimedEvent, keys: KeyCache): void {
  w.byte(0x09); // time_unix_nano = 1, fixed64
  w.hrTime(e.time[0], e.time[1]);
  w.byte(0x12); // name = 2
  w.string(e.name);
  if (e.attributes) writeAttributes(w, 0x1a, e.attributes, keys); // attributes = 3
  if (e.droppedAttributesCount) {
    w.byte(0x20); // dropped_attributes_count = 4
    w.varint(e.droppedAttributesCount);
  }
}

function writeLink(w: ProtoWriter, l: Link, keys: KeyCache): void {
  w.byte(0x0a); // trace_id = 1
  w.hexBytes(l.context.traceId);
  w.byte(0x12); // span_id = 2
  w.hexBytes(l.context.spanId);
  const state = l.context.traceState?.serialize();
  if (state) {
    w.byte(0x1a); // trace_state = 3
    w.string(state);
  }
  if (l.attributes) writeAttributes(w, 0x22, l.attributes, keys); // attributes = 4
  if (l.droppedAttributesCount) {
    w.byte(0x28); // dropped_attributes_count = 5
    w.varint(l.droppedAttributesCount);
  }
  w.byte(0x35); // flags = 6, fixed32
  w.fixed32(spanFlags(l.context.traceFlags, l.context.isRemote));
}

/** One `Span` message's fields (the caller writes the tag and length around them). */
export function writeSpanFields(w: ProtoWriter, span: ReadableSpan, keys: KeyCache): void {
  const ctx = span.spanContext();
  w.byte(0x0a); // trace_id = 1
  if (ctx instanceof PooledSpanContext && ctx.traceAt >= 0) {
    w.byte(16);
    w.copyFrom(ctx.ids, ctx.traceAt, 16);
  } else w.hexBytes(ctx.traceId);
  w.byte(0x12); // span_id = 2
  if (ctx instanceof PooledSpanContext) {
    w.byte(8);
    w.copyFrom(ctx.ids, ctx.spanAt, 8);
  } else w.hexBytes(ctx.spanId);
  const state = ctx.traceState?.serialize();
  if (state) {
    w.byte(0x1a); // trace_state = 3
    w.string(state);
  }
  const parent = span.parentSpanContext;
  if (parent?.spanId) {
    w.byte(0x22); // parent_span_id = 4
    w.hexBytes(parent.spanId);
  }
  w.byte(0x2a); // name = 5
  w.string(span.name);
  w.byte(0x30); // kind = 6: the API's kinds are OTLP's minus one
  w.varint(span.kind + 1);
  // The mapper's spans carry their times as numbers: no [s, ns] arrays made to be read here.
  const own = span instanceof ExchangeSpan ? span : undefined;
  w.byte(0x39); // start_time_unix_nano = 7, fixed64
  if (own) w.hrTime(own.startSeconds, own.startNanos);
  else w.hrTime(span.startTime[0], span.startTime[1]);
  w.byte(0x41); // end_time_unix_nano = 8, fixed64
  if (own) w.hrTime(own.endSeconds, own.endNanos);
  else w.hrTime(span.endTime[0], span.endTime[1]);
  // attributes = 9: straight from the exchange when the span can say them, else its object.
  const source = attributeSourceOf(span);
  if (source) {
    const sink = protoSink(w);
    source.emitAttributes(sink);
    sink.flush();
  } else writeAttributes(w, 0x4a, span.attributes, keys);
  if (span.droppedAttributesCount) {
    w.byte(0x50); // dropped_attributes_count = 10
    w.varint(span.droppedAttributesCount);
  }
  for (const e of span.events) {
    w.byte(0x5a); // events = 11
    const m = w.begin();
    writeEvent(w, e, keys);
    w.end(m);
  }
  if (span.droppedEventsCount) {
    w.byte(0x60); // dropped_events_count = 12
    w.varint(span.droppedEventsCount);
  }
  for (const l of span.links) {
    w.byte(0x6a); // links = 13
    const m = w.begin();
    writeLink(w, l, keys);
    w.end(m);
  }
  if (span.droppedLinksCount) {
    w.byte(0x70); // dropped_links_count = 14
    w.varint(span.droppedLinksCount);
  }
  w.byte(0x7a); // status = 15
  const sm = w.begin();
  if (span.status.message) {
    w.byte(0x12); // message = 2
    w.string(span.status.message);
  }
  if (span.status.code) {
    w.byte(0x18); // code = 3
    w.varint(span.status.code);
  }
  w.end(sm);
  w.byte(0x85); // flags = 16, fixed32: two tag bytes
  w.byte(0x01);
  w.fixed32(spanFlags(ctx.traceFlags, parent?.isRemote));
}

/** An encoded `Resource` message (its fields, without tag and length). */
export function encodeResource(resource: Resource, keys: KeyCache): Buffer {
  const w = new ProtoWriter(1024);
  writeAttributes(w, 0x0a, resource.attributes, keys); // attributes = 1
  return w.finish();
}

/** An encoded `InstrumentationScope` message (its fields, without tag and length). */
export function encodeScope(scope: InstrumentationScope): Buffer {
  const w = new ProtoWriter(256);
  w.byte(0x0a); // name = 1
  w.string(scope.name);
  if (scope.version) {
    w.byte(0x12); // version = 2
    w.string(scope.version);
  }
  return w.finish();
}

/**
 * Writes `Span.attributes` entries (field 9) as an {@link AttributeSink} is told them. An entry
 * whose key and value are the ones written last time under that key is copied whole from the
 * key's memo.
 */
class ProtoSpanAttributeSink extends EntrySink<ProtoWriter> implements AttributeSink {
  private kv = 0;
  private any = 0;
  private list = 0;

  constructor() {
    super(new ProtoWriter(16), 0);
  }

  /** Entries follow each other with nothing between. */
  protected separate(): void {}

  /** Opens a KeyValue: tag, length mark, the key (encoded once per AttrKey), the value's mark. */
  private open(k: AttrKey): void {
    const w = this.w;
    let key = k.encoded[this.slot];
    if (key === undefined) {
      const kw = new ProtoWriter(k.name.length * 3 + 8);
      kw.byte(KV_KEY);
      kw.string(k.name);
      kw.byte(KV_VALUE);
      key = kw.finish();
      k.encoded[this.slot] = key;
    }
    w.byte(0x4a);
    this.kv = w.begin();
    w.raw(key);
    this.any = w.begin();
  }

  private close(): void {
    this.w.end(this.any);
    this.w.end(this.kv);
  }

  str(k: AttrKey, v: string): void {
    if (this.hit(k, v)) return;
    this.open(k);
    this.w.byte(ANY_STRING);
    this.w.string(v);
    this.close();
    this.remember(k, v);
  }

  int(k: AttrKey, v: number): void {
    if (this.hit(k, v)) return;
    this.open(k);
    // As the object path would: a non-integer number is a double.
    if (Number.isInteger(v)) {
      this.w.byte(ANY_INT);
      this.w.int64(v);
    } else {
      this.w.byte(ANY_DOUBLE);
      this.w.double(v);
    }
    this.close();
    this.remember(k, v);
  }

  bool(k: AttrKey, v: boolean): void {
    this.entry();
    this.open(k);
    this.w.byte(ANY_BOOL);
    this.w.byte(v ? 1 : 0);
    this.close();
  }

  list1(k: AttrKey, v: string): void {
    if (this.hit(k, v)) return;
    this.openList(k);
    this.item(v);
    this.endList();
    this.remember(k, v);
  }

  beginList(k: AttrKey): void {
    this.entry();
    this.openList(k);
  }

  private openList(k: AttrKey): void {
    this.open(k);
    this.w.byte(ANY_ARRAY);
    this.list = this.w.begin();
  }

  item(v: string): void {
    const w = this.w;
    w.byte(LIST_VALUES);
    const m = w.begin();
    w.byte(ANY_STRING);
    w.string(v);
    w.end(m);
  }

  endList(): void {
    this.w.end(this.list);
    this.close();
  }
}

const sharedSink = new ProtoSpanAttributeSink();
/** The (one, reused) sink writing span attributes into `w`. */
function protoSink(w: ProtoWriter): ProtoSpanAttributeSink {
  sharedSink.w = w;
  return sharedSink;
}
