import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Stats } from '@traceable-ebpf/core';
import { DeliveryQueue } from './delivery-queue.js';
import { createOtlpHttpClient } from './otlp-http-client.js';

test('queue + HTTP client: a collector down for a while gets everything once it is back', async () => {
  let up = false;
  const bodies: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!up) return void res.writeHead(503).end();
      bodies.push(Buffer.concat(chunks)[0]!);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const sender = createOtlpHttpClient({ url: `http://127.0.0.1:${port}/v1/traces`, maxSockets: 4 });
  const stats = new Stats();
  const lines: string[] = [];
  const queue = new DeliveryQueue({
    sender,
    stats,
    maxQueueBytes: 1 << 20,
    maxInFlight: 4,
    retry: { initialMs: 10, maxMs: 40 },
    log: { info: (_f, m) => lines.push(m), warn: (_f, m) => lines.push(m) },
  });
  for (let i = 0; i < 50; i++) queue.enqueue({ body: new Uint8Array(64).fill(i), spans: 2 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(stats.get('ExportRetries') >= 3, 'it kept probing');
  assert.equal(stats.get('TotalRequestsSent'), 0);
  up = true;
  assert.deepEqual(await queue.drain(5000), { undelivered: 0 });
  sender.close();
  server.close();
  assert.equal(stats.get('TotalRequestsSent'), 100);
  assert.equal(bodies[0], 0, 'the oldest batch probed and got through first');
  // Four in flight at once: the collector may see neighbours swapped, never one missing.
  assert.deepEqual(
    [...bodies].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.equal(lines.length, 2, lines.join('\n'));
});
