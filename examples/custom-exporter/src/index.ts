/**
 * @traceable-ebpf/webhook-exporter: an exporter plugin that POSTs spans as NDJSON to a webhook.
 * Use {@link WebhookExporter} wherever OpenTelemetry takes a SpanExporter; the reference tracer
 * loads it through {@link createExporter} (`exporter.type: module`).
 * @packageDocumentation
 */
import { WebhookExporter } from './webhook-exporter.js';
import type { WebhookExporterOptions } from './options.js';

export { WebhookExporter, type WebhookCounters } from './webhook-exporter.js';
export {
  WebhookOptionError,
  resolveOptions,
  type WebhookExporterOptions,
  type ResolvedWebhookOptions,
} from './options.js';
export { toNdjson, toSpanRecord, type SpanRecord } from './ndjson.js';

/** What {@link createExporter} uses of the context the tracer hands an exporter plugin. */
export interface WebhookPluginContext {
  /** Aborted when the tracer's stop has no time left: the exporter then stops at once. */
  readonly signal?: AbortSignal;
  /** Where the one line saying where spans go is logged. */
  readonly logger?: { info(fields: object, message: string): void };
}

/**
 * The plugin's factory, as the reference tracer calls it with `exporter.options` from its
 * config: a {@link WebhookExporter} stopped by the tracer's signal. Throws a
 * `WebhookOptionError` naming a bad option.
 */
export function createExporter(
  options: unknown,
  context: WebhookPluginContext = {},
): WebhookExporter {
  const withSignal =
    typeof options === 'object' && options !== null && context.signal
      ? { signal: context.signal, ...options }
      : options;
  const exporter = new WebhookExporter(withSignal as WebhookExporterOptions);
  context.logger?.info({ url: exporter.endpoint }, 'webhook exporter: spans go out as NDJSON');
  return exporter;
}
