/**
 * The HTTP/2 frame layout (RFC 9113 §4, §6): types, flags, the client preface, the per-type size
 * and stream rules, and checks that find frame boundaries in bytes of unknown alignment (a
 * connection joined mid-stream, or one that lost bytes).
 */

/** Frame types (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags used here. */
export const FrameFlag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** SETTINGS identifiers used here. */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  MAX_FRAME_SIZE: 0x5,
} as const;

/** The client connection preface (RFC 9113 §3.4). */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Bytes of a frame header (length, type, flags, stream id). */
export const FRAME_HEADER_BYTES = 9;

/** Positions of one event tried as a frame boundary (the first is the likeliest). */
const RESYNC_POSITIONS = 16 * 1024;

/**
 * Per frame type (RFC 9113 §6): the flags it defines, whether it lives on stream 0 (`true`),
 * never does (`false`) or either (`undefined`), and its payload size rule.
 */
const FRAME_RULES: ReadonlyArray<{
  readonly flags: number;
  readonly stream0: boolean | undefined;
  readonly size: (length: number, flags: number) => boolean;
}> = [
  // DATA: END_STREAM, PADDED (the pad length byte must fit)
  { flags: 0x09, stream0: false, size: (n, f) => !(f & 0x08) || n >= 1 },
  // HEADERS: END_STREAM, END_HEADERS, PADDED, PRIORITY
  { flags: 0x2d, stream0: false, size: (n, f) => n >= (f & 0x08 ? 1 : 0) + (f & 0x20 ? 5 : 0) },
  { flags: 0, stream0: false, size: (n) => n === 5 }, // PRIORITY
  { flags: 0, stream0: false, size: (n) => n === 4 }, // RST_STREAM
  { flags: 0x01, stream0: true, size: (n, f) => (f & 1 ? n === 0 : n % 6 === 0) }, // SETTINGS
  { flags: 0x0c, stream0: false, size: (n, f) => n >= (f & 0x08 ? 5 : 4) }, // PUSH_PROMISE
  { flags: 0x01, stream0: true, size: (n) => n === 8 }, // PING
  { flags: 0, stream0: true, size: (n) => n >= 8 }, // GOAWAY
  { flags: 0, stream0: undefined, size: (n) => n === 4 }, // WINDOW_UPDATE
  { flags: 0x04, stream0: false, size: () => true }, // CONTINUATION
];

/** The payload length the frame header at `pos` declares (24 bits). */
export function frameLength(bytes: Uint8Array, pos: number): number {
  return (bytes[pos]! << 16) | (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
}

/** Whether a frame of `rule`'s type may be on `streamId` (stream 0, another, or either). */
function onItsStream(rule: (typeof FRAME_RULES)[number], streamId: number): boolean {
  return rule.stream0 === undefined || rule.stream0 === (streamId === 0);
}

/** Frame type names, by type. */
const FRAME_NAMES = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

/**
 * Could a frame header start at `pos`? A known type with only its own flags, on the right kind
 * of stream (below `maxStreamId`), a payload within `maxLength` that fits the type's size rule,
 * the reserved bit clear. Real stacks always pass; random bytes rarely do. Returns the payload
 * length, or -1.
 */
export function plausibleFrameHeader(
  bytes: Uint8Array,
  pos: number,
  maxLength: number,
  maxStreamId = 0x7fffffff,
): number {
  const length = frameLength(bytes, pos);
  const rule = FRAME_RULES[bytes[pos + 3]!];
  const flags = bytes[pos + 4]!;
  if (!rule || length > maxLength || flags & ~rule.flags || bytes[pos + 5]! & 0x80) return -1;
  const stream = readU31(bytes, pos + 5);
  if (stream > maxStreamId) return -1;
  if (!onItsStream(rule, stream)) return -1;
  return rule.size(length, flags) ? length : -1;
}

/**
 * Why a frame of a known type can't be what its header declares (RFC 9113 §6: a payload size
 * its type doesn't allow, a padded frame too short for its pad length, a stream it can't be
 * on), or undefined. Flags a type doesn't define are ignored, as the RFC says; unknown types
 * are passed over whatever their header says.
 */
export function frameLayoutProblem(
  type: number,
  flags: number,
  length: number,
  streamId: number,
): string | undefined {
  const rule = FRAME_RULES[type];
  if (!rule) return undefined;
  const name = FRAME_NAMES[type]!;
  if (!rule.size(length, flags & rule.flags)) {
    return type === FrameType.DATA || type === FrameType.HEADERS
      ? `${name} of ${length} bytes too short for its padding or priority fields`
      : `${name} size ${length}`;
  }
  if (!onItsStream(rule, streamId)) return `${name} on stream ${streamId}`;
  return undefined;
}

/**
 * The run of plausible frame headers from `start` in `bytes`: how many whole frames it holds and
 * where it ends (`-1`: in a frame that goes on past `bytes`; else where the next header would
 * start, or the first implausible one).
 */
export function frameRun(
  bytes: Uint8Array,
  start: number,
  maxLength: number,
  maxStreamId = 0x7fffffff,
): { readonly frames: number; readonly end: number } {
  let pos = start;
  let frames = 0;
  while (pos + FRAME_HEADER_BYTES <= bytes.length) {
    const length = plausibleFrameHeader(bytes, pos, maxLength, maxStreamId);
    if (length < 0) break;
    if (pos + FRAME_HEADER_BYTES + length > bytes.length) return { frames, end: -1 };
    pos += FRAME_HEADER_BYTES + length;
    frames++;
  }
  return { frames, end: pos };
}

/**
 * Where frames start again in `bytes` after lost ones: the first position from which a run of
 * plausible frame headers ends exactly at the end of `bytes`, or holds two whole frames and a
 * started one. -1 when none is found. Linear in `bytes`: a run from `p` is one frame plus the
 * run after it, so each position's run is worked out once and reused by every start reaching it.
 */
export function findFrameBoundary(
  bytes: Uint8Array,
  maxLength: number,
  maxStreamId: number,
  /** Counts the frame headers checked (how tests see the work done). */
  work?: { checks: number },
): number {
  const n = bytes.length;
  const last = Math.min(n - FRAME_HEADER_BYTES, RESYNC_POSITIONS);
  if (last < 0) return -1;
  // Per position, once known: the whole frames of its run (counted up to 2) and how the run
  // ends: 1 exactly at the end of `bytes`, 2 in a frame that goes on past it, 0 elsewhere.
  const known = new Uint8Array(n + 1);
  const frames = new Uint8Array(n + 1);
  const ends = new Uint8Array(n + 1);
  known[n] = 1;
  ends[n] = 1;
  const chain: number[] = [];
  for (let start = 0; start <= last; start++) {
    let p = start;
    while (!known[p]) {
      if (p + FRAME_HEADER_BYTES > n) {
        known[p] = 1; // a cut header: ends 0
        break;
      }
      if (work) work.checks++;
      const length = plausibleFrameHeader(bytes, p, maxLength, maxStreamId);
      if (length < 0) {
        known[p] = 1; // ends 0
        break;
      }
      const next = p + FRAME_HEADER_BYTES + length;
      if (next > n) {
        known[p] = 1;
        ends[p] = 2;
        break;
      }
      chain.push(p);
      p = next;
    }
    // Back along the frames walked: each one's run is it plus the run after it.
    for (let i = chain.length - 1; i >= 0; i--) {
      const q = chain[i]!;
      const next = i + 1 < chain.length ? chain[i + 1]! : p;
      frames[q] = Math.min(2, 1 + frames[next]!);
      ends[q] = ends[next]!;
      known[q] = 1;
    }
    chain.length = 0;
    if (frames[start]! > 0 && ends[start] === 1) return start;
    if (frames[start]! >= 2 && ends[start] === 2) return start;
  }
  return -1;
}

/** The big-endian 32-bit number at `at`. */
export function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

/** The 31-bit stream id at `at` (the reserved bit cleared). */
export function readU31(b: Uint8Array, at: number): number {
  return readU32(b, at) & 0x7fffffff;
}
