/**
 * The interface of exporters that take spans one at a time and do their own batching, queueing
 * and delivery (the project's OTLP exporter): {@link exportSpans} hands them each span as it
 * comes instead of holding span objects in a queue of its own.
 */
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { DrainResult } from './delivery-queue.js';

/** A {@link SpanExporter} that also takes spans one at a time. */
export interface StreamingSpanExporter extends SpanExporter {
  /** Takes one span: encoded at once, sent with its batch. Never throws; losses are counted. */
  offer(span: ReadableSpan): void;
  /** Encoded bytes waiting for delivery or in flight. */
  readonly queuedBytes: number;
  /** Past this many queued bytes a source that can wait should (see `FlowControl`). */
  readonly highWaterBytes: number;
  /** Resolves once the queued bytes are at most `bytes`. */
  whenBelow(bytes: number): Promise<void>;
  /**
   * Sends everything held (the open batch included), retrying as usual, for at most
   * `timeoutMs`; then drops what is left, counting it, and resolves with how much that was.
   */
  drain(timeoutMs: number): Promise<DrainResult>;
  /** Sends the open batch and resolves once everything held so far is delivered or dropped. */
  forceFlush(): Promise<void>;
}

/** True for an exporter that implements {@link StreamingSpanExporter}. */
export function isStreamingExporter(e: SpanExporter): e is StreamingSpanExporter {
  const s = e as Partial<StreamingSpanExporter>;
  return typeof s.offer === 'function' && typeof s.drain === 'function';
}
