/**
 * OTLP/HTTP exporters by name: the project's own (default; see {@link OtlpExporter}) or the
 * official OpenTelemetry ones. Endpoint, headers, TLS certificates, compression and timeouts
 * come from the options (the config file) over the standard `OTEL_EXPORTER_OTLP_*` variables.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Stats } from '@traceable-ebpf/core';
import type { DeliveryLog } from './delivery-types.js';
import { otlpClientOptionsFrom, otlpProtocolFromEnv, type OtlpProtocol } from './otlp-env.js';
import { OtlpExporter } from './otlp-exporter.js';
import { createOtlpHttpClient, type OtlpCompression } from './otlp-http-client.js';

// These live in otlp-env.ts (beside the rest of the OTEL_EXPORTER_OTLP_* reading); exported
// from here still for the callers that import them from this module.
export { otlpProtocolFromEnv, otlpEndpointConfigured, type OtlpProtocol } from './otlp-env.js';

/** Options of {@link createOtlpExporter}. */
export interface OtlpExporterOptions {
  /**
   * `traceable` (default): the project's exporter, encoding straight from spans, a queue
   * bounded in bytes, retries. `official`: OpenTelemetry's exporter (for comparison).
   */
  readonly implementation?: 'traceable' | 'official';
  /** Full traces URL (…/v1/traces). Default: from the OTEL_EXPORTER_OTLP_* variables. */
  readonly url?: string;
  /** Default: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf. */
  readonly protocol?: OtlpProtocol;
  /** Extra request headers (over OTEL_EXPORTER_OTLP_HEADERS). */
  readonly headers?: Record<string, string>;
  /** Request timeout. Default OTEL_EXPORTER_OTLP_TIMEOUT, else 10 s. */
  readonly timeoutMillis?: number;
  /** Default OTEL_EXPORTER_OTLP_COMPRESSION, else none. */
  readonly compression?: OtlpCompression;
  /** PEM CA certificate(s) to trust (over OTEL_EXPORTER_OTLP_CERTIFICATE's file). */
  readonly ca?: Buffer | string;
  /** PEM client certificate and key for mutual TLS (over the CLIENT_* variables' files). */
  readonly cert?: Buffer | string;
  /** PEM private key of {@link OtlpExporterOptions.cert}. */
  readonly key?: Buffer | string;
  /** Spans per request. Default 4096. */
  readonly maxBatchSpans?: number;
  /** Bytes per request. Default 1 MiB, at most a quarter of `maxQueueBytes`. */
  readonly maxBatchBytes?: number;
  /** Most time a span waits for its batch to fill. Default 200 ms. */
  readonly batchDelayMs?: number;
  /** Bound of the delivery queue in encoded bytes. Default 256 MiB. */
  readonly maxQueueBytes?: number;
  /** Requests in flight at once. Default 4. */
  readonly maxInFlight?: number;
  /** How long `shutdown()` delivers what is held before dropping it. Default 5000 ms. */
  readonly shutdownTimeoutMs?: number;
  /** Delivery counters (the project's exporter). */
  readonly stats?: Stats;
  /** Outage and refusal lines (the project's exporter). */
  readonly log?: DeliveryLog;
  /** Where the variables come from. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** An OTLP/HTTP span exporter (protobuf or JSON). Throws a one-line config error for bad settings. */
export function createOtlpExporter(options: OtlpExporterOptions = {}): SpanExporter {
  const env = options.env ?? process.env;
  if (options.implementation === 'official') {
    const protocol = options.protocol ?? otlpProtocolFromEnv(env);
    const config = {
      ...(options.url ? { url: options.url } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.timeoutMillis ? { timeoutMillis: options.timeoutMillis } : {}),
    };
    return new DeferredExporter(async () =>
      protocol === 'http/json'
        ? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(config)
        : new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(config),
    );
  }
  const maxInFlight = options.maxInFlight ?? 4;
  const client = otlpClientOptionsFrom({
    env,
    explicit: {
      ...(options.url ? { url: options.url } : {}),
      ...(options.protocol ? { protocol: options.protocol } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.timeoutMillis ? { timeoutMs: options.timeoutMillis } : {}),
      ...(options.compression ? { compression: options.compression } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.cert ? { cert: options.cert } : {}),
      ...(options.key ? { key: options.key } : {}),
      maxSockets: maxInFlight,
    },
  });
  // A request may take at most a quarter of the queue, so several fit in flight at once.
  const maxQueueBytes = options.maxQueueBytes ?? 256 << 20;
  const maxBatchBytes = Math.min(options.maxBatchBytes ?? 1 << 20, Math.floor(maxQueueBytes / 4));
  return new OtlpExporter({
    sender: createOtlpHttpClient(client),
    protocol: client.protocol ?? 'http/protobuf',
    maxInFlight,
    maxBatchBytes,
    maxQueueBytes,
    ...(options.maxBatchSpans ? { maxBatchSpans: options.maxBatchSpans } : {}),
    ...(options.shutdownTimeoutMs !== undefined
      ? { shutdownTimeoutMs: options.shutdownTimeoutMs }
      : {}),
    ...(options.batchDelayMs !== undefined ? { batchDelayMs: options.batchDelayMs } : {}),
    ...(options.stats ? { stats: options.stats } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
}

/**
 * An exporter loaded when it is made, used once loaded: the official exporters (and protobufjs
 * under them) cost ~5 MiB of the tracer's resident memory, paid only by the processes that
 * choose them.
 */
class DeferredExporter implements SpanExporter {
  private readonly loaded: Promise<SpanExporter>;
  constructor(load: () => Promise<SpanExporter>) {
    this.loaded = load();
    // A failed load is reported by each call; not an unhandled rejection meanwhile.
    this.loaded.catch(() => undefined);
  }
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.loaded.then(
      (e) => e.export(spans, done),
      (error: Error) => done({ code: ExportResultCode.FAILED, error }),
    );
  }
  shutdown(): Promise<void> {
    return this.loaded.then((e) => e.shutdown());
  }
  forceFlush(): Promise<void> {
    return this.loaded.then((e) => e.forceFlush?.());
  }
}
