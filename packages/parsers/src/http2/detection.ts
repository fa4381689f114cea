/**
 * Recognising HTTP/2 on a connection: the client preface (prior knowledge, RFC 9113 §3.3), a
 * server's first SETTINGS frame waiting for it, and, on a connection joined mid-stream, an event
 * that is a whole run of frames (HTTP/2 stacks write whole frames).
 */
import type { DetectInput, Detection } from '../protocol.js';
import { SEARCH_CARRY_BYTES } from '../shared/carried-search.js';
import { requestDirection } from '../shared/directions.js';
import { CLIENT_PREFACE, frameLength, frameRun } from './frame-layout.js';
import { Http2FrameParser } from './frames.js';
import { HpackDecoder } from './hpack.js';

/** Does `bytes` start with the client connection preface (`more`: a prefix of it so far)? */
export function detectPreface(bytes: Uint8Array): 'yes' | 'no' | 'more' {
  const n = Math.min(bytes.length, CLIENT_PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== CLIENT_PREFACE[i]) return 'no';
  return n === CLIENT_PREFACE.length ? 'yes' : 'more';
}

/**
 * Does `bytes` start like the SETTINGS frame a server sends first (stream 0, no flags, a multiple
 * of 6 bytes)? Lets a server's first bytes wait for the client's preface instead of failing
 * HTTP/1 detection.
 */
export function looksLikeServerSettings(bytes: Uint8Array): 'yes' | 'no' | 'more' {
  if (bytes.length >= 9) {
    const length = frameLength(bytes, 0);
    const stream = bytes[5]! | bytes[6]! | bytes[7]! | bytes[8]!;
    return bytes[3] === 4 && bytes[4] === 0 && stream === 0 && length % 6 === 0 ? 'yes' : 'no';
  }
  if (bytes.length > 3 && bytes[3] !== 4) return 'no';
  return 'more';
}

/** Frame payloads above this are not believed (max SETTINGS_MAX_FRAME_SIZE is 2^24 − 1). */
const PLAUSIBLE_FRAME_BYTES = 1 << 20;

/**
 * Frame-shape check for a connection joined mid-stream: `bytes` (one event: HTTP/2 stacks write
 * whole frames) is a run of one or more well-formed frame headers whose lengths end exactly at
 * its end. Type, flags, sizes, stream-0 rules and the reserved bit are checked; random bytes
 * pass rarely.
 */
export function looksLikeFrames(bytes: Uint8Array): boolean {
  const run = frameRun(bytes, 0, PLAUSIBLE_FRAME_BYTES);
  return run.frames > 0 && run.end === bytes.length;
}

/**
 * Which messages a run of frames (see {@link looksLikeFrames}) carries, for a connection whose
 * role is unknown: PUSH_PROMISE comes from servers; a header block naming `:status` is a
 * response's, one naming another pseudo-header a request's. The blocks are decoded by a
 * throwaway lenient decoder: pseudo-headers come from the static table or literal names, so this
 * works joined mid-stream. Undefined when the frames don't tell (DATA, WINDOW_UPDATE, fields
 * only from the dynamic table).
 */
export function messagesInFrames(bytes: Uint8Array): 'requests' | 'responses' | undefined {
  let carries: 'requests' | 'responses' | undefined;
  const decoder = new HpackDecoder({ lenient: true });
  const parser = new Http2FrameParser({
    expectPreface: false,
    maxFrameSize: PLAUSIBLE_FRAME_BYTES,
    onFrame: (f) => {
      if (carries || f.type !== 'headers') return;
      if (f.promisedStreamId !== undefined) {
        carries = 'responses';
        return;
      }
      const r = decoder.decode(f.block);
      const pseudo = r.status === 'ok' ? r.headers.find(([k]) => k.startsWith(':')) : undefined;
      if (pseudo) carries = pseudo[0] === ':status' ? 'responses' : 'requests';
    },
  });
  parser.feed(bytes);
  return carries;
}

const NO: Detection = { verdict: 'no' };
const MORE: Detection = { verdict: 'more' };

/**
 * A connection joined mid-stream: an event that is a whole run of HTTP/2 frames makes it HTTP/2
 * (parsed from this event on; bytes held before it are dropped, they would misalign it). A role
 * still unknown comes from the frames (which way requests or responses go); until they tell, the
 * connection is not claimed.
 */
export function joinHttp2(input: DetectInput): Detection {
  const { direction, bytes, data } = input;
  if (!looksLikeFrames(data)) return NO;
  let role = input.role;
  if (role === 'unknown') {
    const carries = messagesInFrames(data);
    if (!carries) return NO;
    role = (carries === 'requests') === (direction === 'recv') ? 'server' : 'client';
  }
  return { verdict: 'yes', role, at: bytes.length - data.length, other: 'drop' };
}

/**
 * HTTP/2 detection on a connection's first bytes: the client preface in the request direction
 * (either, when the role is unknown) starts HTTP/2 from the connection's start; a prefix of it,
 * or a server's first SETTINGS frame waiting for the client's preface, is `more`. Joined
 * mid-stream, a whole run of frames is tried first ({@link joinHttp2}).
 */
export function detectHttp2(input: DetectInput): Detection {
  const { direction, bytes, role } = input;
  if (input.midStream) {
    const joined = joinHttp2(input);
    if (joined.verdict === 'yes') return joined;
  }
  if (role === 'unknown' || direction === requestDirection(role)) {
    const v = detectPreface(bytes);
    if (v === 'more') return MORE;
    if (v === 'no') return NO;
    const found = direction === 'send' ? 'client' : 'server';
    return { verdict: 'yes', role: found, at: 0, other: 'feed', fromStart: true };
  }
  if (bytes.length <= SEARCH_CARRY_BYTES && looksLikeServerSettings(bytes) !== 'no') return MORE;
  return NO;
}
