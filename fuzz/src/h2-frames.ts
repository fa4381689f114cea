/**
 * HTTP/2 frame serialisation for the generators (RFC 9113 §4.1, §6): headers, padding and the
 * HEADERS priority fields, header blocks split over CONTINUATIONs.
 */
import type { Rng } from './rng.js';

/** Frame type numbers. */
export const T = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** Flag bits. */
export const F = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8, PRIORITY: 0x20 } as const;

/** The client connection preface. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One frame's bytes. */
export function frame(type: number, flags: number, stream: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream >>> 0, 5);
  out.set(payload, 9);
  return out;
}

/** `[pad length] content [padding]` for a PADDED frame. */
export function padded(content: Uint8Array, pad: number): Buffer {
  return Buffer.concat([Buffer.from([pad]), content, Buffer.alloc(pad)]);
}

/** 32-bit big-endian integers. */
export function u32s(...values: number[]): Buffer {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => out.writeUInt32BE(v >>> 0, 4 * i));
  return out;
}

/** A SETTINGS payload of identifier/value pairs. */
export function settingsPayload(pairs: ReadonlyArray<readonly [number, number]>): Buffer {
  const out = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, v], i) => {
    out.writeUInt16BE(id, 6 * i);
    out.writeUInt32BE(v >>> 0, 6 * i + 2);
  });
  return out;
}

/**
 * HEADERS (or PUSH_PROMISE, with `promised`) carrying `block`, split into CONTINUATIONs at
 * random; sometimes padded, sometimes with priority fields. `fragmentMax` bounds each payload.
 */
export function headerFrames(
  rng: Rng,
  stream: number,
  block: Uint8Array,
  endStream: boolean,
  fragmentMax = 16384,
  promised?: number,
): Buffer {
  const pieces: Uint8Array[] = [];
  let at = 0;
  const split = rng.chance(0.2) && block.length > 1;
  do {
    const room = fragmentMax - 300;
    const n = split ? rng.range(1, Math.max(1, Math.min(room, block.length - at))) : room;
    pieces.push(block.subarray(at, at + n));
    at += n;
  } while (at < block.length);
  const out: Buffer[] = [];
  pieces.forEach((piece, i) => {
    const lastPiece = i === pieces.length - 1;
    const endHeaders = lastPiece ? F.END_HEADERS : 0;
    if (i > 0) {
      out.push(frame(T.CONTINUATION, endHeaders, stream, piece));
      return;
    }
    let flags = endHeaders | (endStream && promised === undefined ? F.END_STREAM : 0);
    let content: Buffer = Buffer.from(piece);
    if (promised !== undefined) content = Buffer.concat([u32s(promised), content]);
    else if (rng.chance(0.15)) {
      flags |= F.PRIORITY;
      content = Buffer.concat([
        u32s(rng.chance(0.5) ? 0 : rng.range(1, 99) * 2 + 1),
        Buffer.from([rng.int(256)]),
        content,
      ]);
    }
    if (rng.chance(0.15)) {
      flags |= F.PADDED;
      content = padded(content, rng.small(200));
    }
    out.push(frame(promised !== undefined ? T.PUSH_PROMISE : T.HEADERS, flags, stream, content));
  });
  return Buffer.concat(out);
}

/** DATA frames carrying `data` in random sizes up to `maxFrame`, some padded; END_STREAM last. */
export function dataFrames(
  rng: Rng,
  stream: number,
  data: Uint8Array,
  endStream: boolean,
  maxFrame = 16384,
): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  do {
    const pad = rng.chance(0.15) ? rng.small(255) : -1;
    const room = maxFrame - (pad >= 0 ? pad + 1 : 0);
    const n = Math.min(data.length - at, rng.chance(0.5) ? room : rng.range(0, room));
    const piece = data.subarray(at, at + n);
    at += n;
    const last = at >= data.length;
    const flags = (last && endStream ? F.END_STREAM : 0) | (pad >= 0 ? F.PADDED : 0);
    out.push(frame(T.DATA, flags, stream, pad >= 0 ? padded(piece, pad) : piece));
  } while (at < data.length);
  return out;
}
