import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PooledSpanContext } from './span-ids.js';

test('pooled ids: hex getters spell the id bytes, and ids differ from span to span', () => {
  const seen = new Set<string>();
  // Past one pool (about 2,700 spans), so a refill is crossed.
  for (let i = 0; i < 6000; i++) {
    const ctx = new PooledSpanContext(1);
    assert.match(ctx.traceId, /^[0-9a-f]{32}$/);
    assert.match(ctx.spanId, /^[0-9a-f]{16}$/);
    assert.equal(ctx.traceId, ctx.ids.toString('hex', ctx.traceAt, ctx.traceAt + 16));
    assert.equal(ctx.spanId, ctx.ids.toString('hex', ctx.spanAt, ctx.spanAt + 8));
    assert.equal(ctx.traceFlags, 1);
    assert.ok(!seen.has(ctx.spanId));
    seen.add(ctx.spanId);
  }
});

test('a span continuing a remote trace keeps its trace id as given', () => {
  const remote = '4bf92f3577b34da6a3ce929d0e0e4736';
  const ctx = new PooledSpanContext(0, remote);
  assert.equal(ctx.traceId, remote);
  assert.equal(ctx.traceAt, -1);
  assert.match(ctx.spanId, /^[0-9a-f]{16}$/);
  assert.equal(ctx.traceFlags, 0);
  assert.equal(ctx.traceState, undefined);
});
