/**
 * An OpenTelemetry SpanExporter that POSTs spans as NDJSON to a webhook: batched, bounded in
 * spans held, each request timed out and retried with backoff, every span either delivered or
 * counted, shutdown idempotent and flushing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Agent } from 'node:http';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { toNdjson } from './ndjson.js';
import {
  resolveOptions,
  type ResolvedWebhookOptions,
  type WebhookExporterOptions,
} from './options.js';
import { agentFor, post } from './post.js';

/** What a {@link WebhookExporter} has done so far. Every span handed to it ends in one of the first three. */
export interface WebhookCounters {
  /** Spans in requests the webhook accepted (a 2xx answer). */
  readonly sentSpans: number;
  /** Spans given up: a refusal not worth retrying, retries spent, or the shutdown deadline. */
  readonly failedSpans: number;
  /** Spans refused by `export()`: the queue was full, or the exporter was shut down. */
  readonly droppedSpans: number;
  /** HTTP requests made, retries included. */
  readonly requests: number;
  /** Requests that were retries. */
  readonly retries: number;
}

/** One `export()` call: its callback runs once all of its spans are delivered or given up. */
interface Call {
  remaining: number;
  error?: Error;
  readonly done: (result: ExportResult) => void;
}

/** A span waiting to be sent, with its call and when it came. */
interface Held {
  readonly span: ReadableSpan;
  readonly call: Call;
  readonly at: number;
}

/**
 * Spans as NDJSON to a webhook. `export()`'s callback runs when the call's spans have been
 * delivered (SUCCESS) or given up (FAILED, with the reason), so a caller that waits for it knows
 * what arrived. One request is in flight at a time; a batch goes when it has `maxBatchSpans`
 * spans, when its oldest span has waited `maxWaitMs`, or on `forceFlush()`.
 */
export class WebhookExporter implements SpanExporter {
  private readonly options: ResolvedWebhookOptions;
  private readonly agent: Agent;
  private readonly queue: Held[] = [];
  private inFlight = 0;
  private sending = false;
  private timer: NodeJS.Timeout | undefined;
  /** Spans accepted, taken into a request, and delivered or given up, since the start. */
  private accepted = 0;
  private taken = 0;
  private settled = 0;
  /** Spans up to this count are sent without waiting for a full batch (a flush asked for it). */
  private flushUpTo = 0;
  private readonly waiters: { readonly upTo: number; readonly resolve: () => void }[] = [];
  private readonly stopping = new AbortController();
  private closed = false;
  private shutdownDone: Promise<void> | undefined;
  private readonly count = {
    sentSpans: 0,
    failedSpans: 0,
    droppedSpans: 0,
    requests: 0,
    retries: 0,
  };

  /** Throws a `WebhookOptionError` naming a bad option. */
  constructor(options: WebhookExporterOptions) {
    this.options = resolveOptions(options);
    this.agent = agentFor(this.options.url);
    const outer = this.options.signal;
    if (outer?.aborted) this.halt();
    else outer?.addEventListener('abort', () => this.halt(), { once: true });
  }

  /** The counters as they are now. */
  get counters(): WebhookCounters {
    return { ...this.count };
  }

  /** Where spans go, without credentials or query (for logs). */
  get endpoint(): string {
    return `${this.options.url.origin}${this.options.url.pathname}`;
  }

  /** Spans held now: waiting, or in the request in flight. */
  get heldSpans(): number {
    return this.queue.length + this.inFlight;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const refuse = (reason: string) => {
      this.count.droppedSpans += spans.length;
      resultCallback({ code: ExportResultCode.FAILED, error: new Error(reason) });
    };
    if (this.closed) return refuse(`webhook exporter is shut down: ${spans.length} spans dropped`);
    if (spans.length === 0) return resultCallback({ code: ExportResultCode.SUCCESS });
    const held = this.heldSpans;
    if (held + spans.length > this.options.maxQueueSpans)
      return refuse(
        `webhook exporter queue full (${held} of ${this.options.maxQueueSpans} spans held): ${spans.length} spans dropped`,
      );
    const call: Call = { remaining: spans.length, done: resultCallback };
    const at = Date.now();
    for (const span of spans) this.queue.push({ span, call, at });
    this.accepted += spans.length;
    this.pump();
  }

  /** Sends what is held without waiting for full batches; resolves once it is delivered or given up. */
  forceFlush(): Promise<void> {
    const upTo = this.accepted;
    this.flushUpTo = upTo;
    const flushed =
      this.settled >= upTo
        ? Promise.resolve()
        : new Promise<void>((resolve) => this.waiters.push({ upTo, resolve }));
    this.pump();
    return flushed;
  }

  /**
   * Refuses new spans, delivers what is held (retrying as usual) for at most
   * `shutdownTimeoutMs`, gives up the rest, and closes the connections. Later calls return the
   * same promise.
   */
  shutdown(): Promise<void> {
    this.shutdownDone ??= this.close();
    return this.shutdownDone;
  }

  private async close(): Promise<void> {
    this.closed = true;
    const deadline = setTimeout(() => this.halt(), this.options.shutdownTimeoutMs);
    try {
      await this.forceFlush();
    } finally {
      clearTimeout(deadline);
      this.halt();
    }
  }

  /** Stops at once: what is waiting is given up, the request in flight is cut, connections close. */
  private halt(): void {
    if (this.stopping.signal.aborted) return;
    this.closed = true;
    this.stopping.abort();
    clearTimeout(this.timer);
    const waiting = this.queue.splice(0);
    if (waiting.length > 0)
      this.settle(waiting, new Error('webhook exporter stopped before these spans were sent'));
    this.agent.destroy();
  }

  /** Starts the next request when a batch is due; otherwise makes sure a timer will look again. */
  private pump(): void {
    if (this.sending || this.queue.length === 0 || this.stopping.signal.aborted) return;
    const { maxBatchSpans, maxWaitMs } = this.options;
    const oldest = this.queue[0]!.at;
    const due =
      this.queue.length >= maxBatchSpans ||
      this.taken < this.flushUpTo ||
      Date.now() - oldest >= maxWaitMs;
    if (!due) {
      this.timer ??= setTimeout(
        () => {
          this.timer = undefined;
          this.pump();
        },
        Math.max(0, oldest + maxWaitMs - Date.now()),
      ).unref();
      return;
    }
    const batch = this.queue.splice(0, maxBatchSpans);
    this.taken += batch.length;
    this.inFlight = batch.length;
    this.sending = true;
    void this.deliver(batch).then((error) => {
      this.sending = false;
      this.inFlight = 0;
      this.settle(batch, error);
      this.pump();
    });
  }

  /** Sends one batch, retrying; resolves with why it was given up, or undefined once delivered. */
  private async deliver(batch: readonly Held[]): Promise<Error | undefined> {
    const { url, headers, timeoutMs, maxRetries } = this.options;
    const body = toNdjson(batch.map((h) => h.span));
    const signal = this.stopping.signal;
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) return new Error('webhook exporter stopped before these spans were sent');
      this.count.requests++;
      const outcome = await post({ url, body, headers, agent: this.agent, timeoutMs, signal });
      if (outcome.ok) return undefined;
      if (!outcome.retryable || attempt >= maxRetries || signal.aborted)
        return new Error(
          `${outcome.error.message} (${attempt + 1} attempt${attempt === 0 ? '' : 's'})`,
        );
      this.count.retries++;
      await sleep(this.retryDelayMs(attempt, outcome.retryAfterMs), undefined, { signal }).catch(
        () => undefined,
      );
    }
  }

  /** Exponential backoff with ±20% jitter, never sooner than `Retry-After`, at most the cap. */
  private retryDelayMs(attempt: number, retryAfterMs: number | undefined): number {
    const { retryDelayMs, maxRetryDelayMs } = this.options;
    const backoff = retryDelayMs * 2 ** attempt * (0.8 + 0.4 * Math.random());
    return Math.min(maxRetryDelayMs, Math.max(backoff, retryAfterMs ?? 0));
  }

  /** Counts a batch's end and runs the callbacks of the calls it completes. */
  private settle(batch: readonly Held[], error: Error | undefined): void {
    if (error) this.count.failedSpans += batch.length;
    else this.count.sentSpans += batch.length;
    this.settled += batch.length;
    const finished: Call[] = [];
    for (const { call } of batch) {
      if (error) call.error ??= error;
      if (--call.remaining === 0) finished.push(call);
    }
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (waiter.upTo <= this.settled) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
    for (const call of finished)
      call.done(
        call.error
          ? { code: ExportResultCode.FAILED, error: call.error }
          : { code: ExportResultCode.SUCCESS },
      );
  }
}
