/**
 * Recognising HTTP/1 by its start lines: detection on a stream's first bytes, and the search for
 * the next request or status line when a stream was joined mid-message or lost bytes.
 */
import type { Direction, Role } from '@traceable-ebpf/core';

/** A message start at offset 0 (detection: the rest of the line may not have arrived yet). */
const REQUEST_HEAD = /^(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) [!-~]/;
const RESPONSE_HEAD = /^HTTP\/1\.[01] [1-5]\d\d/;
/** A whole request or status line anywhere (resynchronisation: after a gap the next message can
 * follow the end of a body directly, so no line start is required; the full line keeps false
 * matches rare). */
const REQUEST_LINE =
  /(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) [!-~]+ HTTP\/1\.[01]\r?\n/;
const RESPONSE_LINE = /HTTP\/1\.[01] [1-5]\d\d[ \r]/;

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];

/** Bytes after which {@link detect} always decides. */
export const DETECT_BYTES = 16;

const latin1 = (data: Uint8Array) =>
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');

/** Where the next whole request (or status) line starts in `data`, or -1. */
export function findMessageStart(type: 'request' | 'response', data: Uint8Array): number {
  const m = (type === 'request' ? REQUEST_LINE : RESPONSE_LINE).exec(latin1(data));
  return m ? m.index : -1;
}

/** Does `data` start like an HTTP/1 request or response? */
export function looksLike(type: 'request' | 'response', data: Uint8Array): boolean {
  return (type === 'request' ? REQUEST_HEAD : RESPONSE_HEAD).test(latin1(data.subarray(0, 16)));
}

/**
 * Protocol detection on a stream's first bytes: `yes` when they start an HTTP/1 request (or
 * response), `no` when they can't, `more` when they are a too-short prefix of one.
 */
export function detect(type: 'request' | 'response', data: Uint8Array): 'yes' | 'no' | 'more' {
  if (looksLike(type, data)) return 'yes';
  if (data.length >= DETECT_BYTES) return 'no';
  const text = latin1(data);
  const prefix =
    type === 'request'
      ? METHODS.some((m) => `${m} `.startsWith(text) || text === `${m} `)
      : /^(H(T(T(P(\/(1(\.([01]( (\d\d?)?)?)?)?)?)?)?)?)?)?$/.test(text);
  return prefix ? 'more' : 'no';
}

/**
 * Where the first HTTP/1 message starts in `bytes` seen in `direction` of a connection whose role
 * is unknown, and the role that implies (a process receiving requests is a server).
 */
export function locateStart(
  direction: Direction,
  bytes: Uint8Array,
): { readonly at: number; readonly role: Exclude<Role, 'unknown'> } | undefined {
  const recv = direction === 'recv';
  if (looksLike('request', bytes)) return { at: 0, role: recv ? 'server' : 'client' };
  if (looksLike('response', bytes)) return { at: 0, role: recv ? 'client' : 'server' };
  const rq = findMessageStart('request', bytes);
  const rs = findMessageStart('response', bytes);
  if (rq >= 0 && (rs < 0 || rq <= rs)) return { at: rq, role: recv ? 'server' : 'client' };
  if (rs >= 0) return { at: rs, role: recv ? 'client' : 'server' };
  return undefined;
}
