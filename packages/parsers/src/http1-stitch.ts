/**
 * Pairs HTTP/1 requests with responses on one connection, first in first out (pipelining keeps
 * order). Interim 1xx responses (but 101) are not answers. Bounded: past `maxPending` unanswered
 * requests the oldest is given up as unanswered.
 */
import type { ApiExchange, ConnectionInfo, HttpRequest, HttpResponse } from '@traceable-ebpf/core';
import type { Http1Message } from './http1-message.js';

const toRequest = (m: Http1Message): HttpRequest => ({
  method: m.method,
  target: m.target,
  version: m.version,
  headers: m.headers,
  body: m.body,
  bodySize: m.bodySize,
  startNs: m.startNs,
  endNs: m.endNs,
});

const toResponse = (m: Http1Message): HttpResponse => ({
  status: m.status,
  version: m.version,
  headers: m.headers,
  body: m.body,
  bodySize: m.bodySize,
  startNs: m.startNs,
  endNs: m.endNs,
});

/** What happened when a response was added. */
export type StitchResult =
  | { readonly status: 'paired'; readonly exchange: ApiExchange }
  | { readonly status: 'interim' }
  | { readonly status: 'orphan' };

/** The request/response pairing of one connection. */
export class Http1Stitcher {
  private readonly requests: Http1Message[] = [];
  /** Set when bytes were lost on the connection: exchanges are flagged partial. */
  partial = false;

  constructor(
    private readonly connection: () => ConnectionInfo,
    private readonly maxPending = 256,
  ) {}

  /** Queues a request; returns an unanswered one that was given up to stay in bounds. */
  addRequest(msg: Http1Message): ApiExchange | undefined {
    this.requests.push(msg);
    if (this.requests.length > this.maxPending) return this.unanswered(this.requests.shift()!);
    return undefined;
  }

  /** The method of the oldest unanswered request (a response to HEAD has no body). */
  nextMethod(): string | undefined {
    return this.requests[0]?.method;
  }

  /** Pairs a response with the oldest request. */
  addResponse(msg: Http1Message): StitchResult {
    if (msg.status >= 100 && msg.status < 200 && msg.status !== 101) return { status: 'interim' };
    const req = this.requests.shift();
    if (!req) return { status: 'orphan' };
    return {
      status: 'paired',
      exchange: {
        protocol: 'http1',
        connection: this.connection(),
        request: toRequest(req),
        response: toResponse(msg),
        partial: this.partial,
      },
    };
  }

  /** The connection ended: every request still waiting, as an exchange without a response. */
  drain(): ApiExchange[] {
    return this.requests.splice(0).map((r) => this.unanswered(r));
  }

  private unanswered(req: Http1Message): ApiExchange {
    return {
      protocol: 'http1',
      connection: this.connection(),
      request: toRequest(req),
      partial: this.partial,
    };
  }
}
