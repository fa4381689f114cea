/**
 * The project's OTLP/HTTP exporter: spans are encoded the moment they arrive (protobuf or JSON,
 * straight into reused buffers), sealed into requests by count, bytes or age, and delivered by a
 * queue bounded in bytes, with several requests in flight on keep-alive connections and
 * retries by the OTLP specification's rules. It is an OpenTelemetry `SpanExporter` (usable
 * with any span processor) and a {@link StreamingSpanExporter} (what `exportSpans` feeds span
 * by span).
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Stats } from '@traceable-ebpf/core';
import type { DeliveryClock, DeliveryLog, Sender } from './delivery-types.js';
import { DeliveryQueue, type DrainResult } from './delivery-queue.js';
import { createBatchEncoder, type BatchEncoder } from './otlp-batch.js';
import type { OtlpProtocol } from './otlp-env.js';
import type { StreamingSpanExporter } from './streaming-exporter.js';

/** Options of {@link OtlpExporter}. */
export interface OtlpExporterCoreOptions {
  /** Sends request bodies (an OTLP/HTTP client, or anything else that takes them). */
  readonly sender: Sender;
  /** Body encoding; must match what the sender declares. */
  readonly protocol: OtlpProtocol;
  /** Spans per request. Default 4096. */
  readonly maxBatchSpans?: number;
  /** Encoded bytes per request (a larger single span still goes, alone). Default 1 MiB. */
  readonly maxBatchBytes?: number;
  /** How long the first span of a batch waits for others. Default 200 ms. */
  readonly batchDelayMs?: number;
  /**
   * Encoded bytes waiting or in flight; past it, new batches are dropped and counted
   * (`SpansDroppedAtExportQueue`). Default 256 MiB: a 60 s outage at 2,000 requests/s of
   * ~1.3 KB spans is 156 MB.
   */
  readonly maxQueueBytes?: number;
  /** Requests in flight at once. Default 4. */
  readonly maxInFlight?: number;
  /** Delivery counters. Default: a new set. */
  readonly stats?: Stats;
  /** Outage and refusal lines. */
  readonly log?: DeliveryLog;
  /** Time (tests give a fake one). */
  readonly clock?: DeliveryClock;
  /** How long {@link OtlpExporter.shutdown} delivers before dropping. Default 5000 ms. */
  readonly shutdownTimeoutMs?: number;
}

/** Encodes spans as they come and hands sealed requests to a {@link DeliveryQueue}. */
export class OtlpExporter implements StreamingSpanExporter {
  private readonly encoder: BatchEncoder;
  private readonly protocol: OtlpProtocol;
  private readonly queue: DeliveryQueue;
  private readonly sender: Sender;
  private readonly stats: Stats;
  private readonly maxBatchSpans: number;
  private readonly maxBatchBytes: number;
  private readonly batchDelayMs: number;
  private readonly shutdownTimeoutMs: number;
  /** Encodes the spans of `export()` calls. */
  private exportEncoder: BatchEncoder | undefined;
  private timer: NodeJS.Timeout | undefined;
  private drained: Promise<DrainResult> | undefined;
  private shutDown: Promise<void> | undefined;
  /** Past it, a source that can wait should (half the queue bound). */
  readonly highWaterBytes: number;

  constructor(options: OtlpExporterCoreOptions) {
    this.protocol = options.protocol;
    this.encoder = createBatchEncoder(options.protocol);
    this.sender = options.sender;
    this.stats = options.stats ?? new Stats();
    this.maxBatchSpans = options.maxBatchSpans ?? 4096;
    this.maxBatchBytes = options.maxBatchBytes ?? 1 << 20;
    this.batchDelayMs = options.batchDelayMs ?? 200;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5000;
    const maxQueueBytes = options.maxQueueBytes ?? 256 << 20;
    this.highWaterBytes = Math.floor(maxQueueBytes / 2);
    this.queue = new DeliveryQueue({
      sender: options.sender,
      maxQueueBytes,
      maxInFlight: options.maxInFlight ?? 4,
      stats: this.stats,
      ...(options.log ? { log: options.log } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
  }

  /** Encoded bytes waiting, in flight, or in the open batch. */
  get queuedBytes(): number {
    return this.queue.bytes + this.encoder.bytes;
  }

  offer(span: ReadableSpan): void {
    if (this.drained) {
      this.stats.inc('SpansDroppedAtShutdown');
      return;
    }
    this.encoder.append(span);
    if (this.full(this.encoder)) this.seal();
    else if (!this.timer) this.timer = setTimeout(() => this.seal(), this.batchDelayMs);
  }

  /** A batch with as many spans or bytes as a request takes. */
  private full(enc: BatchEncoder): boolean {
    return enc.spans >= this.maxBatchSpans || enc.bytes >= this.maxBatchBytes;
  }

  /** Seals the open batch into the queue. */
  private seal(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.encoder.seal();
    // The body's memory goes back to the encoder once delivered or dropped.
    if (batch) this.queue.enqueue(batch, () => batch.release?.());
  }

  whenBelow(bytes: number): Promise<void> {
    return this.queue.whenBelow(bytes);
  }

  /**
   * The `SpanExporter` path: these spans become requests of their own (apart from streamed
   * ones), and `done` is told SUCCESS once all of them were delivered.
   */
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (this.drained) {
      this.stats.inc('SpansDroppedAtShutdown', spans.length);
      done({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
      return;
    }
    // Encoded apart from the streamed spans' open batch (an export is encoded whole, at once).
    const enc = (this.exportEncoder ??= createBatchEncoder(this.protocol));
    let pending = 0;
    let failed = false;
    let sealedAll = false;
    const report = () =>
      done(
        failed
          ? { code: ExportResultCode.FAILED, error: new Error('spans were not delivered') }
          : { code: ExportResultCode.SUCCESS },
      );
    const settle = (delivered: boolean) => {
      failed ||= !delivered;
      if (--pending === 0 && sealedAll) report();
    };
    const sealOne = () => {
      const batch = enc.seal();
      if (!batch) return;
      pending++;
      this.queue.enqueue(batch, (delivered) => {
        batch.release?.();
        settle(delivered);
      });
    };
    for (const span of spans) {
      enc.append(span);
      if (this.full(enc)) sealOne();
    }
    sealOne();
    sealedAll = true;
    // Everything may have settled already (a full queue refuses at once).
    if (pending === 0) report();
  }

  drain(timeoutMs: number): Promise<DrainResult> {
    if (!this.drained) {
      this.seal();
      this.drained = this.queue.drain(timeoutMs);
    }
    return this.drained as Promise<DrainResult>;
  }

  /** Seals the open batch and resolves once everything queued so far has settled. */
  async forceFlush(): Promise<void> {
    this.seal();
    await this.queue.flush();
  }

  /** Delivers what is held (up to the shutdown timeout), then closes connections. Idempotent. */
  shutdown(): Promise<void> {
    this.shutDown ??= this.drain(this.shutdownTimeoutMs).then(() => this.sender.close());
    return this.shutDown;
  }
}
