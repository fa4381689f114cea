/**
 * OTLP/HTTP export through the official OpenTelemetry exporters. Endpoint, headers, TLS
 * certificates, compression and timeouts come from the standard `OTEL_EXPORTER_OTLP_*`
 * variables (read by the exporter itself) unless given here.
 */
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

/** OTLP/HTTP encodings. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

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

/** The OTLP protocol the environment asks for. */
export function otlpProtocolFromEnv(env: NodeJS.ProcessEnv = process.env): OtlpProtocol {
  const p = (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ??
    env.OTEL_EXPORTER_OTLP_PROTOCOL ??
    'http/protobuf'
  ).trim();
  if (p === 'http/protobuf' || p === 'http/json') return p;
  throw new TracerError(
    ErrorCode.Config,
    `OTEL_EXPORTER_OTLP_PROTOCOL=${p} is not supported: use http/protobuf or http/json`,
  );
}

/** True when the environment names an OTLP endpoint. */
export function otlpEndpointConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
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
