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
  /** DATA: the payload without padding. */
  | {
      readonly type: 'data';
      readonly streamId: number;
      readonly data: Uint8Array;
      readonly endStream: boolean;
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
  | { readonly status: 'need-more' }
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

/** Frame parser of one direction of one connection. */
export class Http2FrameParser {
  private buf: Uint8Array = new Uint8Array(0);
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
    return this.buf.length + (this.pending?.bytes ?? 0);
  }

  /** Feeds the next bytes of the direction. */
  feed(data: Uint8Array): FrameFeedStatus {
    if (this.failed) return { status: 'invalid', reason: this.failed };
    let bytes = this.buf.length ? concat(this.buf, data) : data;
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
    while (bytes.length - pos >= FRAME_HEADER_BYTES) {
      const length = (bytes[pos]! << 16) | (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
      if (length > this.maxFrameSize) return this.fail(`frame of ${length} bytes over the limit`);
      if (bytes.length - pos < FRAME_HEADER_BYTES + length) break;
      const type = bytes[pos + 3]!;
      const flags = bytes[pos + 4]!;
      const streamId =
        ((bytes[pos + 5]! & 0x7f) << 24) |
        (bytes[pos + 6]! << 16) |
        (bytes[pos + 7]! << 8) |
        bytes[pos + 8]!;
      const payload = bytes.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
      pos += FRAME_HEADER_BYTES + length;
      const problem = this.frame(type, flags, streamId, payload);
      if (problem) return this.fail(problem);
    }
    // Keep the incomplete frame (a copy: the caller's bytes may be reused).
    this.buf = pos < bytes.length ? bytes.slice(pos) : new Uint8Array(0);
    return NEED_MORE;
  }

  private fail(reason: string): FrameFeedStatus {
    this.failed = reason;
    this.buf = new Uint8Array(0);
    this.pending = undefined;
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
      case FrameType.DATA: {
        const body = unpad(flags, payload);
        if (!body) return 'bad padding';
        emit({
          type: 'data',
          streamId,
          data: body,
          endStream: (flags & FrameFlag.END_STREAM) !== 0,
        });
        return undefined;
      }
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
        // PING, PRIORITY, WINDOW_UPDATE, and types this version doesn't know (§4.1: ignored).
        emit({ type: 'other', frameType: type, streamId });
        return undefined;
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
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
