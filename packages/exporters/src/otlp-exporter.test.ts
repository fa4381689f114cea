import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { from, lastValueFrom } from 'rxjs';
import { ExportResultCode } from '@opentelemetry/core';
import { Stats, type ApiExchange } from '@traceable-ebpf/core';
import { createSpanMapper } from './span-mapping.js';
import { createOtlpExporter } from './otlp.js';
import { exportSpans } from './operators.js';

const require = createRequire(import.meta.url);
const Request = (
  require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
    opentelemetry: {
      proto: {
        collector: {
          trace: {
            v1: {
              ExportTraceServiceRequest: {
                decode(b: Uint8Array): object;
                toObject(m: object, o: object): Record<string, unknown>;
              };
            };
          };
        };
      };
    };
  }
).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

/** A collector on 127.0.0.1 that decodes every request and counts the span names it got. */
async function collector(handler?: Handler) {
  const names: string[] = [];
  const encodings: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      encodings.push(String(req.headers['content-encoding'] ?? 'identity'));
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      if (handler) return handler(req, body, res);
      const json = String(req.headers['content-type']).includes('json');
      const decoded = json
        ? (JSON.parse(body.toString()) as Record<string, unknown>)
        : Request.toObject(Request.decode(body), { longs: String });
      for (const rs of decoded.resourceSpans as Array<{
        scopeSpans: Array<{ spans: Array<{ name: string }> }>;
      }>)
        for (const ss of rs.scopeSpans) for (const s of ss.spans) names.push(s.name);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  return {
    url,
    names,
    encodings,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const map = createSpanMapper();
function span(i: number) {
  const ex: ApiExchange = {
    protocol: 'http1',
    partial: false,
    connection: {
      id: `1:${i}:1`,
      tgid: 1 + (i % 3),
      fd: 3,
      role: 'server',
      family: 4,
      tls: false,
      comm: `p${i % 3}`,
      local: { address: '127.0.0.1', port: 80 },
      remote: { address: '127.0.0.1', port: 40000 },
    },
    request: {
      method: `M${i}`,
      target: '/',
      version: '1.1',
      headers: [['Host', 'x']],
      body: new Uint8Array(),
      bodySize: 0,
      startNs: 1e9,
      endNs: 1e9,
    },
    response: {
      status: 200,
      version: '1.1',
      headers: [],
      body: new Uint8Array(),
      bodySize: 0,
      startNs: 1e9,
      endNs: 2e9,
    },
  };
  return map(ex);
}
const env = {};

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  test(`${protocol}: the official exporter, loaded when chosen, delivers every span`, async () => {
    const c = await collector();
    const exporter = createOtlpExporter({ implementation: 'official', url: c.url, protocol, env });
    const spans = Array.from({ length: 50 }, (_, i) => span(i));
    const results = await Promise.all(
      [spans.slice(0, 25), spans.slice(25)].map(
        (batch) => new Promise<ExportResultCode>((r) => exporter.export(batch, (x) => r(x.code))),
      ),
    );
    await exporter.forceFlush?.();
    await exporter.shutdown();
    await c.close();
    assert.deepEqual(results, [ExportResultCode.SUCCESS, ExportResultCode.SUCCESS]);
    assert.deepEqual(c.names.sort(), spans.map((s) => s.name).sort());
  });
}

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  test(`${protocol}: every span of a stream reaches the collector, batched, gzip when asked`, async () => {
    const c = await collector();
    const stats = new Stats();
    const exporter = createOtlpExporter({
      url: c.url,
      protocol,
      compression: 'gzip',
      maxBatchSpans: 300,
      stats,
      env,
    });
    const spans = Array.from({ length: 5000 }, (_, i) => span(i));
    const summary = await lastValueFrom(from(spans).pipe(exportSpans(exporter, { stats })));
    await exporter.shutdown();
    await exporter.shutdown(); // idempotent
    await c.close();
    assert.deepEqual(summary, { undelivered: 0 });
    assert.equal(c.names.length, 5000);
    assert.deepEqual(new Set(c.names), new Set(spans.map((s) => s.name)));
    assert.equal(stats.get('TotalRequestsSent'), 5000);
    assert.ok(stats.get('ExportRequests') >= 17, 'batches of at most 300 spans');
    assert.ok(c.encodings.every((e) => e === 'gzip'));
  });
}

test('SpanExporter path: export() calls back SUCCESS once delivered, FAILED when refused', async () => {
  let refuse = false;
  const c = await collector((_req, _body, res) => {
    res.writeHead(refuse ? 400 : 200).end();
  });
  const stats = new Stats();
  const exporter = createOtlpExporter({ url: c.url, stats, env });
  const ok = await new Promise((r) => exporter.export([span(1), span(2)], r));
  assert.deepEqual(ok, { code: ExportResultCode.SUCCESS });
  refuse = true;
  const failed = await new Promise<{ code: number }>((r) => exporter.export([span(3)], r));
  assert.equal(failed.code, ExportResultCode.FAILED);
  assert.equal(stats.get('SpansRejectedByCollector'), 1);
  await exporter.shutdown();
  await c.close();
});

test('collector never answering: drain gives up at its deadline, counts what it dropped', async () => {
  const c = await collector(() => undefined); // holds every request
  const stats = new Stats();
  const exporter = createOtlpExporter({ url: c.url, stats, env, maxBatchSpans: 10 });
  const summary = await lastValueFrom(
    from(Array.from({ length: 35 }, (_, i) => span(i))).pipe(
      exportSpans(exporter, { stats, drainTimeoutMs: 300 }),
    ),
  );
  assert.deepEqual(summary, { undelivered: 35 });
  assert.equal(stats.get('SpansDroppedAtShutdown'), 35);
  await exporter.shutdown();
  c.close().catch(() => undefined);
  // The held requests keep the server open: the sockets were aborted by the drain.
});

test('batches are split by bytes: no request past max_batch_bytes but by its last span', async () => {
  const sizes: number[] = [];
  const c = await collector((_req, body, res) => {
    sizes.push(body.length);
    res.writeHead(200).end();
  });
  const stats = new Stats();
  const exporter = createOtlpExporter({
    url: c.url,
    stats,
    env,
    maxBatchBytes: 64 * 1024,
    maxBatchSpans: 100_000,
  });
  const big = (i: number) => {
    const s = span(i);
    // ~5 KB of attributes each
    Object.assign(s.attributes, { blob: 'b'.repeat(5000) });
    return s;
  };
  const spans = Array.from({ length: 200 }, (_, i) => big(i));
  await lastValueFrom(from(spans).pipe(exportSpans(exporter, { stats })));
  await exporter.shutdown();
  await c.close();
  assert.equal(stats.get('TotalRequestsSent'), 200);
  assert.ok(sizes.length >= 15, `${sizes.length} requests for ~1 MB`);
  for (const n of sizes) assert.ok(n < 64 * 1024 + 6 * 1024, `request of ${n} bytes`);
});

test('SpanExporter path: spans refused by a full queue are reported FAILED, not SUCCESS', async () => {
  const c = await collector(() => undefined); // never answers: the queue stays full
  const stats = new Stats();
  const exporter = createOtlpExporter({
    url: c.url,
    stats,
    env,
    maxQueueBytes: 1 << 20,
    maxBatchBytes: 64 * 1024,
    maxInFlight: 1,
  });
  const many = Array.from({ length: 3000 }, (_, i) => span(i));
  exporter.export(many, () => undefined); // fills the queue
  // Larger than what is left under the bound: refused at once.
  const big = span(1);
  Object.assign(big.attributes, { blob: 'b'.repeat(200_000) });
  const result = await new Promise<{ code: number }>((r) => exporter.export([big], r));
  assert.equal(result.code, ExportResultCode.FAILED);
  assert.ok(stats.get('SpansDroppedAtExportQueue') >= 1);
  await (exporter as unknown as { drain(ms: number): Promise<unknown> }).drain(10);
  await exporter.shutdown();
  c.close().catch(() => undefined);
});
