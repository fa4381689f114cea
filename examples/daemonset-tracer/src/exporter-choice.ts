/**
 * The exporter the tracer sends spans to, as the command line and the config choose it: OTLP,
 * console lines, JSON lines, or a plugin module.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { ErrorCode, TracerError, type Stats } from '@traceable-ebpf/core';
import {
  ConsoleLineExporter,
  JsonlExporter,
  createOtlpExporter,
  otlpEndpointConfigured,
  type SpanExporter,
} from '@traceable-ebpf/exporters';
import type { TracerConfig } from './config.js';
import { loadExporterModule } from './exporter-module.js';
import type { TracerOptions } from './tracer.js';

/**
 * The exporter `opts` choose, and its kind. A plugin's final flush and shutdown must be over by
 * `closeBy()` (epoch ms, asked when they start).
 */
export async function createExporter(
  opts: TracerOptions,
  stats: Stats,
  closeBy: () => number,
): Promise<{ exporter: SpanExporter; kind: string }> {
  const { config } = opts;
  const kind =
    opts.exporter ??
    config.exporter.type ??
    (config.exporter.module
      ? 'module'
      : config.exporter.otlp.endpoint || otlpEndpointConfigured()
        ? 'otlp'
        : 'console');
  const output = opts.output ?? config.exporter.output;
  switch (kind) {
    case 'module': {
      const module = config.exporter.module;
      if (!module)
        throw new TracerError(
          ErrorCode.Config,
          'the module exporter needs exporter.module (a path or a package name) in the config',
        );
      const exporter = await loadExporterModule({
        module,
        options: config.exporter.options ?? {},
        baseDir: opts.configDir ?? process.cwd(),
        logger: opts.logger.child({ exporter_module: module }),
        closeBy,
      });
      return { exporter, kind };
    }
    case 'otlp': {
      if (!config.exporter.otlp.endpoint && !otlpEndpointConfigured()) {
        throw new TracerError(
          ErrorCode.Config,
          'the otlp exporter needs OTEL_EXPORTER_OTLP_ENDPOINT (or exporter.otlp.endpoint)',
        );
      }
      const otlp = config.exporter.otlp;
      const exporter = createOtlpExporter({
        implementation: otlp.implementation,
        ...(otlp.endpoint ? { url: otlp.endpoint } : {}),
        ...(otlp.protocol ? { protocol: otlp.protocol } : {}),
        ...(Object.keys(otlp.headers).length ? { headers: otlp.headers } : {}),
        ...(otlp.compression ? { compression: otlp.compression } : {}),
        ...(otlp.timeout_ms ? { timeoutMillis: otlp.timeout_ms } : {}),
        ...(otlp.ca_file ? { ca: readPem('exporter.otlp.ca_file', otlp.ca_file) } : {}),
        ...(otlp.client_certificate_file
          ? { cert: readPem('exporter.otlp.client_certificate_file', otlp.client_certificate_file) }
          : {}),
        ...(otlp.client_key_file
          ? { key: readPem('exporter.otlp.client_key_file', otlp.client_key_file) }
          : {}),
        maxQueueBytes: otlp.max_queue_bytes,
        maxBatchSpans: otlp.max_batch_spans,
        maxBatchBytes: otlp.max_batch_bytes,
        batchDelayMs: otlp.batch_delay_ms,
        maxInFlight: otlp.max_in_flight,
        shutdownTimeoutMs: config.shutdown_timeout * 1000,
        stats,
        log: opts.logger,
      });
      return { exporter, kind };
    }
    case 'jsonl':
      return { exporter: new JsonlExporter(output ? { path: output } : {}), kind };
    default: {
      if (!output) return { exporter: new ConsoleLineExporter(), kind: 'console' };
      const stream = createWriteStream(output, { flags: 'a' });
      return {
        exporter: new ConsoleLineExporter({ sink: { write: (l) => stream.write(l) } }),
        kind: 'console',
      };
    }
  }
}

/** The config as `effective configuration` logs it: a plugin's options by their keys only (they may hold credentials). */
export function loggedConfig(config: TracerConfig): unknown {
  const { options } = config.exporter;
  if (!options) return config;
  return { ...config, exporter: { ...config.exporter, options: Object.keys(options) } };
}

/** A PEM file named by a config key, or a one-line config error. */
function readPem(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TracerError(
      ErrorCode.Config,
      `${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}
