/**
 * @traceable-ebpf/exporters: API exchanges as OpenTelemetry spans, and where they go.
 * @packageDocumentation
 */
export {
  createSpanMapper,
  exchangeToSpan,
  parseTraceparent,
  DEFAULT_REDACTED_HEADERS,
  REDACTED,
  type SpanMappingOptions,
} from './span-mapping.js';
export { toSpans, exportSpans, type ExportSpansOptions } from './operators.js';
export {
  ConsoleLineExporter,
  JsonlExporter,
  formatSpanLine,
  spanToJson,
  type LineSink,
} from './line-exporters.js';
export {
  createOtlpExporter,
  otlpProtocolFromEnv,
  otlpEndpointConfigured,
  type OtlpProtocol,
  type OtlpExporterOptions,
} from './otlp.js';
export type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
