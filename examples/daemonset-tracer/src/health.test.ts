import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { isTracerError } from '@traceable-ebpf/core';
import { startHealthServer } from './health.js';

test('/readyz follows the ready state, /healthz the live one; other paths 404', async () => {
  let ready = false;
  let live = true;
  const h = await startHealthServer({
    address: '127.0.0.1',
    port: 0,
    state: { ready: () => ready, live: () => live },
  });
  try {
    const status = async (path: string, method = 'GET') =>
      (await fetch(`http://127.0.0.1:${h.port}${path}`, { method })).status;
    assert.deepEqual([await status('/readyz'), await status('/healthz')], [503, 200]);
    ready = true;
    assert.deepEqual(
      [await status('/readyz'), await status('/readyz?verbose'), await status('/livez')],
      [200, 200, 200],
    );
    live = false;
    assert.equal(await status('/healthz'), 503);
    assert.equal(await status('/metrics-not-here'), 404);
    assert.equal(await status('/readyz', 'POST'), 405);
  } finally {
    await h.close();
  }
});

test('a port already taken is one line naming the key, the address and the reason', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const port = (taken.address() as { port: number }).port;
  try {
    await assert.rejects(
      startHealthServer({
        address: '127.0.0.1',
        port,
        state: { ready: () => true, live: () => true },
      }),
      (e: unknown) =>
        isTracerError(e) && e.message === `health.port ${port} on 127.0.0.1: EADDRINUSE`,
    );
  } finally {
    taken.close();
  }
});
