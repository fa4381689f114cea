/**
 * When to try an export request again: exponential backoff with jitter, and the collector's
 * `Retry-After`. Pure functions; randomness is injectable so tests are exact.
 *
 * Defaults: first retry after 1 s, doubling, capped at 5 s, ±20 % jitter. The low cap is on
 * purpose: while the collector is away delivery sends a single probe at a time, so a retry every
 * ~5 s costs the collector nothing, and a collector back after a 20 s outage gets data within about
 * 5 s (a 30 s cap would leave it idle for up to half a minute). `Retry-After` is honoured (the
 * retry is never earlier than it), capped at 60 s so an absurd value can't stall delivery.
 */

/** Backoff settings. Every field optional; see {@link DEFAULT_RETRY_POLICY}. */
export interface RetryPolicy {
  /** Delay before the first retry, in ms. */
  readonly initialMs?: number;
  /** Growth factor from one retry to the next. */
  readonly multiplier?: number;
  /** Largest backoff before jitter, in ms. */
  readonly maxMs?: number;
  /** Relative jitter: the delay is spread uniformly over ±`jitter` of itself (0..1). */
  readonly jitter?: number;
  /** Largest `Retry-After` honoured, in ms; longer asks are cut to this. */
  readonly maxRetryAfterMs?: number;
}

/** The defaults: 1 s, ×2, at most 5 s, ±20 % jitter, `Retry-After` capped at 60 s. */
export const DEFAULT_RETRY_POLICY: Required<RetryPolicy> = {
  initialMs: 1000,
  multiplier: 2,
  maxMs: 5000,
  jitter: 0.2,
  maxRetryAfterMs: 60_000,
};

/** A random number in [0, 1), as `Math.random` gives. */
export type RandomSource = () => number;

function resolved(policy: RetryPolicy | undefined): Required<RetryPolicy> {
  return { ...DEFAULT_RETRY_POLICY, ...policy };
}

/**
 * The backoff before retry number `attempt` (1 = the first retry), jitter included: the base
 * delay `initialMs × multiplier^(attempt-1)`, capped at `maxMs`, spread by ±`jitter`.
 */
export function backoffDelayMs(
  attempt: number,
  policy?: RetryPolicy,
  random: RandomSource = Math.random,
): number {
  const p = resolved(policy);
  const n = Math.max(1, Math.floor(attempt));
  const base = Math.min(p.maxMs, p.initialMs * Math.pow(p.multiplier, n - 1));
  const jitter = Math.min(1, Math.max(0, p.jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(base * (1 + jitter * (2 * r - 1))));
}

/**
 * The delay before retry number `attempt`: the backoff, or the collector's `Retry-After` when it
 * asks for longer (capped at `maxRetryAfterMs`). Taking the later of the two keeps a collector
 * answering `Retry-After: 0` from making delivery spin.
 */
export function retryDelayMs(
  attempt: number,
  retryAfterMs: number | undefined,
  policy?: RetryPolicy,
  random: RandomSource = Math.random,
): number {
  const backoff = backoffDelayMs(attempt, policy, random);
  if (retryAfterMs === undefined || !Number.isFinite(retryAfterMs)) return backoff;
  const asked = Math.min(resolved(policy).maxRetryAfterMs, Math.max(0, retryAfterMs));
  return Math.max(backoff, Math.ceil(asked));
}

/**
 * A `Retry-After` header value in ms from `nowMs` (epoch ms, for an HTTP-date): delta-seconds
 * (`120`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`; a past date is 0). Undefined when
 * absent or unparsable.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return undefined; // a negative or fractional number is not a date either
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}
