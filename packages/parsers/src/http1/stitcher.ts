/**
 * Pairs HTTP/1 requests with responses on one connection, first in first out (pipelining keeps
 * order). Interim 1xx responses (but 101) are not answers. Bounded: past `maxPending` unanswered
 * requests the oldest is given up as unanswered. A request unanswered for the response timeout is
 * reported without a response; its place in the queue stays, so a late response can't pair with
 * the next request.
 */
import type { ApiExchange, ConnectionInfo, HttpRequest, HttpResponse } from '@traceable-ebpf/core';
import { unlimitedBudget, type BodyBudget } from '../shared/body-budget.js';

/** What happened when a response was added. */
export type StitchResult =
  | { readonly status: 'paired'; readonly exchange: ApiExchange }
  | { readonly status: 'interim' }
  | { readonly status: 'orphan' }
  /** It answers a request already reported as timed out: dropped. */
  | { readonly status: 'late' };

/** Stands in the queue for a request whose bytes were lost: its response must not pair with the next. */
const LOST = Symbol('lost request');
/** Stands in the queue for a request reported as timed out: its late response pairs with this. */
const TIMED_OUT = Symbol('timed-out request');

const NO_BODY = new Uint8Array(0);

interface Queued {
  req: HttpRequest | typeof LOST | typeof TIMED_OUT;
  /** When it was queued (ms, the caller's clock). */
  readonly at: number;
}

/** The request/response pairing of one connection. */
export class Http1Stitcher {
  private readonly requests: Queued[] = [];
  /** Set when bytes were lost on the connection: exchanges are flagged partial. */
  partial = false;

  constructor(
    private readonly connection: () => ConnectionInfo,
    private readonly maxPending = 256,
    private readonly budget: BodyBudget = unlimitedBudget(),
  ) {}

  /** Takes the oldest queued entry, returning its body bytes to the budget. */
  private shift(): Queued | undefined {
    const q = this.requests.shift();
    if (q && typeof q.req === 'object') this.budget.held -= q.req.body.length;
    return q;
  }

  /** Requests waiting for a response (placeholders included). */
  get pending(): number {
    return this.requests.length;
  }

  /** Queues a request; returns an unanswered one that was given up to stay in bounds. */
  addRequest(msg: HttpRequest | typeof LOST, now = Date.now()): ApiExchange | undefined {
    if (typeof msg === 'object' && msg.body.length > 0) {
      if (this.budget.held + msg.body.length > this.budget.max) {
        msg = { ...msg, body: NO_BODY }; // the size stays in bodySize
        this.budget.onDrop();
      } else {
        this.budget.held += msg.body.length;
      }
    }
    this.requests.push({ req: msg, at: now });
    if (this.requests.length > this.maxPending)
      return this.unanswered(this.shift()!.req, 'overflow');
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
    const q = this.shift();
    return q === undefined ? undefined : this.unanswered(q.req, 'closed');
  }

  /** The method of the oldest unanswered request (a response to HEAD has no body). */
  nextMethod(): string | undefined {
    return this.next()?.method;
  }

  /** The oldest unanswered request (undefined when none, or its bytes were lost). */
  next(): HttpRequest | undefined {
    const head = this.requests[0]?.req;
    return typeof head === 'object' ? head : undefined;
  }

  /** Takes the oldest request out without reporting it (it goes on in another protocol). */
  take(): HttpRequest | undefined {
    const req = this.shift()?.req;
    return typeof req === 'object' ? req : undefined;
  }

  /**
   * Requests queued `timeoutMs` or longer before `now` are returned without a response; their
   * places stay (a late response pairs with the place and is dropped).
   */
  expire(now: number, timeoutMs: number): ApiExchange[] {
    const out: ApiExchange[] = [];
    for (const q of this.requests) {
      if (now - q.at < timeoutMs) break; // later ones were queued later
      const ex = this.unanswered(q.req, 'timeout');
      if (typeof q.req === 'object') this.budget.held -= q.req.body.length;
      q.req = TIMED_OUT;
      if (ex) out.push(ex);
    }
    return out;
  }

  /** Pairs a response with the oldest request. */
  addResponse(msg: HttpResponse): StitchResult {
    if (msg.status >= 100 && msg.status < 200 && msg.status !== 101) return { status: 'interim' };
    const req = this.shift()?.req;
    if (req === TIMED_OUT) return { status: 'late' };
    if (req === undefined || req === LOST) return { status: 'orphan' };
    return {
      status: 'paired',
      exchange: {
        protocol: 'http1',
        connection: this.connection(),
        request: req,
        response: msg,
        partial: this.partial,
      },
    };
  }

  /** The connection ended: every request still waiting, as an exchange without a response. */
  drain(): ApiExchange[] {
    const out: ApiExchange[] = [];
    while (this.requests.length > 0) {
      const ex = this.unanswered(this.shift()!.req, 'closed');
      if (ex) out.push(ex);
    }
    return out;
  }

  /** An exchange without a response (none for a placeholder). */
  private unanswered(
    req: Queued['req'],
    why: NonNullable<ApiExchange['unanswered']>,
  ): ApiExchange | undefined {
    if (typeof req !== 'object') return undefined;
    return {
      protocol: 'http1',
      connection: this.connection(),
      request: req,
      partial: this.partial,
      unanswered: why,
    };
  }
}
