/**
 * Splits one direction of an HTTP/2 connection into frames (RFC 9113 §4): frames split across
 * events and several frames in one event, the client connection preface, padding, the PRIORITY
 * fields of HEADERS, and header blocks reassembled from HEADERS or PUSH_PROMISE plus their
 * CONTINUATION frames. Returns a status for every feed instead of throwing.
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
const FRAME_HEADER_BYTES = 9;

/** What the frame parser delivers. */
export type Http2Frame =
  /**
   * DATA: the payload without padding, delivered as it arrives (a frame may come in several
   * pieces; END_STREAM on the last), so a large frame is never held.
   */
  | {
      readonly type: 'data';
      readonly streamId: number;
      readonly data: Uint8Array;
      readonly endStream: boolean;
      /** Payload bytes lost to a gap just before `data`; see {@link Http2FrameParser.skip}. */
      readonly lost?: number;
    }
  /**
   * A complete header block: HEADERS (or PUSH_PROMISE, with the promised stream) and its
   * CONTINUATIONs, padding and priority fields removed.
   */
  | {
      readonly type: 'headers';
      readonly streamId: number;
      readonly block: Uint8Array;
      readonly endStream: boolean;
      readonly promisedStreamId?: number;
    }
  | { readonly type: 'rst-stream'; readonly streamId: number; readonly errorCode: number }
  /** SETTINGS (not ACKs): identifier/value pairs in order. */
  | { readonly type: 'settings'; readonly settings: ReadonlyArray<readonly [number, number]> }
  | { readonly type: 'goaway'; readonly lastStreamId: number; readonly errorCode: number }
  /** PING, PRIORITY, WINDOW_UPDATE, SETTINGS ACK and unknown types: seen, nothing to act on. */
  | { readonly type: 'other'; readonly frameType: number; readonly streamId: number };

/** The outcome of {@link Http2FrameParser.feed}. */
export type FrameFeedStatus =
  /** `skipped`: bytes passed over looking for a frame boundary after a gap. */
  | { readonly status: 'need-more'; readonly skipped?: number }
  /** Not HTTP/2 framing (or a rule broken): the rest of the direction can't be parsed. */
  | { readonly status: 'invalid'; readonly reason: string };

/** Options of {@link Http2FrameParser}. */
export interface Http2FrameParserOptions {
  /**
   * The direction starts with the client connection preface (client to server, from the start).
   * `optional` (a connection joined near its start): a first byte of `P` means the preface
   * (no frame that size is plausible), anything else a frame.
   */
  readonly expectPreface: boolean | 'optional';
  /** Each frame, in order. */
  readonly onFrame: (frame: Http2Frame) => void;
  /** Largest frame payload accepted before SETTINGS raise it. Default 16384 (the RFC's). */
  readonly maxFrameSize?: number;
  /** Largest header block assembled from CONTINUATIONs. Default 256 KiB. */
  readonly maxHeaderBlockBytes?: number;
}

const NEED_MORE: FrameFeedStatus = { status: 'need-more' };
/** Bytes searched for a frame boundary after a gap before giving up on the direction. */
const RESYNC_SEARCH_BYTES = 1024 * 1024;
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

/** A frame whose payload is passed on as it arrives (DATA) or passed over (unknown types). */
interface Streamed {
  readonly streamId: number;
  readonly isData: boolean;
  readonly endStream: boolean;
  /** The pad length (-1: padded, its byte not read yet; 0 when not padded). */
  padLength: number;
  /** Payload bytes still to come, padding included. */
  left: number;
  /** Data bytes still to come (known once the pad length is). */
  dataLeft: number;
  /** A piece of it was delivered; END_STREAM was. */
  delivered: boolean;
  endSent: boolean;
}

const EMPTY = new Uint8Array(0);

/** Frame parser of one direction of one connection. */
export class Http2FrameParser {
  /**
   * Bytes of an incomplete frame header or control frame, as they came (joined once there are
   * enough: no copy per event), and how many the next step needs.
   */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private heldNeed = 0;
  private prefaceLeft: number;
  private prefaceOptional: boolean;
  private maxFrameSize: number;
  private readonly maxHeaderBlockBytes: number;
  /** A header block waiting for CONTINUATION frames. */
  private pending:
    | {
        streamId: number;
        endStream: boolean;
        promised?: number;
        parts: Uint8Array[];
        bytes: number;
      }
    | undefined;
  private failed: string | undefined;
  /** The DATA (or unknown-type) frame whose payload is being read, if any. */
  private streamed: Streamed | undefined;
  /** After a gap that could not be absorbed: looking for the next frame boundary. */
  private resyncing = false;
  /** Bytes passed over since the gap while resyncing. */
  private searched = 0;
  /** The highest stream id seen in a frame of this direction. */
  private highestStreamId = 0;

  constructor(private readonly options: Http2FrameParserOptions) {
    this.prefaceLeft = options.expectPreface ? CLIENT_PREFACE.length : 0;
    this.prefaceOptional = options.expectPreface === 'optional';
    this.maxFrameSize = options.maxFrameSize ?? 16384;
    this.maxHeaderBlockBytes = options.maxHeaderBlockBytes ?? 256 * 1024;
  }

  /**
   * The largest frame the peer may send now (its reader's SETTINGS_MAX_FRAME_SIZE, from the
   * other direction's SETTINGS frames).
   */
  setMaxFrameSize(n: number): void {
    this.maxFrameSize = n;
  }

  /** Bytes held for a frame not complete yet. */
  get buffered(): number {
    return this.heldBytes + (this.pending?.bytes ?? 0);
  }

  /**
   * The direction is inside something: part of the client preface, a frame header, a control
   * frame or a header block held, or a DATA (unknown-type) payload still owed bytes. A
   * direction that ends so ended inside a message.
   */
  get midFrame(): boolean {
    return (
      this.heldBytes > 0 ||
      this.pending !== undefined ||
      this.streamed !== undefined ||
      (this.prefaceLeft > 0 && this.prefaceLeft < CLIENT_PREFACE.length)
    );
  }

  /**
   * `n` bytes of the direction were lost. Inside the payload of the DATA (or unknown-type) frame
   * being read they are `absorbed`: the frame goes on, a DATA piece with `lost: n` says where.
   * Anywhere else frame boundaries are gone: what is buffered is dropped and the parser
   * `resync`s, looking for the next frame start in the bytes that follow (`skipped`).
   */
  skip(n: number): 'absorbed' | 'resync' {
    const st = this.streamed;
    if (!this.failed && st && n <= st.left && st.padLength >= 0) {
      const lost = Math.min(n, st.dataLeft);
      st.dataLeft -= lost;
      st.left -= n;
      if (lost > 0) this.dataPiece(st, EMPTY, lost);
      if (st.left === 0) this.endStreamed(st);
      return 'absorbed';
    }
    if (this.failed) return 'resync';
    this.drop();
    this.pending = undefined;
    this.streamed = undefined;
    this.prefaceLeft = 0;
    this.prefaceOptional = false;
    this.resyncing = true;
    this.searched = 0;
    return 'resync';
  }

  /** Feeds the next bytes of the direction. */
  feed(data: Uint8Array): FrameFeedStatus {
    if (this.failed) return { status: 'invalid', reason: this.failed };
    let bytes = data;
    if (this.heldBytes > 0) {
      if (this.heldBytes + data.length < this.heldNeed) {
        // Still short of what the frame needs: kept (a copy: the caller's bytes may be reused).
        this.held.push(data.slice());
        this.heldBytes += data.length;
        return NEED_MORE;
      }
      this.held.push(data);
      bytes = Buffer.concat(this.held, this.heldBytes + data.length);
      this.drop();
    }
    let skipped = 0;
    if (this.resyncing) {
      // Streams opened since the gap have higher ids, but not by much.
      const at = findFrameBoundary(bytes, this.maxFrameSize, this.highestStreamId + 0x20000);
      if (at < 0) {
        this.searched += bytes.length;
        if (this.searched > RESYNC_SEARCH_BYTES) return this.fail('no frame boundary after a gap');
        return { status: 'need-more', skipped: bytes.length };
      }
      this.resyncing = false;
      skipped = at;
      bytes = bytes.subarray(at);
    }
    if (this.prefaceOptional && bytes.length > 0) {
      if (bytes[0] !== CLIENT_PREFACE[0]) this.prefaceLeft = 0;
      this.prefaceOptional = false;
    }
    if (this.prefaceLeft > 0) {
      const at = CLIENT_PREFACE.length - this.prefaceLeft;
      const n = Math.min(this.prefaceLeft, bytes.length);
      for (let i = 0; i < n; i++)
        if (bytes[i] !== CLIENT_PREFACE[at + i]) return this.fail('no client connection preface');
      this.prefaceLeft -= n;
      bytes = bytes.subarray(n);
    }
    let pos = 0;
    for (;;) {
      const st = this.streamed;
      if (st) {
        // Inside a DATA (or unknown-type) payload: delivered as it comes, never buffered.
        const r = this.consumeStreamed(st, bytes, pos);
        if (typeof r === 'string') return this.fail(r);
        pos = r;
        if (this.streamed) break; // the payload goes on in the next bytes
        continue;
      }
      if (bytes.length - pos < FRAME_HEADER_BYTES) break;
      const length = frameLength(bytes, pos);
      if (length > this.maxFrameSize) return this.fail(`frame of ${length} bytes over the limit`);
      const type = bytes[pos + 3]!;
      const flags = bytes[pos + 4]!;
      const streamId = readU31(bytes, pos + 5);
      // What the header declares must be possible before anything waits for its payload.
      const layout = frameLayoutProblem(type, flags, length, streamId);
      if (layout) return this.fail(layout);
      if (streamId > this.highestStreamId) this.highestStreamId = streamId;
      if (type === FrameType.DATA || type > FrameType.CONTINUATION) {
        if (this.pending) return this.fail('header block interrupted');
        pos += FRAME_HEADER_BYTES;
        const padded = type === FrameType.DATA && (flags & FrameFlag.PADDED) !== 0;
        this.streamed = {
          streamId,
          isData: type === FrameType.DATA,
          endStream: type === FrameType.DATA && (flags & FrameFlag.END_STREAM) !== 0,
          padLength: padded ? -1 : 0,
          left: length,
          dataLeft: padded ? 0 : length,
          delivered: false,
          endSent: false,
        };
        if (type !== FrameType.DATA)
          this.options.onFrame({ type: 'other', frameType: type, streamId });
        continue;
      }
      // Other frames are whole before they are read: small by nature, header blocks capped.
      if (length > this.maxHeaderBlockBytes) return this.fail('frame too large to hold');
      if (bytes.length - pos < FRAME_HEADER_BYTES + length) break;
      const payload = bytes.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
      pos += FRAME_HEADER_BYTES + length;
      const problem = this.frame(type, flags, streamId, payload);
      if (problem) return this.fail(problem);
    }
    // Keep an incomplete frame header or control frame (a copy: the caller's bytes may be reused).
    if (pos < bytes.length) {
      const rest = bytes.slice(pos);
      this.held = [rest];
      this.heldBytes = rest.length;
      this.heldNeed =
        rest.length < FRAME_HEADER_BYTES
          ? FRAME_HEADER_BYTES
          : FRAME_HEADER_BYTES + frameLength(rest, 0);
    }
    return skipped ? { status: 'need-more', skipped } : NEED_MORE;
  }

  /** Forgets the held bytes. */
  private drop(): void {
    this.held = [];
    this.heldBytes = 0;
    this.heldNeed = 0;
  }

  /**
   * Reads what `bytes` holds from `pos` of the streamed frame `st`: DATA pieces delivered, the
   * pad length byte and padding passed over. Returns where it stopped, or a problem.
   */
  private consumeStreamed(st: Streamed, bytes: Uint8Array, pos: number): number | string {
    while (pos < bytes.length && st.left > 0) {
      if (st.padLength < 0) {
        st.padLength = bytes[pos++]!;
        st.left--;
        if (st.padLength > st.left) return 'bad padding';
        st.dataLeft = st.left - st.padLength;
        continue;
      }
      if (st.dataLeft > 0) {
        const n = Math.min(st.dataLeft, bytes.length - pos);
        st.dataLeft -= n;
        st.left -= n;
        this.dataPiece(st, bytes.subarray(pos, pos + n), 0);
        pos += n;
        continue;
      }
      const n = Math.min(st.left, bytes.length - pos); // padding
      st.left -= n;
      pos += n;
    }
    if (st.left === 0 && st.padLength >= 0) this.endStreamed(st);
    return pos;
  }

  /** A piece of a DATA payload (`lost`: bytes of it a gap took); the last carries END_STREAM. */
  private dataPiece(st: Streamed, data: Uint8Array, lost: number): void {
    if (!st.isData) return;
    const endStream = st.endStream && st.left === 0;
    st.delivered = true;
    st.endSent ||= endStream;
    this.options.onFrame({
      type: 'data',
      streamId: st.streamId,
      data,
      endStream,
      ...(lost ? { lost } : {}),
    });
  }

  /** The streamed frame is done: an empty frame, or END_STREAM after padding, is delivered now. */
  private endStreamed(st: Streamed): void {
    this.streamed = undefined;
    if (st.isData && (!st.delivered || (st.endStream && !st.endSent)))
      this.options.onFrame({
        type: 'data',
        streamId: st.streamId,
        data: EMPTY,
        endStream: st.endStream,
      });
  }

  private fail(reason: string): FrameFeedStatus {
    this.failed = reason;
    this.drop();
    this.pending = undefined;
    this.streamed = undefined;
    return { status: 'invalid', reason };
  }

  /** Handles one whole frame; returns a problem, if any. */
  private frame(
    type: number,
    flags: number,
    streamId: number,
    payload: Uint8Array,
  ): string | undefined {
    const emit = this.options.onFrame;
    if (this.pending && type !== FrameType.CONTINUATION) return 'header block interrupted';
    switch (type) {
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE: {
        let fragment = unpad(flags, payload);
        if (!fragment) return 'bad padding';
        let promised: number | undefined;
        if (type === FrameType.HEADERS && flags & FrameFlag.PRIORITY) {
          if (fragment.length < 5) return 'short PRIORITY fields';
          fragment = fragment.subarray(5);
        }
        if (type === FrameType.PUSH_PROMISE) {
          if (fragment.length < 4) return 'short PUSH_PROMISE';
          promised = readU31(fragment, 0);
          fragment = fragment.subarray(4);
        }
        // END_STREAM belongs to HEADERS only (§6.2).
        const endStream = type === FrameType.HEADERS && (flags & FrameFlag.END_STREAM) !== 0;
        if (flags & FrameFlag.END_HEADERS) {
          emit({
            type: 'headers',
            streamId,
            block: fragment.slice(),
            endStream,
            ...(promised !== undefined ? { promisedStreamId: promised } : {}),
          });
        } else {
          this.pending = {
            streamId,
            endStream,
            promised,
            parts: [fragment.slice()],
            bytes: fragment.length,
          };
        }
        return undefined;
      }
      case FrameType.CONTINUATION: {
        const p = this.pending;
        if (!p || p.streamId !== streamId) return 'CONTINUATION without its header block';
        p.parts.push(payload.slice());
        p.bytes += payload.length;
        if (p.bytes > this.maxHeaderBlockBytes) return 'header block too large';
        if (flags & FrameFlag.END_HEADERS) {
          this.pending = undefined;
          emit({
            type: 'headers',
            streamId,
            block: Buffer.concat(p.parts),
            endStream: p.endStream,
            ...(p.promised !== undefined ? { promisedStreamId: p.promised } : {}),
          });
        }
        return undefined;
      }
      case FrameType.RST_STREAM:
        if (payload.length !== 4) return 'RST_STREAM size';
        emit({ type: 'rst-stream', streamId, errorCode: readU32(payload, 0) });
        return undefined;
      case FrameType.SETTINGS: {
        if (payload.length % 6 !== 0) return 'SETTINGS size';
        if (flags & FrameFlag.ACK) {
          emit({ type: 'other', frameType: type, streamId });
          return undefined;
        }
        const settings: Array<[number, number]> = [];
        for (let i = 0; i < payload.length; i += 6)
          settings.push([(payload[i]! << 8) | payload[i + 1]!, readU32(payload, i + 2)]);
        emit({ type: 'settings', settings });
        return undefined;
      }
      case FrameType.GOAWAY:
        if (payload.length < 8) return 'GOAWAY size';
        emit({ type: 'goaway', lastStreamId: readU31(payload, 0), errorCode: readU32(payload, 4) });
        return undefined;
      default:
        // PING, PRIORITY, WINDOW_UPDATE (types this version doesn't know are streamed past).
        emit({ type: 'other', frameType: type, streamId });
        return undefined;
    }
  }
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

function readU31(b: Uint8Array, at: number): number {
  return readU32(b, at) & 0x7fffffff;
}

/** The payload without its padding (PADDED flag), or undefined when the padding doesn't fit. */
function unpad(flags: number, payload: Uint8Array): Uint8Array | undefined {
  if (!(flags & FrameFlag.PADDED)) return payload;
  if (payload.length < 1) return undefined;
  const pad = payload[0]!;
  if (pad >= payload.length) return undefined;
  return payload.subarray(1, payload.length - pad);
}
