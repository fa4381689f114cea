/**
 * What the frame parser delivers, and the reading of whole frames' payloads (header blocks with
 * their CONTINUATIONs, RST_STREAM, SETTINGS, GOAWAY). A DATA payload is streamed by the frame
 * parser instead and never comes here.
 */
import { FrameFlag, FrameType, readU31, readU32 } from './frame-layout.js';

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
   * CONTINUATIONs, padding and priority fields removed. Like a DATA piece's bytes, a block in
   * one frame is a view of the bytes fed, valid as long as they are (copy it to keep it).
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

/** A header block waiting for its CONTINUATION frames. */
export interface PendingHeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly promised: number | undefined;
  readonly parts: Uint8Array[];
  bytes: number;
}

/** What {@link readWholeFrame} reads into and delivers to: one per frame parser. */
export interface WholeFrameReader {
  /** A header block waiting for CONTINUATION frames. */
  pending: PendingHeaderBlock | undefined;
  /** Largest header block assembled from CONTINUATIONs. */
  readonly maxHeaderBlockBytes: number;
  /** Each frame, in order. */
  readonly onFrame: (frame: Http2Frame) => void;
}

/** Handles one whole frame (any type but DATA); returns a problem, if any. */
export function readWholeFrame(
  reader: WholeFrameReader,
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array,
): string | undefined {
  const emit = reader.onFrame;
  if (reader.pending && type !== FrameType.CONTINUATION) return 'header block interrupted';
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
        // A view, like a DATA piece's bytes: decoded during the call, never kept.
        emit(
          promised === undefined
            ? { type: 'headers', streamId, block: fragment, endStream }
            : { type: 'headers', streamId, block: fragment, endStream, promisedStreamId: promised },
        );
      } else {
        reader.pending = {
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
      const p = reader.pending;
      if (!p || p.streamId !== streamId) return 'CONTINUATION without its header block';
      p.parts.push(payload.slice());
      p.bytes += payload.length;
      if (p.bytes > reader.maxHeaderBlockBytes) return 'header block too large';
      if (flags & FrameFlag.END_HEADERS) {
        reader.pending = undefined;
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
      emit({ type: 'settings', settings: parseSettings(payload) });
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

/** SETTINGS identifier/value pairs from a payload (6 bytes each; a trailing remainder is ignored). */
export function parseSettings(payload: Uint8Array | undefined): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (!payload) return out;
  for (let i = 0; i + 6 <= payload.length; i += 6)
    out.push([(payload[i]! << 8) | payload[i + 1]!, readU32(payload, i + 2)]);
  return out;
}

/** The payload without its padding (PADDED flag), or undefined when the padding doesn't fit. */
export function unpad(flags: number, payload: Uint8Array): Uint8Array | undefined {
  if (!(flags & FrameFlag.PADDED)) return payload;
  if (payload.length < 1) return undefined;
  const pad = payload[0]!;
  if (pad >= payload.length) return undefined;
  return payload.subarray(1, payload.length - pad);
}
