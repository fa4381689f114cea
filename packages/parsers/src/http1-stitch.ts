/**
 * Pairs HTTP/1 requests with responses on one connection, first in first out (pipelining keeps
 * order). Interim 1xx responses (but 101) are not answers. Bounded: past `maxPending` unanswered
 * requests the oldest is given up as unanswered.
 */
import type {
  ApiExchange,
  ConnectionInfo,
  HttpMessage,
  HttpRequest,
  HttpResponse,
} from '@traceable-ebpf/core';
import type { Http1Message } from './http1-message.js';

/** The fields every HTTP message has (a parsed message carries parser-only fields too). */
const messageOf = (m: Http1Message): HttpMessage => ({
  version: m.version,
  headers: m.headers,
  body: m.body,
  bodySize: m.bodySize,
  startNs: m.startNs,
  endNs: m.endNs,
});

const toRequest = (m: Http1Message): HttpRequest => ({
  ...messageOf(m),
  method: m.method,
  target: m.target,
});

const toResponse = (m: Http1Message): HttpResponse => ({ ...messageOf(m), status: m.status });

/** What happened when a response was added. */
export type StitchResult =
  | { readonly status: 'paired'; readonly exchange: ApiExchange }
  | { readonly status: 'interim' }
  | { readonly status: 'orphan' };

/** Stands in the queue for a request whose bytes were lost: its response must not pair with the next. */
const LOST = Symbol('lost request');

/** The request/response pairing of one connection. */
export class Http1Stitcher {
  private readonly requests: Array<Http1Message | typeof LOST> = [];
  /** Set when bytes were lost on the connection: exchanges are flagged partial. */
  partial = false;

  constructor(
    private readonly connection: () => ConnectionInfo,
    private readonly maxPending = 256,
  ) {}

  /** Queues a request; returns an unanswered one that was given up to stay in bounds. */
  addRequest(msg: Http1Message | typeof LOST): ApiExchange | undefined {
    this.requests.push(msg);
    if (this.requests.length > this.maxPending) return this.unanswered(this.requests.shift()!);
    return undefined;
  }

  /** A request was lost mid-way (bytes missing or garbled): its response will pair with nothing. */
  requestLost(): ApiExchange | undefined {
    this.partial = true;
    return this.addRequest(LOST);
  }

  /** A response was lost mid-way: the oldest request will get no answer. */
  responseLost(): ApiExchange | undefined {
    this.partial = true;
    const req = this.requests.shift();
    return req === undefined ? undefined : this.unanswered(req);
  }

  /** The method of the oldest unanswered request (a response to HEAD has no body). */
  nextMethod(): string | undefined {
    const head = this.requests[0];
    return head === undefined || head === LOST ? undefined : head.method;
  }

  /** Pairs a response with the oldest request. */
  addResponse(msg: Http1Message): StitchResult {
    if (msg.status >= 100 && msg.status < 200 && msg.status !== 101) return { status: 'interim' };
    const req = this.requests.shift();
    if (req === undefined || req === LOST) return { status: 'orphan' };
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
    const out: ApiExchange[] = [];
    for (const r of this.requests.splice(0)) {
      const ex = this.unanswered(r);
      if (ex) out.push(ex);
    }
    return out;
  }

  /** An exchange without a response (none for a lost request's placeholder). */
  private unanswered(req: Http1Message | typeof LOST): ApiExchange | undefined {
    if (req === LOST) return undefined;
    return {
      protocol: 'http1',
      connection: this.connection(),
      request: toRequest(req),
      partial: this.partial,
    };
  }
}
