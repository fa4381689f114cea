/**
 * Warnings that can repeat (every refused batch, every full queue) logged once per kind, then at
 * most once per interval with how many happened since: never one line per event.
 */
import type { DeliveryClock, DeliveryLog } from './delivery-types.js';

/** Options of {@link RateLimitedLog}. */
export interface RateLimitedLogOptions {
  /** Where lines go; none: nothing is logged. */
  readonly log?: DeliveryLog;
  /** Time, for the interval. */
  readonly clock: DeliveryClock;
  /** Least time between two lines of one kind. Default 60 000 ms. */
  readonly intervalMs?: number;
  /** Kinds remembered at most (the oldest is forgotten). Default 64. */
  readonly maxKinds?: number;
}

interface Kind {
  at: number;
  suppressed: number;
  fields: object;
  message: string;
}

/** A warn logger that rate-limits by kind. */
export class RateLimitedLog {
  private readonly kinds = new Map<string, Kind>();
  private readonly intervalMs: number;
  private readonly maxKinds: number;

  constructor(private readonly options: RateLimitedLogOptions) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.maxKinds = options.maxKinds ?? 64;
  }

  /**
   * Logs `message` at warn now if this kind was never logged or last logged an interval ago
   * (with `count`: the occurrences the line stands for); otherwise counts it for the next line.
   */
  warn(kind: string, fields: object, message: string): void {
    const now = this.options.clock.now();
    const k = this.kinds.get(kind);
    if (k && now - k.at < this.intervalMs) {
      k.suppressed++;
      k.fields = fields;
      k.message = message;
      return;
    }
    const count = (k?.suppressed ?? 0) + 1;
    this.options.log?.warn({ ...fields, count }, message);
    if (!k && this.kinds.size >= this.maxKinds) {
      const oldest = this.kinds.keys().next().value;
      if (oldest !== undefined) this.kinds.delete(oldest);
    }
    this.kinds.set(kind, { at: now, suppressed: 0, fields, message });
  }

  /** Logs every kind with occurrences not yet logged (e.g. at shutdown). */
  flush(): void {
    const now = this.options.clock.now();
    for (const k of this.kinds.values()) {
      if (k.suppressed === 0) continue;
      this.options.log?.warn({ ...k.fields, count: k.suppressed }, k.message);
      k.suppressed = 0;
      k.at = now;
    }
  }
}
