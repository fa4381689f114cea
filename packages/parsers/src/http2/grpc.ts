/**
 * gRPC over HTTP/2: the length-prefixed message framing of each direction (1 flag byte, 4 length
 * bytes, the message), followed across DATA frames, and the call details an exchange reports
 * (service, method, grpc-status, message counts and sizes).
 */
import {
  GRPC_MESSAGES_KEPT,
  type GrpcCall,
  type GrpcMessage,
  type HeaderList,
  type HttpRequest,
} from '@traceable-ebpf/core';
import { headerValue } from '../shared/headers.js';

/** Bytes of a gRPC message prefix: the compressed flag and the 32-bit length. */
const GRPC_PREFIX_BYTES = 5;

/** Length-prefixed message framing of one gRPC direction (gRPC over HTTP/2 spec). */
export interface GrpcFraming {
  /** Bytes of the 5-byte prefix seen so far (0 between messages). */
  prefix: number;
  /** The length read from the prefix so far (bytes). */
  length: number;
  /** The compressed flag of the message whose prefix is being read. */
  flag: boolean;
  /** Message bytes still to skip. */
  remaining: number;
  /** Messages whose prefix was read. */
  messages: number;
  /** The sum of the messages' lengths (bytes). */
  bytes: number;
  /** A message was flagged compressed. */
  compressed: boolean;
  /** The first messages, up to GRPC_MESSAGES_KEPT. */
  kept: GrpcMessage[];
}

/** The messages of every direction that has none (replaced by an array of its own on the first). */
const NO_MESSAGES: GrpcMessage[] = [];

/** The framing of a direction before its first message. */
export function newGrpcFraming(): GrpcFraming {
  return {
    prefix: 0,
    length: 0,
    flag: false,
    remaining: 0,
    messages: 0,
    bytes: 0,
    compressed: false,
    kept: NO_MESSAGES,
  };
}

/** The direction ended inside a gRPC message (its prefix or its bytes). */
export function grpcCut(g: GrpcFraming): boolean {
  return g.prefix > 0 || g.remaining > 0;
}

/**
 * `n` bytes of a gRPC direction were lost: true when they fell inside one message (the framing
 * is still followed), false when a prefix was among them.
 */
export function skipGrpcBytes(g: GrpcFraming, n: number): boolean {
  if (g.prefix !== 0 || g.remaining < n) return false;
  g.remaining -= n;
  return true;
}

/**
 * Follows gRPC's length-prefixed messages across DATA frames of one direction: counts them,
 * sums their sizes, keeps the first ones.
 */
export function countGrpcMessages(
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
      if (g.kept.length < GRPC_MESSAGES_KEPT) {
        if (g.kept === NO_MESSAGES) g.kept = [];
        g.kept.push({ direction, size: g.length, compressed: g.flag, tsNs });
      }
    }
  }
}

/**
 * gRPC details, when the request is a gRPC call (content-type `application/grpc…`): `req` and
 * `res` are each direction's framing, `response` the response's header blocks.
 */
export function grpcCall(
  request: HttpRequest,
  req: GrpcFraming,
  res: GrpcFraming,
  response: {
    readonly headers?: HeaderList | undefined;
    readonly trailers?: HeaderList | undefined;
  },
): GrpcCall | undefined {
  const type = headerValue(request.headers, 'content-type');
  if (!type?.startsWith('application/grpc')) return undefined;
  const [, service = '', method = ''] = /^\/([^/]+)\/([^/?]+)/.exec(request.target) ?? [];
  // grpc-status is in the trailers, or in the only header block of a trailers-only response.
  const status =
    headerValue(response.trailers ?? [], 'grpc-status') ??
    headerValue(response.headers ?? [], 'grpc-status');
  return {
    service,
    method,
    ...(status !== undefined && /^\d+$/.test(status) ? { statusCode: Number(status) } : {}),
    requestMessages: req.messages,
    responseMessages: res.messages,
    // A message cut short counts the bytes that came, not what its prefix announced.
    requestMessageBytes: req.bytes - req.remaining,
    responseMessageBytes: res.bytes - res.remaining,
    compressed: req.compressed || res.compressed,
    messages: [...req.kept, ...res.kept],
  };
}
