import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { ServerResponse } from 'node:http';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { WebhookExporter, type WebhookExporterOptions } from './index.js';
import { testSpans } from './testing/spans.js';
import { startWebhook, type Responder } from './testing/webhook-server.js';

const exportOf = (e: WebhookExporter, spans: ReadableSpan[]) =>
  new Promise<ExportResult>((resolve) => e.export(spans, resolve));

const paths = (records: Array<Record<string, unknown>>) =>
  records.map((r) => (r.attributes as Record<string, unknown>)['url.path']);

async function webhookAnd(
  t: { after(fn: () => Promise<void>): void },
  options: Omit<WebhookExporterOptions, 'url'>,
  respond?: Responder,
) {
  const hook = await startWebhook(respond);
  const exporter = new WebhookExporter({ url: hook.url, retryDelayMs: 5, ...options });
  t.after(async () => {
    await exporter.shutdown();
    await hook.close();
  });
  return { hook, exporter };
}

test('spans go out as NDJSON, one record per span, with the headers given', async (t) => {
  const { hook, exporter } = await webhookAnd(t, {
    maxBatchSpans: 2,
    headers: { Authorization: 'Bearer s3cret' },
  });
  assert.deepEqual(await exportOf(exporter, testSpans(2)), { code: ExportResultCode.SUCCESS });
  const [req] = hook.requests;
  assert.equal(req!.method, 'POST');
  assert.equal(req!.path, '/hook');
  assert.equal(req!.headers['content-type'], 'application/x-ndjson');
  assert.equal(req!.headers.authorization, 'Bearer s3cret');
  assert.deepEqual(req!.records[1], {
    traceId: '00000000000000000000000000000001',
    spanId: '0000000000000002',
    name: 'GET',
    kind: 'server',
    startTimeUnixNano: '1700000001000000123',
    endTimeUnixNano: '1700000001002000123',
    attributes: {
      'http.request.method': 'GET',
      'url.path': '/items/1',
      'http.response.status_code': 200,
    },
    resource: { 'service.name': 'shop', 'process.pid': 4242 },
    status: { code: 'unset' },
  });
  assert.deepEqual(exporter.counters, {
    sentSpans: 2,
    failedSpans: 0,
    droppedSpans: 0,
    requests: 1,
    retries: 0,
  });
});

test('batching: full batches go at once, the rest on forceFlush', async (t) => {
  const { hook, exporter } = await webhookAnd(t, { maxBatchSpans: 3, maxWaitMs: 60_000 });
  const results = [
    exportOf(exporter, testSpans(2, 0)),
    exportOf(exporter, testSpans(2, 2)),
    exportOf(exporter, testSpans(3, 4)),
  ];
  await hook.received(2);
  await exporter.forceFlush();
  assert.deepEqual(
    hook.requests.map((r) => paths(r.records)),
    [['/items/0', '/items/1', '/items/2'], ['/items/3', '/items/4', '/items/5'], ['/items/6']],
  );
  for (const r of await Promise.all(results)) assert.equal(r.code, ExportResultCode.SUCCESS);
  assert.equal(exporter.counters.sentSpans, 7);
});

test('a partial batch goes once its oldest span has waited maxWaitMs', async (t) => {
  const { hook, exporter } = await webhookAnd(t, { maxBatchSpans: 100, maxWaitMs: 20 });
  const result = await exportOf(exporter, testSpans(2));
  assert.equal(result.code, ExportResultCode.SUCCESS);
  assert.deepEqual(paths(hook.requests[0]!.records), ['/items/0', '/items/1']);
});

test('a 503 is retried with the same body until the webhook takes it', async (t) => {
  const { hook, exporter } = await webhookAnd(t, { maxBatchSpans: 2, maxRetries: 3 }, (n, res) =>
    res.writeHead(n < 2 ? 503 : 200).end(),
  );
  assert.equal((await exportOf(exporter, testSpans(2))).code, ExportResultCode.SUCCESS);
  assert.equal(hook.requests.length, 3);
  assert.deepEqual(
    hook.requests.map((r) => paths(r.records)),
    [0, 1, 2].map(() => ['/items/0', '/items/1']),
  );
  assert.deepEqual(exporter.counters, {
    sentSpans: 2,
    failedSpans: 0,
    droppedSpans: 0,
    requests: 3,
    retries: 2,
  });
});

test('retries are bounded: past maxRetries the call fails and its spans count as failed', async (t) => {
  const { hook, exporter } = await webhookAnd(t, { maxBatchSpans: 1, maxRetries: 2 }, (_n, res) =>
    res.writeHead(429, { 'retry-after': '0' }).end(),
  );
  const result = await exportOf(exporter, testSpans(1));
  assert.equal(result.code, ExportResultCode.FAILED);
  assert.match(result.error!.message, /webhook answered 429 .*\(3 attempts\)/);
  assert.equal(hook.requests.length, 3);
  assert.deepEqual([exporter.counters.failedSpans, exporter.counters.retries], [1, 2]);
});

test('a 4xx other than 429 is not retried', async (t) => {
  const { hook, exporter } = await webhookAnd(t, { maxBatchSpans: 1 }, (_n, res) =>
    res.writeHead(400).end(),
  );
  const result = await exportOf(exporter, testSpans(1));
  assert.equal(result.code, ExportResultCode.FAILED);
  assert.match(result.error!.message, /webhook answered 400 .*\(1 attempt\)/);
  assert.equal(hook.requests.length, 1);
});

test('connection errors and timeouts are retried, then given up', async (t) => {
  // A port nothing listens on: every attempt is refused.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((r) => probe.close(() => r()));
  const refused = new WebhookExporter({
    url: `http://127.0.0.1:${port}/`,
    maxBatchSpans: 1,
    maxRetries: 2,
    retryDelayMs: 1,
  });
  const result = await exportOf(refused, testSpans(1));
  assert.equal(result.code, ExportResultCode.FAILED);
  assert.match(result.error!.message, /ECONNREFUSED.*\(3 attempts\)/);
  assert.equal(refused.counters.requests, 3);
  await refused.shutdown();

  // A webhook that never answers: each attempt ends at timeoutMs.
  const { hook, exporter } = await webhookAnd(
    t,
    { maxBatchSpans: 1, maxRetries: 1, timeoutMs: 50 },
    () => {},
  );
  const late = await exportOf(exporter, testSpans(1));
  assert.equal(late.code, ExportResultCode.FAILED);
  assert.match(late.error!.message, /no answer within 50 ms \(2 attempts\)/);
  assert.equal(hook.requests.length, 2);
});

test('queue full: a call whose spans do not fit is refused whole and counted', async (t) => {
  const held: ServerResponse[] = [];
  const { hook, exporter } = await webhookAnd(
    t,
    { maxBatchSpans: 2, maxQueueSpans: 4, maxWaitMs: 60_000 },
    (_n, res) => held.push(res),
  );
  const first = exportOf(exporter, testSpans(2, 0)); // in flight, unanswered
  await hook.received(1);
  const second = exportOf(exporter, testSpans(2, 2)); // waiting: 4 spans held
  assert.equal(exporter.heldSpans, 4);
  const refused = await exportOf(exporter, testSpans(1, 4));
  assert.equal(refused.code, ExportResultCode.FAILED);
  assert.match(refused.error!.message, /queue full \(4 of 4 spans held\): 1 spans dropped/);
  assert.equal(exporter.counters.droppedSpans, 1);
  held.shift()!.writeHead(200).end();
  await hook.received(2);
  held.shift()!.writeHead(200).end();
  assert.equal((await first).code, ExportResultCode.SUCCESS);
  assert.equal((await second).code, ExportResultCode.SUCCESS);
  assert.deepEqual(
    [exporter.counters.sentSpans, exporter.counters.droppedSpans, exporter.heldSpans],
    [4, 1, 0],
  );
});

test('shutdown sends what is queued, once; later exports fail and are counted', async (t) => {
  const { hook, exporter } = await webhookAnd(t, { maxBatchSpans: 100, maxWaitMs: 60_000 });
  const result = exportOf(exporter, testSpans(3));
  assert.equal(hook.requests.length, 0);
  const shutdown = exporter.shutdown();
  assert.equal(exporter.shutdown(), shutdown, 'a second shutdown is the same one');
  await shutdown;
  assert.equal((await result).code, ExportResultCode.SUCCESS);
  assert.deepEqual(paths(hook.requests[0]!.records), ['/items/0', '/items/1', '/items/2']);
  await exporter.shutdown();
  assert.equal(hook.requests.length, 1);
  const after = await exportOf(exporter, testSpans(2));
  assert.equal(after.code, ExportResultCode.FAILED);
  assert.match(after.error!.message, /shut down: 2 spans dropped/);
  assert.deepEqual(exporter.counters, {
    sentSpans: 3,
    failedSpans: 0,
    droppedSpans: 2,
    requests: 1,
    retries: 0,
  });
});

test('shutdown gives up what it cannot deliver by shutdownTimeoutMs, counted as failed', async (t) => {
  const { hook, exporter } = await webhookAnd(
    t,
    { maxBatchSpans: 1, maxWaitMs: 60_000, shutdownTimeoutMs: 100, timeoutMs: 60_000 },
    () => {}, // never answers
  );
  const first = exportOf(exporter, testSpans(1, 0));
  const second = exportOf(exporter, testSpans(1, 1));
  await hook.received(1);
  await exporter.shutdown();
  for (const r of await Promise.all([first, second])) {
    assert.equal(r.code, ExportResultCode.FAILED);
    assert.match(r.error!.message, /stopped/);
  }
  assert.deepEqual(
    [exporter.counters.sentSpans, exporter.counters.failedSpans, exporter.heldSpans],
    [0, 2, 0],
  );
});

test('an aborted signal stops the exporter at once', async (t) => {
  const controller = new AbortController();
  const { hook, exporter } = await webhookAnd(
    t,
    { maxBatchSpans: 1, timeoutMs: 60_000, signal: controller.signal },
    () => {},
  );
  const pending = exportOf(exporter, testSpans(1));
  await hook.received(1);
  controller.abort();
  const r = await pending;
  assert.equal(r.code, ExportResultCode.FAILED);
  assert.equal((await exportOf(exporter, testSpans(1))).code, ExportResultCode.FAILED);
  assert.deepEqual([exporter.counters.failedSpans, exporter.counters.droppedSpans], [1, 1]);
});
