/**
 * A collector outage as the export queue sees it: it begins with the first retryable outcome
 * and ends with the first answer. While it lasts the queue sends one probe at a time, each after
 * the backoff (or the collector's `Retry-After`) that this tracker's retry timer waits out. Its
 * beginning and its end are logged once each, the end with how long it lasted.
 */
import type { DeliveryClock, DeliveryLog, SendOutcome } from './delivery-types.js';
import { retryDelayMs, type RandomSource, type RetryPolicy } from './retry-policy.js';

/** A send outcome worth another try. */
export type RetryableOutcome = Extract<SendOutcome, { kind: 'retryable' }>;

/** Options of {@link DeliveryOutage}. */
export interface DeliveryOutageOptions {
  /** Time, for the backoff timer and the outage's duration. */
  readonly clock: DeliveryClock;
  /** Where the outage's beginning and end are reported; none: not reported. */
  readonly log: DeliveryLog | undefined;
  /** Jitter source. */
  readonly random: RandomSource;
  /** Backoff settings; undefined: `DEFAULT_RETRY_POLICY`. */
  readonly retry: RetryPolicy | undefined;
  /** Called when the backoff has passed: the next probe may go. */
  readonly onRetryDue: () => void;
}

/** Whether the collector is failing, and when to try it again. See the module comment. */
export class DeliveryOutage {
  private active = false;
  private failures = 0;
  private startedAt = 0;
  private retries = 0;
  private timer: unknown = undefined;
  private due = 0;

  constructor(private readonly options: DeliveryOutageOptions) {}

  /** True from the first retryable outcome until the collector answers again. */
  get failing(): boolean {
    return this.active;
  }

  /** True while the retry timer is armed (the next probe waits for it). */
  get retryPending(): boolean {
    return this.timer !== undefined;
  }

  /** Counts a batch sent again, for the line that ends the outage (only while it lasts). */
  countRetry(): void {
    if (this.active) this.retries++;
  }

  /**
   * Takes a retryable outcome: begins the outage (logged, with `queuedSpans`), or backs off
   * further after a failed `probe`. A request sent before the outage began changes the plan
   * only with a longer `Retry-After`.
   */
  onRetryable(outcome: RetryableOutcome, probe: boolean, queuedSpans: number): void {
    const { clock, log, retry, random } = this.options;
    if (!this.active) {
      this.active = true;
      this.failures = 1;
      this.startedAt = clock.now();
      this.retries = 0;
      log?.warn(
        {
          ...(outcome.status !== undefined ? { status: outcome.status } : {}),
          message: outcome.message,
          queuedSpans,
        },
        'OTLP export failing: retrying with backoff, one request at a time, until the collector answers',
      );
      this.schedule(retryDelayMs(1, outcome.retryAfterMs, retry, random));
    } else if (probe) {
      this.failures++;
      this.schedule(retryDelayMs(this.failures, outcome.retryAfterMs, retry, random));
    } else if (outcome.retryAfterMs !== undefined) {
      // Sent before the outage began; only a longer Retry-After changes the plan.
      this.schedule(retryDelayMs(this.failures, outcome.retryAfterMs, retry, random));
    }
  }

  /** The collector answered: ends the outage, if any (logged), and disarms the retry timer. */
  end(): void {
    if (!this.active) return;
    this.active = false;
    this.clearTimer();
    this.options.log?.info(
      {
        durationMs: Math.round(this.options.clock.now() - this.startedAt),
        requestsRetried: this.retries,
        failedRequests: this.failures,
      },
      'OTLP export recovered: the collector answers again',
    );
    this.failures = 0;
  }

  /** Disarms the retry timer, if armed. */
  clearTimer(): void {
    if (this.timer === undefined) return;
    this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Arms the retry timer `ms` from now, or keeps the pending one if it is due later. */
  private schedule(ms: number): void {
    const { clock } = this.options;
    const due = clock.now() + ms;
    if (this.timer !== undefined) {
      if (due <= this.due) return;
      clock.clearTimeout(this.timer);
    }
    this.due = due;
    this.timer = clock.setTimeout(() => {
      this.timer = undefined;
      this.options.onRetryDue();
    }, ms);
  }
}
