/**
 * OTLP/HTTP export through the official OpenTelemetry exporters. Endpoint, headers, TLS
 * certificates, compression and timeouts come from the standard `OTEL_EXPORTER_OTLP_*`
 * variables (read by the exporter itself) unless given here.
 */
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { otlpProtocolFromEnv, type OtlpProtocol } from './otlp-env.js';

// These moved to otlp-env.ts (beside the rest of the OTEL_EXPORTER_OTLP_* reading); exported
// from here still for the callers that import them from this module.
export { otlpProtocolFromEnv, otlpEndpointConfigured, type OtlpProtocol } from './otlp-env.js';

/** Options of {@link createOtlpExporter}. */
export interface OtlpExporterOptions {
  /** Full traces URL (…/v1/traces). Default: from the OTEL_EXPORTER_OTLP_* variables. */
  readonly url?: string;
  /** Default: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf. */
  readonly protocol?: OtlpProtocol;
  /** Extra request headers. */
  readonly headers?: Record<string, string>;
  /** Request timeout. Default 10 s. */
  readonly timeoutMillis?: number;
}

/** An OTLP/HTTP span exporter (protobuf or JSON). */
export function createOtlpExporter(options: OtlpExporterOptions = {}): SpanExporter {
  const protocol = options.protocol ?? otlpProtocolFromEnv();
  const config = {
    ...(options.url ? { url: options.url } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.timeoutMillis ? { timeoutMillis: options.timeoutMillis } : {}),
  };
  return protocol === 'http/json' ? new OtlpJsonExporter(config) : new OtlpProtoExporter(config);
}
