import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom } from 'rxjs';
import { Stats, stats$ } from './stats.js';

test('stats$ emits snapshots of the counters and probe stats', async () => {
  const stats = new Stats();
  stats.inc('EventLost', 3);
  stats.setProbe('write', 10, 9);
  const snap = await firstValueFrom(stats$(stats, 5));
  assert.equal(snap.counters.EventLost, 3);
  assert.equal(snap.counters.DataEventReceived, 0);
  assert.deepEqual(snap.probes, { write: [10, 9] });
});
