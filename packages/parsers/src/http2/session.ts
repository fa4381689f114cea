/**
 * The stream layer of one HTTP/2 connection: frames of both directions in, one exchange per
 * stream out (RFC 9113 §5, §8). Each direction has its own HPACK decoder, fed every header
 * block in order so the dynamic tables stay in step. Pseudo-headers become method, path,
 * authority and status; a second header block is the trailers; RST_STREAM ends a stream as
 * aborted; close flushes what is open. gRPC calls (content-type application/grpc…) get service,
 * method, grpc-status and message counts from the length-prefixed framing.
 */
import type {
  ApiExchange,
  ConnectionInfo,
  HeaderList,
  HttpRequest,
  Stats,
} from '@traceable-ebpf/core';
import { HpackDecoder } from './hpack.js';
import { Setting } from './frame-layout.js';
import type { Http2Frame } from './frame-payloads.js';
import type { BodyBudget } from '../shared/body-budget.js';
import { headerValue } from '../shared/headers.js';
import { countGrpcMessages, skipGrpcBytes } from './grpc.js';
import { parseStatus } from './fields.js';
import {
  NO_PARTS,
  badMethod,
  newHalf,
  streamExchange,
  type Half,
  type Stream,
  type StreamEnd,
} from './streams.js';

/** Which way a frame travelled: client to server, or server to client. */
export type Http2Side = 'request' | 'response';

/** Options of {@link Http2Session}. */
export interface Http2SessionOptions {
  /** The connection exchanges report. */
  readonly connection: () => ConnectionInfo;
  /** Joined mid-stream: HPACK is lenient (unknown entries become placeholders) and exchanges whose
   * start was not seen are flagged partial. Default false. */
  readonly midStream?: boolean;
  /** Body bytes kept per message (sizes are always counted). Default 64 KiB. */
  readonly maxBodyBytes?: number;
  /**
   * Bytes of names and values kept per header block; past it fields are decoded (the table
   * stays in step) but dropped, counted as `HeadersTruncated`. Default 64 KiB.
   */
  readonly maxHeaderBytes?: number;
  /** Streams tracked at once; past it the oldest is reported unanswered. Default 4096. */
  readonly maxStreams?: number;
  /** Counts `Http2StreamsEvicted`. */
  readonly stats?: Stats;
  /**
   * Body bytes held by open streams, shared with the other connections of the stage: past its
   * max, bytes are counted but not kept. Default: unbounded across connections (each stream
   * still keeps at most `maxBodyBytes` per direction).
   */
  readonly budget?: BodyBudget;
  readonly onExchange: (ex: ApiExchange) => void;
}

/** Ids of streams reported as timed out, kept so their late answers are dropped (counted). */
const TIMED_OUT_KEPT = 1024;

/** The stream layer of one HTTP/2 connection. */
export class Http2Session {
  private readonly decoders: Record<Http2Side, HpackDecoder>;
  private readonly streams = new Map<number, Stream>();
  private readonly timedOut = new Set<number>();
  private readonly maxBodyBytes: number;
  private readonly maxStreams: number;
  private readonly maxHeaderBytes: number;

  constructor(private readonly options: Http2SessionOptions) {
    const lenient = options.midStream ?? false;
    this.decoders = {
      request: new HpackDecoder({ lenient }),
      response: new HpackDecoder({ lenient }),
    };
    this.maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
    this.maxStreams = options.maxStreams ?? 4096;
    this.maxHeaderBytes = options.maxHeaderBytes ?? 64 * 1024;
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * One frame, travelling `side`, seen by the kernel at `tsNs`. Returns a problem when a header
   * block can't be decoded: the HPACK state is then lost and the connection can't be followed.
   */
  frame(side: Http2Side, f: Http2Frame, tsNs: number): string | undefined {
    switch (f.type) {
      case 'settings':
        // A side's SETTINGS_HEADER_TABLE_SIZE bounds the table the other side encodes with.
        for (const [id, value] of f.settings)
          if (id === Setting.HEADER_TABLE_SIZE)
            this.decoders[side === 'request' ? 'response' : 'request'].setMaxTableSize(value);
        return undefined;
      case 'headers':
        return this.headers(side, f.streamId, f.block, f.endStream, tsNs, f.promisedStreamId);
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s) {
          // A stream already reported (its response ended before the request did) or never
          // seen (joined mid-stream): the bytes belong to no exchange, counted as skipped.
          this.options.stats?.inc('TotalEventsDroppedAtParsing', f.data.length);
          return undefined;
        }
        const half = s[side];
        if (half.size === 0 && half.body.length === 0 && !half.headers) half.startNs = tsNs;
        if (half.gapBefore && !half.headers) this.cut(s, half); // its header block was lost
        if (f.lost) {
          // Bytes of this frame were lost just before `data`: the message is partial, its body
          // kept up to here.
          half.size += f.lost;
          half.bodyCut = true;
          s.partial = true;
          // Lost inside one gRPC message: the framing is still followed.
          if (!skipGrpcBytes(half.grpc, f.lost)) half.grpcLost = true;
        }
        this.body(half, f.data, side, tsNs);
        half.endNs = tsNs;
        if (f.endStream) this.end(s, side, tsNs);
        return undefined;
      }
      case 'rst-stream': {
        const s = this.streams.get(f.streamId);
        if (s) this.emit(s, tsNs, 'reset');
        return undefined;
      }
      case 'goaway':
        // The server will not process streams above lastStreamId: they end unanswered.
        if (side === 'response')
          for (const s of [...this.streams.values()])
            if (s.id > f.lastStreamId && s.id % 2 === 1 && !s.response.headers)
              this.emit(s, tsNs, 'goaway');
        return undefined;
      default:
        return undefined;
    }
  }

  /**
   * The connection was upgraded from HTTP/1 (`Upgrade: h2c`, RFC 7540 §3.2): `request`, sent in
   * HTTP/1.1, is stream 1's, and the response comes on stream 1 in HTTP/2.
   */
  upgraded(request: HttpRequest): void {
    const s = this.open(1, false);
    s.upgradedFrom = request;
    this.end(s, 'request', request.endNs);
  }

  /**
   * Bytes travelling `side` were lost where frames can't be told apart: header blocks may have
   * gone, so that side's HPACK table is forgotten (lenient from here). A stream whose message
   * in that direction had started and not ended is flagged partial (its body no longer
   * followed); one whose message had not started is flagged only if its header block never
   * shows.
   */
  lost(side: Http2Side): void {
    this.decoders[side].forget();
    for (const s of this.streams.values()) {
      const half = s[side];
      if (half.ended) continue; // nothing more of it travels this way
      // Not started: unharmed if its header block comes later (nothing of it came before).
      if (!half.headers) half.gapBefore = true;
      else this.cut(s, half);
    }
  }

  /** Bytes of `half` were lost: the stream is partial, its body and messages no longer followed. */
  private cut(s: Stream, half: Half): void {
    s.partial = true;
    half.bodyCut = true;
    half.grpcLost = true;
  }

  /** The connection ended: every open stream is reported as it stands. */
  close(tsNs: number): void {
    for (const s of [...this.streams.values()]) this.emit(s, tsNs, 'closed');
  }

  /**
   * Streams whose request ended `timeoutMs` or longer before `now` (ms, wall clock) with no
   * response yet are reported (`unanswered: 'timeout'`); a response coming later is dropped and
   * counted (`ResponsesAfterTimeout`). A request still being sent, or a response still
   * streaming, is not timed out.
   */
  expire(now: number, timeoutMs: number): void {
    for (const s of [...this.streams.values()]) {
      if (!s.requestEndedAt || now - s.requestEndedAt < timeoutMs || s.response.headers) continue;
      this.emit(s, 0, 'timeout');
      this.timedOut.add(s.id);
      if (this.timedOut.size > TIMED_OUT_KEPT)
        this.timedOut.delete(this.timedOut.values().next().value!);
    }
  }

  private headers(
    side: Http2Side,
    streamId: number,
    block: Uint8Array,
    endStream: boolean,
    tsNs: number,
    promised: number | undefined,
  ): string | undefined {
    const r = this.decoders[side].decode(block, this.maxHeaderBytes);
    if (r.status === 'invalid') return `HPACK: ${r.reason}`;
    if (r.truncated) this.options.stats?.inc('HeadersTruncated');
    if (promised !== undefined) {
      // A pushed request (its headers come from the server): the response arrives on `promised`.
      const s = this.open(promised, r.partial);
      this.fill(s.request, r.headers, tsNs);
      this.end(s, 'request', tsNs);
      return undefined;
    }
    let s = this.streams.get(streamId);
    if (!s && this.timedOut.delete(streamId)) {
      // The answer to a stream already reported as timed out (decoded above: HPACK in step).
      this.options.stats?.inc('ResponsesAfterTimeout');
      return undefined;
    }
    // A request-side block without :method on a stream not seen: the trailers of one whose
    // start was lost in a gap.
    if (!s && side === 'request' && !r.headers.some(([k]) => k === ':method')) {
      this.options.stats?.inc('TotalEventsDroppedAtParsing', block.length);
      return undefined;
    }
    if (!s) {
      // A response without its request: the connection was joined mid-stream.
      s = this.open(streamId, r.partial || side === 'response');
    } else if (r.partial) {
      s.partial = true;
    }
    const half = s[side];
    if (!half.headers && side === 'response') {
      const status = parseStatus(headerValue(r.headers, ':status'));
      if (status === undefined) {
        // Malformed (RFC 9113 §8.3.2: a response must carry a valid :status): no response.
        if (!s.responseInvalid) this.options.stats?.inc('ResParsingErrors');
        s.responseInvalid = true;
      } else if (status < 200 && !endStream) {
        return undefined; // interim (1xx)
      } else {
        s.status = status;
        this.fill(half, r.headers, tsNs);
      }
    } else if (!half.headers) {
      this.fill(half, r.headers, tsNs);
    } else {
      half.trailers = r.headers;
      half.endNs = tsNs;
    }
    if (endStream) this.end(s, side, tsNs);
    return undefined;
  }

  private open(id: number, partial: boolean): Stream {
    if (this.streams.size >= this.maxStreams) {
      const oldest = this.streams.values().next().value!;
      this.options.stats?.inc('Http2StreamsEvicted');
      this.emit(oldest, oldest.request.endNs, 'closed');
    }
    const s: Stream = { id, request: newHalf(), response: newHalf(), partial, requestEndedAt: 0 };
    this.streams.set(id, s);
    return s;
  }

  private fill(half: Half, headers: HeaderList, tsNs: number): void {
    const regular: Array<readonly [string, string]> = [];
    for (const field of headers) {
      const k = field[0];
      if (k.charCodeAt(0) !== 58 /* ':' */)
        regular.push(field); // the list's own (read-only) field
      else if (k === ':method') half.method = field[1];
      else if (k === ':path') half.path = field[1];
      else if (k === ':authority') half.authority = field[1];
    }
    half.headers = regular;
    half.startNs = tsNs;
    half.endNs = tsNs;
  }

  private body(half: Half, data: Uint8Array, side: Http2Side, tsNs: number): void {
    half.size += data.length;
    if (!half.grpcLost) countGrpcMessages(half.grpc, data, side, tsNs);
    const room = this.maxBodyBytes - half.kept;
    // Past a hole no more body is kept (a body with bytes missing inside would mislead).
    if (room > 0 && data.length > 0 && !half.bodyCut) {
      const kept = data.length <= room ? data : data.subarray(0, room);
      const budget = this.options.budget;
      // Once refused, a message keeps nothing more (no body with a hole in it).
      if (half.budgetHit || (budget && budget.held + kept.length > budget.max)) {
        if (!half.budgetHit) budget?.onDrop();
        half.budgetHit = true;
      } else {
        if (half.body === NO_PARTS) half.body = [];
        half.body.push(kept.slice());
        half.kept += kept.length;
        if (budget) budget.held += kept.length;
      }
    }
  }

  private end(s: Stream, side: Http2Side, tsNs: number): void {
    if (side === 'request' && !s.request.ended) s.requestEndedAt = Date.now();
    s[side].ended = true;
    s[side].endNs = tsNs;
    if (side === 'response') this.emit(s, tsNs, 'done');
  }

  /** Reports a stream and forgets it: complete (`done`), or why it ended without. */
  private emit(s: Stream, tsNs: number, end: StreamEnd): void {
    this.streams.delete(s.id);
    if (this.options.budget) this.options.budget.held -= s.request.kept + s.response.kept;
    if (!s.request.headers && !s.upgradedFrom) {
      // A response whose request was never seen (joined mid-stream, or a stream the client
      // never opened): nothing to pair it with, counted and dropped as HTTP/1 does.
      this.options.stats?.inc('ResponsesWithoutRequest');
      return;
    }
    // A malformed request (RFC 9113 §8.3.1) on a connection followed from its start: counted.
    const bad = badMethod(s);
    if (bad && !s.partial) this.options.stats?.inc('ReqParsingErrors');
    this.options.onExchange(streamExchange(s, tsNs, end, this.options.connection(), bad));
  }
}
