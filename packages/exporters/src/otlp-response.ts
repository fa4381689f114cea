/**
 * What an OTLP/HTTP collector answers, decoded just enough for delivery: the `partial_success`
 * of an `ExportTraceServiceResponse`, and the `message` of a `google.rpc.Status` error body. A
 * tiny protobuf reader (varints and length-delimited fields only) that never throws: garbage
 * decodes as "nothing said".
 */

/** What a 2xx answer says about rejected spans. */
export interface PartialSuccess {
  /** Spans the collector rejected (0 when it says nothing, or says it unreadably). */
  readonly rejectedSpans: number;
  /** Its explanation, when it gives one. */
  readonly message?: string;
}

/** One field of a protobuf message: a varint value or the bytes of a length-delimited one. */
type Field =
  | { readonly no: number; readonly wire: 0; readonly value: number }
  | { readonly no: number; readonly wire: 2; readonly bytes: Uint8Array };

/** A varint at `pos`: [value, next position], or undefined when cut short or over 10 bytes. */
function readVarint(buf: Uint8Array, pos: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) return undefined;
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale; // multiplication, not shifts: int64 values past 2^31 stay right
    if ((b & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
  return undefined;
}

/** The fields of a message in order, or undefined if the bytes are not a well-formed message. */
function readFields(buf: Uint8Array): Field[] | undefined {
  const fields: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    if (!tag) return undefined;
    pos = tag[1];
    const no = Math.floor(tag[0] / 8);
    const wire = tag[0] % 8;
    if (no === 0) return undefined;
    if (wire === 0) {
      const v = readVarint(buf, pos);
      if (!v) return undefined;
      fields.push({ no, wire, value: v[0] });
      pos = v[1];
    } else if (wire === 2) {
      const len = readVarint(buf, pos);
      if (!len || len[1] + len[0] > buf.length) return undefined;
      fields.push({ no, wire, bytes: buf.subarray(len[1], len[1] + len[0]) });
      pos = len[1] + len[0];
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4; // fixed64 / fixed32: skipped
      if (pos > buf.length) return undefined;
    } else {
      return undefined; // groups (3, 4) and reserved types: not in these messages
    }
  }
  return fields;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** A count as delivery uses it: a non-negative safe integer, else 0. */
function count(n: unknown): number {
  const v = typeof n === 'string' && /^\s*\d+\s*$/.test(n) ? Number(n) : n;
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : 0;
}

// Control characters, newlines included: a collector message becomes one log line.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]+/g;

/** One line, at most `max` characters. */
export function oneLine(text: string, max = 200): string {
  return text.replace(CONTROL, ' ').trim().slice(0, max);
}

/** `partial_success` from a protobuf `ExportTraceServiceResponse`. */
export function partialSuccessFromProto(body: Uint8Array): PartialSuccess {
  const top = readFields(body);
  const ps = top?.find((f) => f.no === 1 && f.wire === 2);
  if (!ps || ps.wire !== 2) return { rejectedSpans: 0 };
  const inner = readFields(ps.bytes);
  if (!inner) return { rejectedSpans: 0 };
  let rejectedSpans = 0;
  let message: string | undefined;
  for (const f of inner) {
    if (f.no === 1 && f.wire === 0) rejectedSpans = count(f.value);
    else if (f.no === 2 && f.wire === 2) message = oneLine(utf8.decode(f.bytes));
  }
  return message ? { rejectedSpans, message } : { rejectedSpans };
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(body)) as unknown;
  } catch {
    return undefined;
  }
}

function member(obj: unknown, ...names: string[]): unknown {
  if (typeof obj !== 'object' || obj === null) return undefined;
  for (const n of names) if (n in obj) return (obj as Record<string, unknown>)[n];
  return undefined;
}

/** `partialSuccess` from a JSON `ExportTraceServiceResponse` (rejectedSpans a string or number). */
export function partialSuccessFromJson(body: Uint8Array): PartialSuccess {
  const ps = member(parseJson(body), 'partialSuccess', 'partial_success');
  const rejectedSpans = count(member(ps, 'rejectedSpans', 'rejected_spans'));
  const msg = member(ps, 'errorMessage', 'error_message');
  return typeof msg === 'string' && msg
    ? { rejectedSpans, message: oneLine(msg) }
    : { rejectedSpans };
}

/** How a response body is encoded, from its content-type (or the request's, when it has none). */
export type BodyFormat = 'protobuf' | 'json' | 'text';

/**
 * The collector's explanation in an error body: a `google.rpc.Status` (protobuf field 2, or
 * JSON `message`), else the body's first 200 characters as text. Undefined for an empty body.
 */
export function errorMessageFromBody(body: Uint8Array, format: BodyFormat): string | undefined {
  if (body.length === 0) return undefined;
  if (format === 'json') {
    const m = member(parseJson(body), 'message');
    if (typeof m === 'string' && m.trim()) return oneLine(m);
  } else if (format === 'protobuf') {
    const fields = readFields(body);
    const m = fields?.find((f) => f.no === 2 && f.wire === 2);
    if (m && m.wire === 2) {
      const text = oneLine(utf8.decode(m.bytes));
      if (text) return text;
    }
  }
  return oneLine(utf8.decode(body.subarray(0, 800))) || undefined;
}
