/**
 * Generator of raw HTTP/2 frame streams for the frame parser alone: every frame type with valid
 * layouts (padding, priority fields, CONTINUATIONs, PUSH_PROMISE, SETTINGS and ACKs, GOAWAY with
 * debug data, unknown types), and the frames the parser must deliver for them.
 */
import {
  F,
  PREFACE,
  T,
  dataFrames,
  frame,
  headerFrames,
  settingsPayload,
  u32s,
} from './h2-frames.js';
import type { Segment } from './input.js';
import type { Rng } from './rng.js';

/** A frame as the parser reports it (DATA pieces joined; see `normaliseFrames`). */
export type ExpectedFrame =
  | { type: 'data'; streamId: number; data: string; endStream: boolean }
  | {
      type: 'headers';
      streamId: number;
      block: string;
      endStream: boolean;
      promisedStreamId?: number;
    }
  | { type: 'rst-stream'; streamId: number; errorCode: number }
  | { type: 'settings'; settings: Array<[number, number]> }
  | { type: 'goaway'; lastStreamId: number; errorCode: number }
  | { type: 'other'; frameType: number; streamId: number };

/** Frames in wire order and what the parser must deliver. */
export interface GeneratedFrames {
  readonly segments: Segment[];
  readonly frames: ExpectedFrame[];
  readonly params: { preface: number };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** One random frame stream of one direction. */
export function generateFrames(rng: Rng): GeneratedFrames {
  const preface = rng.chance(0.5) ? 1 : 0;
  const segments: Segment[] = preface ? [{ dir: 'none', bytes: PREFACE }] : [];
  const frames: ExpectedFrame[] = [];
  const n = rng.range(1, 20);
  const stream = () => 2 * rng.int(50) + 1;
  for (let i = 0; i < n; i++) {
    const kind = rng.int(11);
    let bytes: Uint8Array;
    switch (kind) {
      case 0:
      case 1: {
        const id = stream();
        const data = rng.bytes(rng.chance(0.1) ? rng.range(0, 40_000) : rng.small(500));
        const end = rng.chance(0.5);
        bytes = Buffer.concat(dataFrames(rng, id, data, end));
        frames.push({ type: 'data', streamId: id, data: hex(data), endStream: end });
        break;
      }
      case 2:
      case 3: {
        const id = stream();
        const block = rng.bytes(rng.chance(0.1) ? rng.range(0, 30_000) : rng.small(300));
        const end = rng.chance(0.5);
        const promised = kind === 3 && rng.chance(0.4) ? 2 * rng.range(1, 50) : undefined;
        bytes = headerFrames(rng, id, block, end, 16384, promised);
        frames.push({
          type: 'headers',
          streamId: id,
          block: hex(block),
          endStream: promised === undefined && end,
          ...(promised !== undefined ? { promisedStreamId: promised } : {}),
        });
        break;
      }
      case 4: {
        const id = stream();
        const code = rng.pick([0, 1, 2, 8, 0xffffffff]);
        bytes = frame(T.RST_STREAM, 0, id, u32s(code));
        frames.push({ type: 'rst-stream', streamId: id, errorCode: code });
        break;
      }
      case 5: {
        if (rng.chance(0.3)) {
          bytes = frame(T.SETTINGS, F.ACK, 0, new Uint8Array(0));
          frames.push({ type: 'other', frameType: T.SETTINGS, streamId: 0 });
          break;
        }
        const pairs: Array<[number, number]> = [];
        const count = rng.small(6);
        for (let k = 0; k < count; k++)
          pairs.push([rng.range(1, 9), rng.pick([0, 1, 100, 4096, 65535, 16384, 0x7fffffff])]);
        bytes = frame(T.SETTINGS, 0, 0, settingsPayload(pairs));
        frames.push({ type: 'settings', settings: pairs });
        break;
      }
      case 6:
        bytes = frame(T.PING, rng.chance(0.5) ? F.ACK : 0, 0, rng.bytes(8));
        frames.push({ type: 'other', frameType: T.PING, streamId: 0 });
        break;
      case 7: {
        const last = rng.int(1000);
        const code = rng.int(14);
        bytes = frame(T.GOAWAY, 0, 0, Buffer.concat([u32s(last, code), rng.bytes(rng.small(64))]));
        frames.push({ type: 'goaway', lastStreamId: last, errorCode: code });
        break;
      }
      case 8: {
        const id = rng.chance(0.5) ? 0 : stream();
        bytes = frame(T.WINDOW_UPDATE, 0, id, u32s(rng.range(1, 0x7fffffff)));
        frames.push({ type: 'other', frameType: T.WINDOW_UPDATE, streamId: id });
        break;
      }
      case 9: {
        const id = stream();
        bytes = frame(T.PRIORITY, 0, id, Buffer.concat([u32s(0), Buffer.from([16])]));
        frames.push({ type: 'other', frameType: T.PRIORITY, streamId: id });
        break;
      }
      default: {
        const type = 0x0a + rng.int(0xf6);
        const id = rng.int(20);
        bytes = frame(type, rng.int(256), id, rng.bytes(rng.small(100)));
        frames.push({ type: 'other', frameType: type, streamId: id });
      }
    }
    segments.push({ dir: 'none', bytes });
  }
  return { segments, frames, params: { preface } };
}
