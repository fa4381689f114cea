/**
 * OTLP/JSON (the protobuf JSON mapping with OTLP's exceptions) written straight from a
 * {@link ReadableSpan} as text: lowerCamelCase field names, trace and span ids as hex (not
 * base64), 64-bit integers (times, `intValue`) as decimal strings, enums as integers, bytes as
 * base64. Values map as the official transformer maps them.
 */
import type { Attributes, Link } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { InstrumentationScope } from '@opentelemetry/core';
import { spanFlags } from './otlp-proto-span.js';

const NS_PER_S = 1_000_000_000;

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

/** `{"key":"…","value":` per attribute key, each made once (bounded). */
export class JsonKeyCache {
  private readonly map = new Map<string, string>();
  constructor(private readonly maxKeys = 8192) {}
  /** The text before an attribute's value. */
  get(key: string): string {
    let s = this.map.get(key);
    if (s === undefined) {
      s = `{"key":${JSON.stringify(key)},"value":`;
      if (this.map.size >= this.maxKeys) this.map.clear();
      this.map.set(key, s);
    }
    return s;
  }
}

/** A number as JSON: finite as is, the others as the protobuf JSON mapping's strings. */
function jsonDouble(v: number): string {
  if (Number.isFinite(v)) return String(v);
  return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
}

/** One `AnyValue` as JSON. */
function anyValue(v: unknown, keys: JsonKeyCache): string {
  switch (typeof v) {
    case 'string':
      return `{"stringValue":${JSON.stringify(v)}}`;
    case 'number':
      return Number.isInteger(v) ? `{"intValue":"${v}"}` : `{"doubleValue":${jsonDouble(v)}}`;
    case 'boolean':
      return v ? '{"boolValue":true}' : '{"boolValue":false}';
    case 'object': {
      if (v === null) return '{}';
      if (v instanceof Uint8Array)
        return `{"bytesValue":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"}`;
      if (Array.isArray(v)) {
        if (v.length === 1 && typeof v[0] === 'string')
          return `{"arrayValue":{"values":[{"stringValue":${JSON.stringify(v[0])}}]}}`;
        let out = '{"arrayValue":{"values":[';
        for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + anyValue(v[i], keys);
        return `${out}]}}`;
      }
      const obj = v as Record<string, unknown>;
      let out = '{"kvlistValue":{"values":[';
      let first = true;
      for (const k of Object.keys(obj)) {
        out += `${first ? '' : ','}${keys.get(k)}${anyValue(obj[k], keys)}}`;
        first = false;
      }
      return `${out}]}}`;
    }
    default:
      return '{}';
  }
}

/** `[KeyValue, …]` of an attribute set. */
export function jsonAttributes(attrs: Attributes, keys: JsonKeyCache): string {
  let out = '[';
  let first = true;
  for (const key in attrs) {
    out += `${first ? '' : ','}${keys.get(key)}${anyValue(attrs[key], keys)}}`;
    first = false;
  }
  return `${out}]`;
}

function jsonEvent(e: TimedEvent, keys: JsonKeyCache): string {
  return `{"timeUnixNano":"${hrTimeString(e.time[0], e.time[1])}","name":${JSON.stringify(e.name)},"attributes":${jsonAttributes(e.attributes ?? {}, keys)},"droppedAttributesCount":${e.droppedAttributesCount ?? 0}}`;
}

function jsonLink(l: Link, keys: JsonKeyCache): string {
  const state = l.context.traceState?.serialize();
  return `{"traceId":"${l.context.traceId}","spanId":"${l.context.spanId}"${state ? `,"traceState":${JSON.stringify(state)}` : ''},"attributes":${jsonAttributes(l.attributes ?? {}, keys)},"droppedAttributesCount":${l.droppedAttributesCount ?? 0},"flags":${spanFlags(l.context.traceFlags, l.context.isRemote)}}`;
}

/** One `Span` as JSON. */
export function jsonSpan(span: ReadableSpan, keys: JsonKeyCache): string {
  const ctx = span.spanContext();
  const parent = span.parentSpanContext;
  const state = ctx.traceState?.serialize();
  let out = `{"traceId":"${ctx.traceId}","spanId":"${ctx.spanId}"`;
  if (state) out += `,"traceState":${JSON.stringify(state)}`;
  if (parent?.spanId) out += `,"parentSpanId":"${parent.spanId}"`;
  out += `,"flags":${spanFlags(ctx.traceFlags, parent?.isRemote)},"name":${JSON.stringify(span.name)},"kind":${span.kind + 1},"startTimeUnixNano":"${hrTimeString(span.startTime[0], span.startTime[1])}","endTimeUnixNano":"${hrTimeString(span.endTime[0], span.endTime[1])}","attributes":${jsonAttributes(span.attributes, keys)}`;
  if (span.droppedAttributesCount)
    out += `,"droppedAttributesCount":${span.droppedAttributesCount}`;
  if (span.events.length > 0) {
    out += ',"events":[';
    for (let i = 0; i < span.events.length; i++)
      out += (i ? ',' : '') + jsonEvent(span.events[i]!, keys);
    out += ']';
  }
  if (span.droppedEventsCount) out += `,"droppedEventsCount":${span.droppedEventsCount}`;
  if (span.links.length > 0) {
    out += ',"links":[';
    for (let i = 0; i < span.links.length; i++)
      out += (i ? ',' : '') + jsonLink(span.links[i]!, keys);
    out += ']';
  }
  if (span.droppedLinksCount) out += `,"droppedLinksCount":${span.droppedLinksCount}`;
  const { code, message } = span.status;
  out += `,"status":{${message ? `"message":${JSON.stringify(message)}${code ? ',' : ''}` : ''}${code ? `"code":${code}` : ''}}}`;
  return out;
}

/** A `Resource` as JSON. */
export function jsonResource(resource: Resource, keys: JsonKeyCache): string {
  return `{"attributes":${jsonAttributes(resource.attributes, keys)},"droppedAttributesCount":0}`;
}

/** An `InstrumentationScope` as JSON. */
export function jsonScope(scope: InstrumentationScope): string {
  return `{"name":${JSON.stringify(scope.name)}${scope.version ? `,"version":${JSON.stringify(scope.version)}` : ''}}`;
}
