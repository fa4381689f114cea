/**
 * Searching a stream for a message start across events: the tail of what was searched is carried
 * into the next search, so a start that straddles two events is still found. One rule for every
 * protocol and every place that searches (a parser out of sync, a connection joined mid-stream).
 */

/** Bytes carried from one search to the next (a start line or frame header fits in it). */
export const SEARCH_CARRY_BYTES = 4096;

/**
 * Bytes of a connection joined mid-stream searched for a message start of any protocol before it
 * is given up as one no parser understands.
 */
export const MID_STREAM_SEARCH_BYTES = 1024 * 1024;

const EMPTY = new Uint8Array(0);

/** `data` with the carried tail of the previous search in front of it. */
export function withCarry(carry: Uint8Array, data: Uint8Array): Uint8Array {
  return carry.length ? Buffer.concat([carry, data]) : data;
}

/**
 * What a search that found nothing in `bytes` carries to the next one (a copy: the event's buffer
 * is not kept), and how many bytes it passes over for good.
 */
export function carryTail(bytes: Uint8Array): {
  readonly carry: Uint8Array;
  readonly skipped: number;
} {
  const keep = Math.min(bytes.length, SEARCH_CARRY_BYTES);
  return { carry: keep ? bytes.slice(bytes.length - keep) : EMPTY, skipped: bytes.length - keep };
}
