/**
 * What a generator knows about the input it made: the exchanges the stage must emit for it
 * (unmutated), compared field by field by the oracle.
 */

import type { GrpcCall } from '@traceable-ebpf/core';

/** gRPC facts of one expected call: what the stage reports of it, but the kept messages. */
export type ExpectedGrpc = Omit<GrpcCall, 'messages'>;

/** One expected exchange. */
export interface ExpectedExchange {
  readonly method: string;
  readonly target: string;
  readonly authority?: string;
  readonly version: string;
  /** Header fields of the request (pseudo-headers excluded) and trailer fields. */
  readonly requestHeaders: number;
  readonly requestTrailers: number;
  /** The body, hex. */
  readonly requestBody: string;
  /** Undefined when no response is expected. */
  readonly status?: number;
  readonly responseHeaders?: number;
  readonly responseTrailers?: number;
  readonly responseBody?: string;
  readonly unanswered?: string;
  readonly aborted?: boolean;
  readonly grpc?: ExpectedGrpc;
}

/** Everything expected of one generated conversation. */
export interface Expected {
  readonly exchanges: readonly ExpectedExchange[];
  /** Exchanges come out in this order (HTTP/1); otherwise compared sorted by target. */
  readonly ordered: boolean;
  /**
   * Requests that end unanswered by design (reset streams): `RequestsWithoutResponse` must equal
   * this and no other loss counter may move.
   */
  readonly unansweredByDesign: number;
  /**
   * The input lost bytes (gaps) but was not otherwise changed: only exchanges not flagged
   * partial are compared, each with the generated exchange of its target.
   */
  readonly lossy?: boolean;
}
