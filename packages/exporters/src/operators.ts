import { Observable, map, type OperatorFunction } from 'rxjs';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Stats, type ApiExchange } from '@traceable-ebpf/core';
import { createSpanMapper, type SpanMappingOptions } from './span-mapping.js';

/** Maps each exchange to an OpenTelemetry span. */
export function toSpans(
  options: SpanMappingOptions = {},
): OperatorFunction<ApiExchange, ReadableSpan> {
  return (source) => {
    const mapper = createSpanMapper(options);
    return source.pipe(map(mapper));
  };
}

/** Options of {@link exportSpans}. */
export interface ExportSpansOptions {
  /** Spans waiting for export; past it new spans are dropped and counted. Default 8192. */
  readonly maxQueueSize?: number;
  /** Spans per export call. Default 512. */
  readonly maxBatchSize?: number;
  /** How long a partial batch waits. Default 500 ms. */
  readonly scheduledDelayMs?: number;
  /** Where the counters go. Default: a new set. */
  readonly stats?: Stats;
  /** Told about each failed export (for a rate-limited log line). */
  readonly onExportError?: (error: Error | undefined, spans: number) => void;
}

/**
 * Sends spans to an OpenTelemetry {@link SpanExporter} in batches, one export in flight at a time,
 * and passes each span on once its batch was accepted. The queue is bounded: what doesn't fit is
 * dropped and counted (`SpansDroppedAtExportQueue`); failed batches count `SpansExportFailed`.
 * On completion of the source it exports what is queued, then completes.
 */
export function exportSpans(
  exporter: SpanExporter,
  options: ExportSpansOptions = {},
): OperatorFunction<ReadableSpan, ReadableSpan> {
  const maxQueueSize = options.maxQueueSize ?? 8192;
  const maxBatchSize = options.maxBatchSize ?? 512;
  const delay = options.scheduledDelayMs ?? 500;
  const stats = options.stats ?? new Stats();

  return (source) =>
    new Observable<ReadableSpan>((subscriber) => {
      let queue: ReadableSpan[] = [];
      let inFlight = false;
      let sourceDone = false;
      let timer: NodeJS.Timeout | undefined;

      const pump = () => {
        if (inFlight) return;
        if (timer) {
          clearTimeout(timer);
          timer = undefined;
        }
        if (queue.length === 0) {
          if (sourceDone) subscriber.complete();
          return;
        }
        const batch = queue.slice(0, maxBatchSize);
        queue = queue.slice(batch.length);
        inFlight = true;
        exporter.export(batch, (result) => {
          inFlight = false;
          if (result.code === ExportResultCode.SUCCESS) {
            stats.inc('TotalRequestsSent', batch.length);
            for (const s of batch) subscriber.next(s);
          } else {
            stats.inc('SpansExportFailed', batch.length);
            options.onExportError?.(result.error, batch.length);
          }
          if (queue.length >= maxBatchSize || sourceDone) pump();
          else schedule();
        });
      };

      const schedule = () => {
        if (!timer && queue.length > 0) timer = setTimeout(pump, delay);
      };

      const subscription = source.subscribe({
        next(span) {
          if (queue.length >= maxQueueSize) {
            stats.inc('SpansDroppedAtExportQueue');
            return;
          }
          queue.push(span);
          if (queue.length >= maxBatchSize) pump();
          else schedule();
        },
        error: (err) => subscriber.error(err),
        complete() {
          sourceDone = true;
          pump();
        },
      });
      return () => {
        if (timer) clearTimeout(timer);
        subscription.unsubscribe();
      };
    });
}
