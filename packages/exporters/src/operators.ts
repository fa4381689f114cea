import { Observable, map, type OperatorFunction } from 'rxjs';
import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Stats, type ApiExchange, type FlowControl } from '@traceable-ebpf/core';
import { createSpanMapper, type SpanMappingOptions } from './span-mapping.js';
import { isStreamingExporter, type StreamingSpanExporter } from './streaming-exporter.js';

/**
 * Maps each exchange to an OpenTelemetry span.
 *
 * @example
 * ```ts
 * import { Stats, reassemble } from '@traceable-ebpf/core';
 * import { replaySource } from '@traceable-ebpf/bpf-source';
 * import { parseHttp } from '@traceable-ebpf/parsers';
 * import { toSpans } from '@traceable-ebpf/exporters';
 *
 * const stats = new Stats();
 * replaySource('session.rec')
 *   .pipe(
 *     reassemble({ stats }),
 *     parseHttp({ stats }),
 *     toSpans({ serviceName: 'shop', captureBodies: true }),
 *   )
 *   .subscribe((span) => console.log(span.name, span.attributes['url.path']));
 * ```
 */
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
  /**
   * Generic exporters: spans waiting for export; past it new spans are dropped and counted.
   * Default 8192. (A {@link StreamingSpanExporter} bounds its queue in bytes itself.)
   */
  readonly maxQueueSize?: number;
  /** Generic exporters: spans per export call. Default 512. */
  readonly maxBatchSize?: number;
  /** Generic exporters: how long a partial batch waits. Default 500 ms. */
  readonly scheduledDelayMs?: number;
  /** Generic exporters: export calls in flight at once. Default 2. */
  readonly maxExportsInFlight?: number;
  /**
   * When the source completes, how long delivery of what is held may take; what is still
   * undelivered then is dropped and counted (`SpansDroppedAtShutdown`). Default 5000 ms.
   */
  readonly drainTimeoutMs?: number;
  /**
   * When given, delivery after the source completes has no deadline until this emits: a replay
   * ends at the end of its file and then waits for the collector however long it takes; the
   * deadline counts from the moment this emits (at once if it already has). Without it, the
   * deadline counts from completion (a live source completes because it was stopped).
   */
  readonly stop?: Observable<unknown>;
  /**
   * Backpressure for a source that can wait (a replay): paused while the exporter's queue is
   * past its high-water mark, resumed when it has drained to half of that.
   */
  readonly flow?: FlowControl;
  /** Where the counters go. Default: a new set. */
  readonly stats?: Stats;
  /** Generic exporters: told about each failed export (for a rate-limited log line). */
  readonly onExportError?: (error: Error | undefined, spans: number) => void;
}

/** What {@link exportSpans} emits once its source has completed and delivery has ended. */
export interface ExportSummary {
  /** Spans still undelivered at the drain deadline (dropped, counted in `SpansDroppedAtShutdown`). */
  readonly undelivered: number;
}

/**
 * Sends spans to an exporter and emits one {@link ExportSummary} when the source has completed
 * and everything held was delivered (or the drain deadline passed).
 *
 * A {@link StreamingSpanExporter} (the project's OTLP exporter) takes each span as it comes and
 * batches, queues (bounded in bytes), retries and delivers by itself. Any other OpenTelemetry
 * {@link SpanExporter} gets batches from a bounded queue here: what doesn't fit is dropped and
 * counted (`SpansDroppedAtExportQueue`); failed batches count `SpansExportFailed`, accepted ones
 * `TotalRequestsSent`.
 *
 * @example
 * ```ts
 * import { FlowControl, Stats, reassemble } from '@traceable-ebpf/core';
 * import { replaySource } from '@traceable-ebpf/bpf-source';
 * import { parseHttp } from '@traceable-ebpf/parsers';
 * import { createOtlpExporter, exportSpans, toSpans } from '@traceable-ebpf/exporters';
 *
 * // A replay to a collector: the file is read as fast as the collector takes the spans.
 * const stats = new Stats();
 * const flow = new FlowControl();
 * const exporter = createOtlpExporter({ url: 'http://127.0.0.1:4318/v1/traces', stats });
 * replaySource('session.rec', { flow })
 *   .pipe(
 *     reassemble({ stats }),
 *     parseHttp({ stats }),
 *     toSpans(),
 *     exportSpans(exporter, { stats, flow }),
 *   )
 *   .subscribe(({ undelivered }) => console.log(`done, ${undelivered} spans undelivered`));
 * ```
 */
export function exportSpans(
  exporter: SpanExporter,
  options: ExportSpansOptions = {},
): OperatorFunction<ReadableSpan, ExportSummary> {
  return isStreamingExporter(exporter) ? streamTo(exporter, options) : batchTo(exporter, options);
}

/**
 * When delivery after the source may start its deadline: at the source's completion, or, with
 * a `stop` signal, once both the source has completed and the signal has come (in either
 * order). Calls `start` once.
 */
function drainDeadline(stop: Observable<unknown> | undefined, start: () => void) {
  let sourceDone = false;
  let stopped = stop === undefined;
  let started = false;
  const go = () => {
    if (started || !sourceDone || !stopped) return;
    started = true;
    start();
  };
  const sub = stop?.subscribe(() => {
    stopped = true;
    go();
  });
  return {
    /** The source completed. */
    sourceDone() {
      sourceDone = true;
      go();
    },
    unsubscribe: () => sub?.unsubscribe(),
  };
}

function streamTo(
  exporter: StreamingSpanExporter,
  options: ExportSpansOptions,
): OperatorFunction<ReadableSpan, ExportSummary> {
  const drainMs = options.drainTimeoutMs ?? 5000;
  const flow = options.flow;
  return (source) =>
    new Observable<ExportSummary>((subscriber) => {
      let draining = false;
      const drain = () => {
        if (draining) return;
        draining = true;
        void exporter.drain(drainMs).then(
          ({ undelivered }) => {
            if (subscriber.closed) return;
            subscriber.next({ undelivered });
            subscriber.complete();
          },
          (err: unknown) => subscriber.error(err),
        );
      };
      const deadline = drainDeadline(options.stop, drain);
      const subscription = source.subscribe({
        next(span) {
          exporter.offer(span);
          if (flow && !flow.paused && exporter.queuedBytes >= exporter.highWaterBytes) {
            flow.pause();
            void exporter.whenBelow(exporter.highWaterBytes / 2).then(() => flow.resume());
          }
        },
        error: (err) => subscriber.error(err),
        complete() {
          deadline.sourceDone();
          // No deadline yet: everything is delivered first, or the stop signal sets one.
          if (!draining) void exporter.forceFlush().then(drain, drain);
        },
      });
      return () => {
        deadline.unsubscribe();
        subscription.unsubscribe();
        flow?.resume();
      };
    });
}

function batchTo(
  exporter: SpanExporter,
  options: ExportSpansOptions,
): OperatorFunction<ReadableSpan, ExportSummary> {
  const maxQueueSize = options.maxQueueSize ?? 8192;
  const maxBatchSize = options.maxBatchSize ?? 512;
  const delay = options.scheduledDelayMs ?? 500;
  const maxInFlight = Math.max(1, options.maxExportsInFlight ?? 2);
  const drainMs = options.drainTimeoutMs ?? 5000;
  const stats = options.stats ?? new Stats();
  const flow = options.flow;

  return (source) =>
    new Observable<ExportSummary>((subscriber) => {
      const queue: ReadableSpan[] = [];
      let inFlight = 0;
      let inFlightSpans = 0;
      let sourceDone = false;
      let finished = false;
      let timer: NodeJS.Timeout | undefined;
      let deadline: NodeJS.Timeout | undefined;

      const finish = (undelivered: number) => {
        if (finished) return;
        finished = true;
        if (timer) clearTimeout(timer);
        if (deadline) clearTimeout(deadline);
        if (undelivered > 0) stats.inc('SpansDroppedAtShutdown', undelivered);
        subscriber.next({ undelivered });
        subscriber.complete();
      };

      /** Sends full batches (and partial ones when `partial` or the source is done). */
      const pump = (partial = false) => {
        if (finished) return;
        while (
          inFlight < maxInFlight &&
          queue.length > 0 &&
          (partial || sourceDone || queue.length >= maxBatchSize)
        ) {
          send(queue.splice(0, maxBatchSize));
        }
        if (flow?.paused && queue.length < maxQueueSize / 4) flow.resume();
        if (sourceDone && queue.length === 0 && inFlight === 0) {
          finish(0);
          return;
        }
        // A partial batch waits at most `delay`.
        if (queue.length > 0 && !timer)
          timer = setTimeout(() => {
            timer = undefined;
            pump(true);
          }, delay);
      };

      const send = (batch: ReadableSpan[]) => {
        inFlight++;
        inFlightSpans += batch.length;
        exporter.export(batch, (result) => {
          inFlight--;
          inFlightSpans -= batch.length;
          if (finished) return;
          if (result.code === ExportResultCode.SUCCESS) {
            stats.inc('TotalRequestsSent', batch.length);
          } else {
            stats.inc('SpansExportFailed', batch.length);
            options.onExportError?.(result.error, batch.length);
          }
          pump();
        });
      };

      const drainEnd = drainDeadline(options.stop, () => {
        deadline = setTimeout(() => finish(queue.length + inFlightSpans), drainMs);
      });
      const subscription = source.subscribe({
        next(span) {
          if (queue.length >= maxQueueSize) {
            stats.inc('SpansDroppedAtExportQueue');
            return;
          }
          queue.push(span);
          if (flow && !flow.paused && queue.length >= maxQueueSize / 2) flow.pause();
          // A full batch goes now; a partial one starts its timer.
          if (queue.length >= maxBatchSize || !timer) pump();
        },
        error: (err) => subscriber.error(err),
        complete() {
          sourceDone = true;
          drainEnd.sourceDone();
          pump();
        },
      });
      return () => {
        finished = true;
        if (timer) clearTimeout(timer);
        if (deadline) clearTimeout(deadline);
        drainEnd.unsubscribe();
        subscription.unsubscribe();
        flow?.resume();
      };
    });
}
