import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ExporterModuleFactory } from '@traceable-ebpf/daemonset-tracer';
import { WebhookExporter, WebhookOptionError, createExporter } from './index.js';
import { testSpans } from './testing/spans.js';
import { startWebhook } from './testing/webhook-server.js';

// The factory meets the tracer's plugin contract (checked when this file compiles).
const factory: ExporterModuleFactory = createExporter;

test('createExporter: the options as the tracer hands them, its signal, one log line', async (t) => {
  const hook = await startWebhook();
  t.after(() => hook.close());
  const lines: Array<[object, string]> = [];
  const controller = new AbortController();
  const log = (fields: object, message: string) => lines.push([fields, message]);
  const exporter = await factory(
    { url: `${hook.url}?token=x`, maxBatchSpans: 1 },
    {
      logger: { debug: log, info: log, warn: log, error: log },
      baseDir: process.cwd(),
      signal: controller.signal,
    },
  );
  assert.ok(exporter instanceof WebhookExporter);
  assert.deepEqual(lines, [[{ url: hook.url }, 'webhook exporter: spans go out as NDJSON']]);
  const ok = await new Promise<ExportResult>((r) => exporter.export(testSpans(1), r));
  assert.equal(ok.code, ExportResultCode.SUCCESS);
  controller.abort();
  const after = await new Promise<ExportResult>((r) => exporter.export(testSpans(1), r));
  assert.equal(after.code, ExportResultCode.FAILED, 'the signal stopped it');
  await exporter.shutdown();
});

test('createExporter: bad options are its one-line error', () => {
  assert.throws(() => createExporter({ url: 'http://x/', maxRetries: 'many' }), WebhookOptionError);
  assert.throws(() => createExporter('http://x/'), /option '\(options\)' must be an object/);
});
