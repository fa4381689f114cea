/**
 * Splits one direction of an HTTP/2 connection into frames (RFC 9113 §4): frames split across
 * events and several frames in one event, the client connection preface, padding, the PRIORITY
 * fields of HEADERS, and header blocks reassembled from HEADERS or PUSH_PROMISE plus their
 * CONTINUATION frames. Returns a status for every feed instead of throwing.
 */
import {
  CLIENT_PREFACE,
  FRAME_HEADER_BYTES,
  FrameFlag,
  FrameType,
  findFrameBoundary,
  frameLayoutProblem,
  frameLength,
  readU31,
} from './frame-layout.js';
import { readWholeFrame, type Http2Frame, type WholeFrameReader } from './frame-payloads.js';

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
  /** Header blocks waiting for CONTINUATIONs, and where whole frames go. */
  private readonly whole: WholeFrameReader;
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
    this.whole = {
      pending: undefined,
      maxHeaderBlockBytes: options.maxHeaderBlockBytes ?? 256 * 1024,
      onFrame: options.onFrame,
    };
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
    return this.heldBytes + (this.whole.pending?.bytes ?? 0);
  }

  /**
   * The direction is inside something: part of the client preface, a frame header, a control
   * frame or a header block held, or a DATA (unknown-type) payload still owed bytes. A
   * direction that ends so ended inside a message.
   */
  get midFrame(): boolean {
    return (
      this.heldBytes > 0 ||
      this.whole.pending !== undefined ||
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
    this.whole.pending = undefined;
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
        if (this.whole.pending) return this.fail('header block interrupted');
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
      if (length > this.whole.maxHeaderBlockBytes) return this.fail('frame too large to hold');
      if (bytes.length - pos < FRAME_HEADER_BYTES + length) break;
      const payload = bytes.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
      pos += FRAME_HEADER_BYTES + length;
      const problem = readWholeFrame(this.whole, type, flags, streamId, payload);
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
    this.whole.pending = undefined;
    this.streamed = undefined;
    return { status: 'invalid', reason };
  }
}
