/**
 * @traceable-ebpf/exporters: API exchanges as OpenTelemetry spans, and where they go.
 * @packageDocumentation
 */
export {
  createSpanMapper,
  exchangeToSpan,
  DEFAULT_REDACTED_HEADERS,
  REDACTED,
  type SpanMappingOptions,
} from './span-mapping.js';
export { toSpans, exportSpans, type ExportSpansOptions, type ExportSummary } from './operators.js';
export type { StreamingSpanExporter } from './streaming-exporter.js';
export { OtlpExporter, type OtlpExporterCoreOptions } from './otlp-exporter.js';
export { createBatchEncoder, type BatchEncoder } from './otlp-batch.js';
export { ConsoleLineExporter, JsonlExporter, type LineSink } from './line-exporters.js';
export {
  createOtlpExporter,
  otlpProtocolFromEnv,
  otlpEndpointConfigured,
  type OtlpProtocol,
  type OtlpExporterOptions,
} from './otlp.js';
export type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
export { ExportResultCode, type ExportResult } from '@opentelemetry/core';
export type {
  EncodedBatch,
  SendOutcome,
  Sender,
  DeliveryClock,
  DeliveryLog,
} from './delivery-types.js';
export { DeliveryQueue, type DeliveryQueueOptions, type DrainResult } from './delivery-queue.js';
export {
  createOtlpHttpClient,
  type OtlpHttpClientOptions,
  type OtlpCompression,
} from './otlp-http-client.js';
export { otlpClientOptionsFrom, type OtlpClientOptionsSources } from './otlp-env.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy, type RandomSource } from './retry-policy.js';
