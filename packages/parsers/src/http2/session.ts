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
  GrpcCall,
  GrpcMessage,
  HeaderList,
  HttpRequest,
  HttpResponse,
  Stats,
} from '@traceable-ebpf/core';
import { HpackDecoder } from './hpack.js';
import { Setting } from './frame-layout.js';
import type { Http2Frame } from './frame-payloads.js';
import type { BodyBudget } from '../shared/body-budget.js';
import { GRPC_MESSAGES_KEPT } from '@traceable-ebpf/core';

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

/** Length-prefixed message framing of one gRPC direction (RFC-less: gRPC over HTTP/2 spec). */
interface GrpcFraming {
  /** Bytes of the 5-byte prefix seen so far (0 between messages). */
  prefix: number;
  length: number;
  /** The compressed flag of the message whose prefix is being read. */
  flag: boolean;
  /** Message bytes still to skip. */
  remaining: number;
  messages: number;
  /** The sum of the messages' lengths. */
  bytes: number;
  compressed: boolean;
  /** The first messages, up to GRPC_MESSAGES_KEPT. */
  kept: GrpcMessage[];
}

interface Half {
  headers?: HeaderList;
  trailers?: HeaderList;
  pseudo: Map<string, string>;
  body: Uint8Array[];
  kept: number;
  size: number;
  startNs: number;
  endNs: number;
  ended: boolean;
  /** The shared body budget refused bytes of this message (counted once). */
  budgetHit: boolean;
  /** Bytes of this message were lost: no body is kept past the hole. */
  bodyCut: boolean;
  /** The gRPC framing was lost with them: messages are no longer counted. */
  grpcLost: boolean;
  /** A gap came before this message started: if its header block never shows, it was lost. */
  gapBefore: boolean;
  grpc: GrpcFraming;
}

interface Stream {
  readonly id: number;
  readonly request: Half;
  readonly response: Half;
  /** The request's first header block was not seen (joined mid-stream). */
  partial: boolean;
  /** Stream 1 of a connection upgraded from HTTP/1 (`Upgrade: h2c`): its request, in HTTP/1.1. */
  upgradedFrom?: HttpRequest;
  /** When its request ended (ms, wall clock; 0: not yet): the response timeout runs from it. */
  requestEndedAt: number;
  /** Its response's header block was malformed (no valid `:status`): counted, not reported. */
  responseInvalid?: boolean;
  /** The response's status, parsed from `:status` when its header block came. */
  status?: number;
}

/** How a stream is reported: complete, or why not. */
type StreamEnd = 'done' | 'closed' | 'reset' | 'timeout' | 'goaway';

/** Ids of streams reported as timed out, kept so their late answers are dropped (counted). */
const TIMED_OUT_KEPT = 1024;

const newHalf = (): Half => ({
  pseudo: new Map(),
  body: [],
  kept: 0,
  size: 0,
  startNs: 0,
  endNs: 0,
  ended: false,
  budgetHit: false,
  bodyCut: false,
  grpcLost: false,
  gapBefore: false,
  grpc: {
    prefix: 0,
    length: 0,
    flag: false,
    remaining: 0,
    messages: 0,
    bytes: 0,
    compressed: false,
    kept: [],
  },
});

const EMPTY = new Uint8Array(0);
const GRPC_PREFIX_BYTES = 5;

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
    for (const [k, v] of headers) {
      if (k.startsWith(':')) half.pseudo.set(k, v);
      else regular.push([k, v]);
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
    const reset = end === 'reset';
    this.streams.delete(s.id);
    const req = s.request;
    const res = s.response;
    if (this.options.budget) this.options.budget.held -= req.kept + res.kept;
    if (!req.headers && !s.upgradedFrom) {
      // A response whose request was never seen (joined mid-stream, or a stream the client
      // never opened): nothing to pair it with, counted and dropped as HTTP/1 does.
      this.options.stats?.inc('ResponsesWithoutRequest');
      return;
    }
    // A method is a token (RFC 9110 §9.1). One the block didn't carry, or not a token, is named
    // `_OTHER` (OpenTelemetry's name for a method not known) and the exchange is partial; on a
    // connection followed from its start that is a malformed request (RFC 9113 §8.3.1), counted.
    const method = req.pseudo.get(':method');
    const badMethod = !s.upgradedFrom && (method === undefined || !TOKEN.test(method));
    if (badMethod && !s.partial) this.options.stats?.inc('ReqParsingErrors');
    const request: HttpRequest = s.upgradedFrom ?? {
      method: badMethod || method === undefined ? OTHER_METHOD : method,
      target: req.pseudo.get(':path') ?? '',
      authority: req.pseudo.get(':authority'),
      version: '2',
      headers: req.headers ?? [],
      trailers: req.trailers,
      body: join(req.body),
      bodySize: req.size,
      startNs: req.headers ? req.startNs : res.startNs,
      // Never before its start, whatever timestamps the events carry.
      endNs: req.headers ? Math.max(req.endNs, req.startNs) : res.startNs,
    };
    const response: HttpResponse | undefined =
      res.headers && s.status !== undefined
        ? {
            status: s.status,
            version: '2',
            headers: res.headers,
            trailers: res.trailers,
            body: join(res.body),
            bodySize: res.size,
            startNs: res.startNs,
            endNs: Math.max(res.ended ? res.endNs : Math.max(res.endNs, tsNs), res.startNs),
          }
        : undefined;
    const grpc = grpcCall(request, req, res);
    this.options.onExchange({
      protocol: 'http2',
      connection: this.options.connection(),
      request,
      ...(response
        ? { response }
        : { unanswered: s.responseInvalid ? 'invalid' : end === 'done' ? 'closed' : end }),
      ...(reset ? { aborted: true } : {}),
      ...(grpc ? { grpc } : {}),
      // The response didn't finish, or it did (or the connection ended) before the request
      // did (the rest of the request is not in the exchange), or the request's start was never
      // seen, or a gap took the response's header block, or a gRPC message was cut short.
      partial:
        s.partial ||
        badMethod ||
        (!req.ended && (end === 'done' || end === 'closed')) ||
        (response !== undefined && !res.ended && !reset) ||
        (res.gapBefore && !res.headers) ||
        (grpc !== undefined && (grpcCut(req.grpc) || grpcCut(res.grpc))),
    });
  }
}

/** An HTTP token (RFC 9110 §5.6.2): what a method must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** The method of a request whose own is not known (OpenTelemetry's HTTP conventions). */
export const OTHER_METHOD = '_OTHER';

/**
 * A status code as RFC 9110 §15 defines it: three digits, 100–599. Anything else (`abc`, `-5`,
 * `0x1F`, `1e3`, `99999`, missing) is undefined.
 */
export function parseStatus(text: string | undefined): number | undefined {
  if (text === undefined || text.length !== 3) return undefined;
  const a = text.charCodeAt(0) - 48;
  const b = text.charCodeAt(1) - 48;
  const c = text.charCodeAt(2) - 48;
  if (a < 1 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return undefined;
  return a * 100 + b * 10 + c;
}

/** The first value of a header (names as HTTP/2 sends them: lower case). */
function headerValue(headers: HeaderList, name: string): string | undefined {
  for (const [k, v] of headers) if (k === name) return v;
  return undefined;
}

function join(parts: Uint8Array[]): Uint8Array {
  return parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * `n` bytes of a gRPC direction were lost: true when they fell inside one message (the framing
 * is still followed), false when a prefix was among them.
 */
/** The direction ended inside a gRPC message (its prefix or its bytes). */
function grpcCut(g: GrpcFraming): boolean {
  return g.prefix > 0 || g.remaining > 0;
}

function skipGrpcBytes(g: GrpcFraming, n: number): boolean {
  if (g.prefix !== 0 || g.remaining < n) return false;
  g.remaining -= n;
  return true;
}

/**
 * Follows gRPC's length-prefixed messages (1 flag byte, 4 length bytes, message) across DATA
 * frames of one direction: counts them, sums their sizes, keeps the first ones.
 */
function countGrpcMessages(
  g: GrpcFraming,
  data: Uint8Array,
  direction: GrpcMessage['direction'],
  tsNs: number,
): void {
  let i = 0;
  while (i < data.length) {
    if (g.remaining > 0) {
      const n = Math.min(g.remaining, data.length - i);
      g.remaining -= n;
      i += n;
      continue;
    }
    const b = data[i++]!;
    if (g.prefix === 0) {
      g.flag = (b & 1) !== 0;
      if (g.flag) g.compressed = true;
      g.length = 0;
    } else {
      g.length = g.length * 256 + b;
    }
    g.prefix++;
    if (g.prefix === GRPC_PREFIX_BYTES) {
      g.prefix = 0;
      g.messages++;
      g.bytes += g.length;
      g.remaining = g.length;
      if (g.kept.length < GRPC_MESSAGES_KEPT)
        g.kept.push({ direction, size: g.length, compressed: g.flag, tsNs });
    }
  }
}

/** gRPC details, when the request is a gRPC call. */
function grpcCall(request: HttpRequest, req: Half, res: Half): GrpcCall | undefined {
  const type = headerValue(request.headers, 'content-type');
  if (!type?.startsWith('application/grpc')) return undefined;
  const [, service = '', method = ''] = /^\/([^/]+)\/([^/?]+)/.exec(request.target) ?? [];
  // grpc-status is in the trailers, or in the only header block of a trailers-only response.
  const status =
    headerValue(res.trailers ?? [], 'grpc-status') ?? headerValue(res.headers ?? [], 'grpc-status');
  return {
    service,
    method,
    ...(status !== undefined && /^\d+$/.test(status) ? { statusCode: Number(status) } : {}),
    requestMessages: req.grpc.messages,
    responseMessages: res.grpc.messages,
    // A message cut short counts the bytes that came, not what its prefix announced.
    requestMessageBytes: req.grpc.bytes - req.grpc.remaining,
    responseMessageBytes: res.grpc.bytes - res.grpc.remaining,
    compressed: req.grpc.compressed || res.grpc.compressed,
    messages: [...req.grpc.kept, ...res.grpc.kept],
  };
}
