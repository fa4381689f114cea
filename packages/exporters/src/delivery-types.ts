/**
 * The contract between the OTLP encoder (which turns spans into request bodies) and delivery
 * (which gets those bodies to the collector: queue, retries, HTTP). Encoded bodies are what
 * waits while the collector is away, so the queue is bounded in bytes, not in span objects.
 */

/** One ready request body: an encoded `ExportTraceServiceRequest`. */
export interface EncodedBatch {
  /** The body as the collector receives it (before any transfer compression). */
  readonly body: Uint8Array;
  /** Spans it holds. */
  readonly spans: number;
  /**
   * Hands the body's memory back for reuse; whoever holds the batch calls it once, when the
   * body is no longer needed (delivered or dropped). Optional.
   */
  readonly release?: () => void;
}

/** How one attempt to send a body ended. */
export type SendOutcome =
  /** 2xx. `rejectedSpans` from `partial_success` (0 when absent). */
  | {
      /** Accepted. */
      readonly kind: 'ok';
      /** Spans the collector refused anyway (`partial_success.rejected_spans`). */
      readonly rejectedSpans: number;
      /** `partial_success.error_message`, if any. */
      readonly message?: string;
    }
  /**
   * Worth another try (OTLP/HTTP rules): a connection error or timeout, or 429, 502, 503, 504.
   * `retryAfterMs` from a `Retry-After` header.
   */
  | {
      /** Try again later. */
      readonly kind: 'retryable';
      /** What went wrong, one line. */
      readonly message: string;
      /** The HTTP status, when there was an answer. */
      readonly status?: number;
      /** The collector's `Retry-After`, in ms. */
      readonly retryAfterMs?: number;
    }
  /** Never to be retried (any other answer): the spans are dropped. */
  | {
      /** Dropped. */
      readonly kind: 'rejected';
      /** The HTTP status. */
      readonly status: number;
      /** What the collector said, one line. */
      readonly message: string;
    };

/** Sends request bodies to the collector. */
export interface Sender {
  /** One attempt. Never rejects: failures are outcomes. Aborting ends the attempt as retryable. */
  send(body: Uint8Array, signal?: AbortSignal): Promise<SendOutcome>;
  /** Closes idle connections; idempotent. */
  close(): void;
}

/** Time, replaceable by a fake clock in tests. */
export interface DeliveryClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Calls `fn` once after `ms`; returns a handle for {@link DeliveryClock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer {@link DeliveryClock.setTimeout} returned. */
  clearTimeout(handle: unknown): void;
}

/** Where delivery reports outages and refusals (a pino logger fits). */
export interface DeliveryLog {
  /** A notable event (an outage ended). */
  info(fields: object, message: string): void;
  /** Something lost or at risk (an outage began, spans dropped). */
  warn(fields: object, message: string): void;
}
