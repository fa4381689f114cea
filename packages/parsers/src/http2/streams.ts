/**
 * The state of one HTTP/2 stream (each direction's message as its frames arrive) and the
 * exchange it becomes when it is reported: pseudo-headers to method, path, authority and status,
 * the body joined, gRPC details, and why it is partial or unanswered.
 */
import type {
  ApiExchange,
  ConnectionInfo,
  HeaderList,
  HttpRequest,
  HttpResponse,
} from '@traceable-ebpf/core';
import { grpcCall, grpcCut, newGrpcFraming, type GrpcFraming } from './grpc.js';
import { OTHER_METHOD, isToken } from './fields.js';

/** One direction of a stream: a request or a response being received. */
export interface Half {
  /** The regular fields of the first header block (undefined until it comes). */
  headers?: HeaderList;
  /** A second header block: the trailers. */
  trailers?: HeaderList;
  /** `:method`, `:path` and `:authority` of the first header block (the pseudo-header fields read). */
  method: string | undefined;
  path: string | undefined;
  authority: string | undefined;
  /** Body bytes kept, as they came. */
  body: Uint8Array[];
  /** Body bytes kept (bytes). */
  kept: number;
  /** Body bytes seen, kept or not (bytes). */
  size: number;
  /** When its first frame was seen (ns, the kernel's clock). */
  startNs: number;
  /** When its last frame was seen (ns, the kernel's clock). */
  endNs: number;
  /** END_STREAM was seen. */
  ended: boolean;
  /** The shared body budget refused bytes of this message (counted once). */
  budgetHit: boolean;
  /** Bytes of this message were lost: no body is kept past the hole. */
  bodyCut: boolean;
  /** The gRPC framing was lost with them: messages are no longer counted. */
  grpcLost: boolean;
  /** A gap came before this message started: if its header block never shows, it was lost. */
  gapBefore: boolean;
  /** Its gRPC message framing. */
  grpc: GrpcFraming;
}

/** One stream of a connection. */
export interface Stream {
  /** The stream id. */
  readonly id: number;
  /** What the client sent on it. */
  readonly request: Half;
  /** What the server sent on it. */
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
export type StreamEnd = 'done' | 'closed' | 'reset' | 'timeout' | 'goaway';

/** The body of every direction that keeps none (replaced by an array of its own on the first part). */
export const NO_PARTS: Uint8Array[] = [];

/** A direction before its first frame. */
export function newHalf(): Half {
  return {
    method: undefined,
    path: undefined,
    authority: undefined,
    body: NO_PARTS,
    kept: 0,
    size: 0,
    startNs: 0,
    endNs: 0,
    ended: false,
    budgetHit: false,
    bodyCut: false,
    grpcLost: false,
    gapBefore: false,
    grpc: newGrpcFraming(),
  };
}

const EMPTY = new Uint8Array(0);

function join(parts: Uint8Array[]): Uint8Array {
  return parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * A method is a token (RFC 9110 §9.1): true when the stream's request carried none, or one that
 * is not a token (it is then reported as `_OTHER`, OpenTelemetry's name for a method not known).
 */
export function badMethod(s: Stream): boolean {
  const method = s.request.method;
  return !s.upgradedFrom && (method === undefined || !isToken(method));
}

/**
 * The exchange a stream is reported as, at `tsNs`, ending as `end`; `bad` is
 * {@link badMethod}'s verdict. The stream's request must have been seen (or upgraded from).
 */
export function streamExchange(
  s: Stream,
  tsNs: number,
  end: StreamEnd,
  connection: ConnectionInfo,
  bad: boolean,
): ApiExchange {
  const reset = end === 'reset';
  const req = s.request;
  const res = s.response;
  const method = req.method;
  const request: HttpRequest = s.upgradedFrom ?? {
    method: bad || method === undefined ? OTHER_METHOD : method,
    target: req.path ?? '',
    authority: req.authority,
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
  const grpc = grpcCall(request, req.grpc, res.grpc, res);
  return {
    protocol: 'http2',
    connection,
    request,
    ...(response
      ? { response }
      : { unanswered: s.responseInvalid ? 'invalid' : end === 'done' ? 'closed' : end }),
    ...(reset ? { aborted: true } : {}),
    ...(grpc ? { grpc } : {}),
    // The response didn't finish, or it did (or the connection ended) before the request did
    // (the rest of the request is not in the exchange), or the request's start was never seen,
    // or a gap took the response's header block, or a gRPC message was cut short.
    partial:
      s.partial ||
      bad ||
      (!req.ended && (end === 'done' || end === 'closed')) ||
      (response !== undefined && !res.ended && !reset) ||
      (res.gapBefore && !res.headers) ||
      (grpc !== undefined && (grpcCut(req.grpc) || grpcCut(res.grpc))),
  };
}
