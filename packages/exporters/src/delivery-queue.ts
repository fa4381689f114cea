/**
 * The export queue: encoded batches waiting for the collector, bounded in bytes, sent FIFO with
 * a few requests in flight, retried by the OTLP rules for as long as they fit. While the
 * collector is failing a single probe request goes out at a time (after the backoff or its
 * `Retry-After`); the first answer ends the outage and full concurrency resumes. What is lost is
 * decided by the byte bound (and the stop deadline), never by a retry count, and every loss is
 * counted by reason.
 */
import type { Stats } from '@traceable-ebpf/core';
import { DeliveryOutage } from './delivery-outage.js';
import type {
  DeliveryClock,
  DeliveryLog,
  EncodedBatch,
  SendOutcome,
  Sender,
} from './delivery-types.js';
import { Fifo } from './fifo.js';
import { RateLimitedLog } from './rate-limited-log.js';
import type { RandomSource, RetryPolicy } from './retry-policy.js';

/** Options of {@link DeliveryQueue}. */
export interface DeliveryQueueOptions {
  /** Sends one body (e.g. `createOtlpHttpClient`); the queue never closes it. */
  readonly sender: Sender;
  /** Bound on encoded bytes queued and in flight. A lone batch above it is still accepted. */
  readonly maxQueueBytes: number;
  /** Requests in flight at most while the collector answers (≥ 1). Default 2. */
  readonly maxInFlight?: number;
  /** Where the delivery counters and gauges move. */
  readonly stats: Stats;
  /** Outages, refusals and drops are reported here (rate-limited). */
  readonly log?: DeliveryLog;
  /** Default: the real clock (performance.now, setTimeout). */
  readonly clock?: DeliveryClock;
  /** Jitter source. Default Math.random. */
  readonly random?: RandomSource;
  /** Backoff settings. Default `DEFAULT_RETRY_POLICY` (1 s ×2 up to 5 s, ±20 %). */
  readonly retry?: RetryPolicy;
  /** Least time between two warnings of one kind (refusals, drops). Default 60 000 ms. */
  readonly logIntervalMs?: number;
}

/** What {@link DeliveryQueue.drain} reports. */
export interface DrainResult {
  /** Spans dropped at the deadline (SpansDroppedAtShutdown), 0 when all were settled. */
  readonly undelivered: number;
}

interface Entry {
  readonly batch: EncodedBatch;
  readonly bytes: number;
  readonly seq: number;
  readonly onSettled: ((delivered: boolean) => void) | undefined;
  attempts: number;
  controller: AbortController | undefined;
  settled: boolean;
}

/** The real clock. */
const realClock: DeliveryClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Encoded batches on their way to the collector. See the module comment. */
export class DeliveryQueue {
  private readonly sender: Sender;
  private readonly maxQueueBytes: number;
  private readonly maxInFlight: number;
  private readonly stats: Stats;
  private readonly log: DeliveryLog | undefined;
  private readonly clock: DeliveryClock;
  private readonly warnings: RateLimitedLog;
  private readonly outage: DeliveryOutage;

  /** Never sent yet, in order. */
  private readonly waiting = new Fifo<Entry>();
  /** Sent and to be sent again, ordered by seq; they go before `waiting`. */
  private readonly retrying: Entry[] = [];
  private readonly inFlight = new Set<Entry>();
  private queuedBytes = 0;
  private queuedSpans = 0;
  private nextSeq = 0;

  private state: 'open' | 'draining' | 'closed' = 'open';
  private drainPromise: Promise<DrainResult> | undefined;
  private drainResolve: ((r: DrainResult) => void) | undefined;
  private deadlineTimer: unknown = undefined;
  private flushWaiters: Array<{ seq: number; resolve: () => void }> = [];
  private belowWaiters: Array<{ bytes: number; resolve: () => void }> = [];

  constructor(options: DeliveryQueueOptions) {
    this.sender = options.sender;
    this.maxQueueBytes = options.maxQueueBytes;
    this.maxInFlight = Math.max(1, Math.floor(options.maxInFlight ?? 2));
    this.stats = options.stats;
    this.log = options.log;
    this.clock = options.clock ?? realClock;
    this.warnings = new RateLimitedLog({
      ...(options.log ? { log: options.log } : {}),
      clock: this.clock,
      ...(options.logIntervalMs !== undefined ? { intervalMs: options.logIntervalMs } : {}),
    });
    this.outage = new DeliveryOutage({
      clock: this.clock,
      log: options.log,
      random: options.random ?? Math.random,
      retry: options.retry,
      onRetryDue: () => this.pump(),
    });
  }

  /** Encoded bytes queued and in flight. */
  get bytes(): number {
    return this.queuedBytes;
  }

  /** Spans queued and in flight. */
  get spans(): number {
    return this.queuedSpans;
  }

  /**
   * Queues a batch. False when it would take the queued and in-flight bytes past
   * `maxQueueBytes` (SpansDroppedAtExportQueue) or after {@link drain} began
   * (SpansDroppedAtShutdown); `onSettled(false)` is then called at once. Otherwise
   * `onSettled` is called once the batch is delivered (true, partial success included), refused
   * by the collector or dropped at the stop deadline (false).
   */
  enqueue(batch: EncodedBatch, onSettled?: (delivered: boolean) => void): boolean {
    if (this.state !== 'open') {
      this.stats.inc('SpansDroppedAtShutdown', batch.spans);
      this.callback(onSettled, false);
      return false;
    }
    const bytes = batch.body.byteLength;
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > this.maxQueueBytes) {
      this.stats.inc('SpansDroppedAtExportQueue', batch.spans);
      this.warnings.warn(
        'queue-full',
        { spans: batch.spans, queueBytes: this.queuedBytes, maxQueueBytes: this.maxQueueBytes },
        'export queue full: spans dropped (SpansDroppedAtExportQueue)',
      );
      this.callback(onSettled, false);
      return false;
    }
    const entry: Entry = {
      batch,
      bytes,
      seq: this.nextSeq++,
      onSettled,
      attempts: 0,
      controller: undefined,
      settled: false,
    };
    this.waiting.push(entry);
    this.queuedBytes += bytes;
    this.queuedSpans += batch.spans;
    this.gauges();
    this.pump();
    return true;
  }

  /** Resolves once the queued and in-flight bytes are at most `bytes` (backpressure). */
  whenBelow(bytes: number): Promise<void> {
    if (this.queuedBytes <= bytes || this.state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.belowWaiters.push({ bytes, resolve }));
  }

  /** Resolves once every batch enqueued so far has settled (delivered, refused or dropped). */
  flush(): Promise<void> {
    if (this.unsettled() === 0) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push({ seq: this.nextSeq - 1, resolve }));
  }

  /**
   * Stops accepting batches and keeps delivering (retrying) until everything has settled or
   * `deadlineMs` has passed; then aborts the requests in flight, drops what is left (counted
   * SpansDroppedAtShutdown) and resolves. No timer is left behind. Closing the sender is the
   * owner's business. Calling it again returns the same promise.
   */
  drain(deadlineMs: number): Promise<DrainResult> {
    if (this.drainPromise) return this.drainPromise;
    if (this.state === 'open') this.state = 'draining';
    this.drainPromise = new Promise((resolve) => (this.drainResolve = resolve));
    if (this.unsettled() === 0) this.finishDrain(0);
    else
      this.deadlineTimer = this.clock.setTimeout(() => this.onDeadline(), Math.max(0, deadlineMs));
    return this.drainPromise;
  }

  private unsettled(): number {
    return this.waiting.length + this.retrying.length + this.inFlight.size;
  }

  /** Starts as many requests as the state allows: FIFO, retries first. */
  private pump(): void {
    while (this.state !== 'closed') {
      const limit = this.outage.failing ? 1 : this.maxInFlight;
      if (this.inFlight.size >= limit) return;
      if (this.outage.failing && this.outage.retryPending) return;
      const entry = this.retrying.shift() ?? this.waiting.shift();
      if (!entry) return;
      this.start(entry);
    }
  }

  private start(entry: Entry): void {
    const probe = this.outage.failing;
    if (entry.attempts > 0) {
      this.stats.inc('ExportRetries');
      this.stats.inc('SpansRetried', entry.batch.spans);
      this.outage.countRetry();
    }
    entry.attempts++;
    this.stats.inc('ExportRequests');
    const controller = new AbortController();
    entry.controller = controller;
    this.inFlight.add(entry);
    const startedAt = this.clock.now();
    this.sender.send(entry.batch.body, controller.signal).then(
      (outcome) => this.onOutcome(entry, outcome, startedAt, probe),
      (err: unknown) =>
        this.onOutcome(entry, { kind: 'retryable', message: String(err) }, startedAt, probe),
    );
  }

  private onOutcome(entry: Entry, outcome: SendOutcome, startedAt: number, probe: boolean): void {
    if (entry.settled) return; // dropped at the stop deadline while in flight
    this.inFlight.delete(entry);
    entry.controller = undefined;
    const spans = entry.batch.spans;
    switch (outcome.kind) {
      case 'ok': {
        const rejected = Math.min(spans, Math.max(0, Math.floor(outcome.rejectedSpans) || 0));
        this.stats.inc('TotalRequestsSent', spans - rejected);
        if (rejected > 0) {
          this.stats.inc('SpansPartiallyRejected', rejected);
          this.warnings.warn(
            'partial',
            { rejectedSpans: rejected, spans, message: outcome.message ?? '' },
            'the collector rejected some spans (partial success)',
          );
        }
        const latency = Math.round(Math.max(0, this.clock.now() - startedAt) * 1000) / 1000;
        this.stats.set('ExportLatencyMsLast', latency);
        this.stats.max('ExportLatencyMsMax', latency);
        this.outage.end();
        this.settle(entry, true);
        break;
      }
      case 'rejected':
        this.stats.inc('SpansRejectedByCollector', spans);
        this.warnings.warn(
          `rejected:${outcome.status}`,
          { status: outcome.status, message: outcome.message, spans },
          'the collector refused spans: dropped, not retried (SpansRejectedByCollector)',
        );
        this.outage.end(); // it answers: not an outage
        this.settle(entry, false);
        break;
      case 'retryable':
        this.requeue(entry);
        this.outage.onRetryable(outcome, probe, this.queuedSpans);
        break;
    }
    this.afterChange();
  }

  private requeue(entry: Entry): void {
    let i = this.retrying.length;
    while (i > 0 && this.retrying[i - 1]!.seq > entry.seq) i--;
    this.retrying.splice(i, 0, entry);
  }

  /** Takes a batch off the books and tells its owner. */
  private settle(entry: Entry, delivered: boolean): void {
    entry.settled = true;
    this.queuedBytes -= entry.bytes;
    this.queuedSpans -= entry.batch.spans;
    this.gauges();
    this.callback(entry.onSettled, delivered);
  }

  private callback(fn: ((delivered: boolean) => void) | undefined, delivered: boolean): void {
    if (!fn) return;
    try {
      fn(delivered);
    } catch (err) {
      this.warnings.warn('callback', { error: String(err) }, 'an onSettled callback threw');
    }
  }

  private gauges(): void {
    this.stats.set('ExportQueueSpans', this.queuedSpans);
    this.stats.set('ExportQueueBytes', this.queuedBytes);
    this.stats.max('ExportQueueMaxBytesTillNow', this.queuedBytes);
  }

  /** Wakes waiters, finishes a drain that has nothing left, and sends what may go. */
  private afterChange(): void {
    this.wakeWaiters();
    if (this.state === 'draining' && this.unsettled() === 0) {
      this.finishDrain(0);
      return;
    }
    this.pump();
  }

  private wakeWaiters(): void {
    if (this.belowWaiters.length > 0) {
      const still: typeof this.belowWaiters = [];
      for (const w of this.belowWaiters) {
        if (this.queuedBytes <= w.bytes || this.state === 'closed') w.resolve();
        else still.push(w);
      }
      this.belowWaiters = still;
    }
    if (this.flushWaiters.length > 0) {
      let oldest = Math.min(
        this.waiting.peek()?.seq ?? Infinity,
        this.retrying[0]?.seq ?? Infinity,
      );
      for (const e of this.inFlight) oldest = Math.min(oldest, e.seq);
      while (this.flushWaiters.length > 0 && this.flushWaiters[0]!.seq < oldest) {
        this.flushWaiters.shift()!.resolve();
      }
    }
  }

  private onDeadline(): void {
    this.deadlineTimer = undefined;
    this.state = 'closed';
    this.outage.clearTimer();
    const left = [...this.inFlight, ...this.retrying, ...this.waiting.drainAll()];
    this.inFlight.clear();
    this.retrying.length = 0;
    let undelivered = 0;
    for (const entry of left) {
      entry.controller?.abort();
      entry.controller = undefined;
      undelivered += entry.batch.spans;
      this.stats.inc('SpansDroppedAtShutdown', entry.batch.spans);
      this.settle(entry, false);
    }
    if (undelivered > 0) {
      this.log?.warn(
        { spans: undelivered, requests: left.length },
        'export stop deadline passed: undelivered spans dropped (SpansDroppedAtShutdown)',
      );
    }
    this.finishDrain(undelivered);
  }

  private finishDrain(undelivered: number): void {
    this.state = 'closed';
    this.outage.clearTimer();
    if (this.deadlineTimer !== undefined) {
      this.clock.clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
    }
    this.warnings.flush();
    this.wakeWaiters();
    for (const w of this.flushWaiters) w.resolve();
    this.flushWaiters = [];
    this.drainResolve?.({ undelivered });
    this.drainResolve = undefined;
  }
}
