/**
 * OTLP/JSON (the protobuf JSON mapping with OTLP's exceptions) written straight from a
 * {@link ReadableSpan} into a {@link JsonWriter}: lowerCamelCase field names, trace and span ids
 * as hex (not base64), 64-bit integers (times, `intValue`) as decimal strings, enums as
 * integers, bytes as base64. Values map as the official transformer maps them.
 */
import type { Attributes, Link } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { ExchangeSpan } from './exchange-span.js';
import type { InstrumentationScope } from '@opentelemetry/core';
import { spanFlags } from './otlp-proto-span.js';
import { JsonWriter } from './otlp-json-writer.js';
import { PooledSpanContext } from './span-ids.js';
import {
  EntrySink,
  attributeSourceOf,
  type AttrKey,
  type AttributeSink,
} from './span-attributes.js';

const NS_PER_S = 1_000_000_000;

/**
 * An integer-valued number as an int64 decimal string: exact, saturated at int64's range (as
 * the protobuf encoding is), never in exponent form (`String(1e21)` is `1e+21`).
 */
export function int64String(v: number): string {
  if (Math.abs(v) < 2 ** 53) return String(v);
  const clamped = v < 0 ? Math.max(v, -(2 ** 63)) : Math.min(v, 2 ** 63 - 1024);
  return BigInt(clamped).toString();
}

/** Unix nanoseconds of `[s, ns]` as a decimal string, exactly (s·10⁹ + ns past 2⁵³). */
export function hrTimeString(s: number, ns: number): string {
  s = Math.trunc(s);
  ns = Math.trunc(ns);
  if (ns >= NS_PER_S || ns < 0) {
    const carry = Math.floor(ns / NS_PER_S);
    s += carry;
    ns -= carry * NS_PER_S;
  }
  if (s <= 0) return String(s * NS_PER_S + ns);
  const frac = String(ns);
  return `${s}${'000000000'.slice(frac.length)}${frac}`;
}

/** `{"key":"…","value":` per attribute key as UTF-8, each made once (bounded). */
export class JsonKeyCache {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly maxKeys = 8192) {}
  /** The bytes before an attribute's value. */
  get(key: string): Buffer {
    let b = this.map.get(key);
    if (b === undefined) {
      b = Buffer.from(`{"key":${JSON.stringify(key)},"value":`, 'utf8');
      if (this.map.size >= this.maxKeys) this.map.clear();
      this.map.set(key, b);
    }
    return b;
  }
}

/** One `AnyValue`. */
function anyValue(w: JsonWriter, v: unknown, keys: JsonKeyCache): void {
  switch (typeof v) {
    case 'string':
      w.ascii('{"stringValue":');
      w.str(v);
      w.byte(0x7d);
      return;
    case 'number':
      if (Number.isInteger(v)) {
        w.ascii('{"intValue":"');
        w.ascii(int64String(v));
        w.ascii('"}');
      } else {
        w.ascii('{"doubleValue":');
        w.double(v);
        w.byte(0x7d);
      }
      return;
    case 'boolean':
      w.ascii(v ? '{"boolValue":true}' : '{"boolValue":false}');
      return;
    case 'object': {
      if (v === null) break;
      if (v instanceof Uint8Array) {
        w.ascii('{"bytesValue":"');
        w.ascii(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'));
        w.ascii('"}');
        return;
      }
      if (Array.isArray(v)) {
        w.ascii('{"arrayValue":{"values":[');
        for (let i = 0; i < v.length; i++) {
          if (i) w.byte(0x2c);
          anyValue(w, v[i], keys);
        }
        w.ascii(']}}');
        return;
      }
      w.ascii('{"kvlistValue":{"values":[');
      const obj = v as Record<string, unknown>;
      const names = Object.keys(obj);
      for (let i = 0; i < names.length; i++) {
        if (i) w.byte(0x2c);
        keyValue(w, names[i]!, obj[names[i]!], keys);
      }
      w.ascii(']}}');
      return;
    }
    default:
  }
  // undefined, null, functions: an empty AnyValue, as the official transformer sends.
  w.ascii('{}');
}

function keyValue(w: JsonWriter, key: string, value: unknown, keys: JsonKeyCache): void {
  w.raw(keys.get(key));
  anyValue(w, value, keys);
  w.byte(0x7d);
}

/** `[KeyValue, …]` of an attribute set. */
export function jsonAttributes(w: JsonWriter, attrs: Attributes, keys: JsonKeyCache): void {
  w.byte(0x5b);
  const names = Object.keys(attrs);
  for (let i = 0; i < names.length; i++) {
    if (i) w.byte(0x2c);
    keyValue(w, names[i]!, attrs[names[i]!], keys);
  }
  w.byte(0x5d);
}

function jsonEvent(w: JsonWriter, e: TimedEvent, keys: JsonKeyCache): void {
  w.ascii('{"timeUnixNano":"');
  w.ascii(hrTimeString(e.time[0], e.time[1]));
  w.ascii('","name":');
  w.str(e.name);
  w.ascii(',"attributes":');
  jsonAttributes(w, e.attributes ?? {}, keys);
  w.ascii(`,"droppedAttributesCount":${e.droppedAttributesCount ?? 0}}`);
}

function jsonLink(w: JsonWriter, l: Link, keys: JsonKeyCache): void {
  w.ascii('{"traceId":');
  w.str(l.context.traceId);
  w.ascii(',"spanId":');
  w.str(l.context.spanId);
  const state = l.context.traceState?.serialize();
  if (state) {
    w.ascii(',"traceState":');
    w.str(state);
  }
  w.ascii(',"attributes":');
  jsonAttributes(w, l.attributes ?? {}, keys);
  w.ascii(
    `,"droppedAttributesCount":${l.droppedAttributesCount ?? 0},"flags":${spanFlags(l.context.traceFlags, l.context.isRemote)}}`,
  );
}

/** One `Span`. */
export function jsonSpan(w: JsonWriter, span: ReadableSpan, keys: JsonKeyCache): void {
  const ctx = span.spanContext();
  const parent = span.parentSpanContext;
  w.ascii('{"traceId":');
  if (ctx instanceof PooledSpanContext && ctx.traceAt >= 0) w.hex(ctx.ids, ctx.traceAt, 16);
  else w.str(ctx.traceId);
  w.ascii(',"spanId":');
  if (ctx instanceof PooledSpanContext) w.hex(ctx.ids, ctx.spanAt, 8);
  else w.str(ctx.spanId);
  const state = ctx.traceState?.serialize();
  if (state) {
    w.ascii(',"traceState":');
    w.str(state);
  }
  if (parent?.spanId) {
    w.ascii(',"parentSpanId":');
    w.str(parent.spanId);
  }
  w.ascii(`,"flags":${spanFlags(ctx.traceFlags, parent?.isRemote)},"name":`);
  w.str(span.name);
  w.ascii(`,"kind":${span.kind + 1},"startTimeUnixNano":"`);
  const own = span instanceof ExchangeSpan ? span : undefined;
  w.ascii(
    own
      ? hrTimeString(own.startSeconds, own.startNanos)
      : hrTimeString(span.startTime[0], span.startTime[1]),
  );
  w.ascii('","endTimeUnixNano":"');
  w.ascii(
    own
      ? hrTimeString(own.endSeconds, own.endNanos)
      : hrTimeString(span.endTime[0], span.endTime[1]),
  );
  w.ascii('","attributes":');
  // Straight from the exchange when the span can say its attributes, else from its object.
  const source = attributeSourceOf(span);
  if (source) {
    const sink = jsonSink(w);
    // Every entry starts with a comma: the first becomes the list's opening bracket.
    const open = w.pos;
    source.emitAttributes(sink);
    sink.flush();
    if (w.pos === open) w.byte(0x5b);
    else w.buf[open] = 0x5b;
    w.byte(0x5d);
  } else jsonAttributes(w, span.attributes, keys);
  if (span.droppedAttributesCount)
    w.ascii(`,"droppedAttributesCount":${span.droppedAttributesCount}`);
  if (span.events.length > 0) {
    w.ascii(',"events":[');
    for (let i = 0; i < span.events.length; i++) {
      if (i) w.byte(0x2c);
      jsonEvent(w, span.events[i]!, keys);
    }
    w.byte(0x5d);
  }
  if (span.droppedEventsCount) w.ascii(`,"droppedEventsCount":${span.droppedEventsCount}`);
  if (span.links.length > 0) {
    w.ascii(',"links":[');
    for (let i = 0; i < span.links.length; i++) {
      if (i) w.byte(0x2c);
      jsonLink(w, span.links[i]!, keys);
    }
    w.byte(0x5d);
  }
  if (span.droppedLinksCount) w.ascii(`,"droppedLinksCount":${span.droppedLinksCount}`);
  const { code, message } = span.status;
  w.ascii(',"status":{');
  if (message) {
    w.ascii('"message":');
    w.str(message);
    if (code) w.byte(0x2c);
  }
  if (code) w.ascii(`"code":${code}`);
  w.ascii('}}');
}

/** A `Resource`'s JSON as bytes. */
export function jsonResource(resource: Resource, keys: JsonKeyCache): Buffer {
  const w = new JsonWriter(1024);
  w.ascii('{"attributes":');
  jsonAttributes(w, resource.attributes, keys);
  w.ascii(',"droppedAttributesCount":0}');
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** An `InstrumentationScope`'s JSON as bytes. */
export function jsonScope(scope: InstrumentationScope): Buffer {
  const w = new JsonWriter(256);
  w.ascii('{"name":');
  w.str(scope.name);
  if (scope.version) {
    w.ascii(',"version":');
    w.str(scope.version);
  }
  w.byte(0x7d);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/**
 * Writes a `[KeyValue, …]` list's entries as an {@link AttributeSink} is told them; an entry
 * whose value is the key's last one is copied from the key's memo.
 */
class JsonAttributeSink extends EntrySink<JsonWriter> implements AttributeSink {
  private items = 0;

  constructor() {
    super(new JsonWriter(16), 1);
  }

  /**
   * A comma before every entry, the first one's included: the list's writer turns the first
   * into the opening bracket. So an entry's bytes are the same wherever it stands, and
   * remembered entries (and blocks) are copied as they are.
   */
  protected separate(): void {
    this.w.byte(0x2c);
  }

  /** The key's `{"key":…,"value":` (made once per AttrKey). */
  private key(k: AttrKey): void {
    let key = k.encoded[this.slot];
    if (key === undefined) {
      key = Buffer.from(`{"key":${JSON.stringify(k.name)},"value":`, 'utf8');
      k.encoded[this.slot] = key;
    }
    this.w.raw(key);
  }

  str(k: AttrKey, v: string): void {
    if (this.hit(k, v)) return;
    this.key(k);
    this.w.ascii('{"stringValue":');
    this.w.str(v);
    this.w.ascii('}}');
    this.remember(k, v);
  }

  int(k: AttrKey, v: number): void {
    if (this.hit(k, v)) return;
    this.key(k);
    const w = this.w;
    // As the object path would: a non-integer number is a double.
    if (Number.isInteger(v)) {
      w.ascii('{"intValue":"');
      w.ascii(int64String(v));
      w.ascii('"}}');
    } else {
      w.ascii('{"doubleValue":');
      w.double(v);
      w.ascii('}}');
    }
    this.remember(k, v);
  }

  bool(k: AttrKey, v: boolean): void {
    this.entry();
    this.key(k);
    this.w.ascii(v ? '{"boolValue":true}}' : '{"boolValue":false}}');
  }

  list1(k: AttrKey, v: string): void {
    if (this.hit(k, v)) return;
    this.key(k);
    this.w.ascii('{"arrayValue":{"values":[{"stringValue":');
    this.w.str(v);
    this.w.ascii('}]}}}');
    this.remember(k, v);
  }

  beginList(k: AttrKey): void {
    this.entry();
    this.key(k);
    this.w.ascii('{"arrayValue":{"values":[');
    this.items = 0;
  }

  item(v: string): void {
    if (this.items++) this.w.byte(0x2c);
    this.w.ascii('{"stringValue":');
    this.w.str(v);
    this.w.byte(0x7d);
  }

  endList(): void {
    this.w.ascii(']}}}');
  }
}

const sharedJsonSink = new JsonAttributeSink();
/** The (one, reused) sink writing a span's attributes into `w`. */
function jsonSink(w: JsonWriter): JsonAttributeSink {
  sharedJsonSink.w = w;
  return sharedJsonSink;
}
