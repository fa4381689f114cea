import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom } from 'rxjs';
import { COUNTERS, Stats, stats$ } from './stats.js';
import { ErrorCode, TracerError } from './errors.js';

test('stats$ emits snapshots of the counters and probe stats', async () => {
  const stats = new Stats();
  stats.inc('EventLost', 3);
  stats.setProbe('write', 10, 9);
  const snap = await firstValueFrom(stats$(stats, 5));
  assert.equal(snap.counters.EventLost, 3);
  assert.equal(snap.counters.DataEventReceived, 0);
  assert.deepEqual(snap.probes, { write: [10, 9] });
});

test('a registered counter is moved through its handle and read in snapshots and stats$', async () => {
  const stats = new Stats();
  const commands = stats.register('RedisCommandsParsed', { description: 'Redis commands parsed' });
  const pending = stats.register('RedisRepliesPending', {
    description: 'Redis replies awaited (now)',
    kind: 'gauge',
  });
  commands.inc();
  commands.inc(2);
  pending.set(7);
  pending.max(5);
  stats.inc('EventLost');
  assert.equal(commands.get(), 3);
  assert.equal(pending.get(), 7);
  const snap = stats.snapshot();
  assert.equal(snap.RedisCommandsParsed, 3);
  assert.equal(snap.RedisRepliesPending, 7);
  // The built-in counters are all still there, unmoved ones as 0.
  assert.equal(snap.EventLost, 1);
  assert.equal(snap.DataEventReceived, 0);
  assert.deepEqual(Object.keys(snap).slice(-2), ['RedisCommandsParsed', 'RedisRepliesPending']);
  assert.equal((await firstValueFrom(stats$(stats, 5))).counters.RedisCommandsParsed, 3);
});

test('the same name, description and kind again is the same counter (two stage instances count together)', () => {
  const stats = new Stats();
  const spec = { description: 'Redis commands parsed' };
  const a = stats.register('RedisCommandsParsed', spec);
  const b = stats.register('RedisCommandsParsed', { description: 'Redis commands parsed' });
  assert.equal(a, b);
  a.inc();
  b.inc();
  assert.equal(stats.snapshot().RedisCommandsParsed, 2);
  // Another Stats set has counters of its own.
  assert.equal(new Stats().register('RedisCommandsParsed', spec).get(), 0);
});

test('a taken or invalid name is refused with E_COUNTER, naming the counter', () => {
  const stats = new Stats();
  stats.register('RedisCommandsParsed', { description: 'Redis commands parsed' });
  const refused = (name: string, spec: Parameters<Stats['register']>[1], why: RegExp) =>
    assert.throws(
      () => stats.register(name, spec),
      (err: unknown) =>
        err instanceof TracerError &&
        err.code === ErrorCode.Counter &&
        err.message.includes(JSON.stringify(name)) &&
        why.test(err.message) &&
        !err.message.includes('\n'),
    );
  refused(
    'RedisCommandsParsed',
    { description: 'Redis commands seen' },
    /already registered as "Redis commands parsed"/,
  );
  refused(
    'RedisCommandsParsed',
    { description: 'Redis commands parsed', kind: 'gauge' },
    /a counter, not a gauge/,
  );
  refused('EventLost', { description: COUNTERS.EventLost }, /built in/);
  refused('redis.commands', { description: 'x' }, /not a valid name/);
  refused('__proto__', { description: 'x' }, /not a valid name/);
  refused('RedisErrors', { description: ' ' }, /needs a description/);
  refused(
    'RedisErrors',
    { description: 'x', kind: 'histogram' as 'gauge' },
    /neither counter nor gauge/,
  );
  // Nothing refused was registered.
  assert.deepEqual(
    stats
      .counters()
      .filter((c) => !c.builtIn)
      .map((c) => c.name),
    ['RedisCommandsParsed'],
  );
});

test('counters() lists every counter with its description and kind, built-in ones first', () => {
  const stats = new Stats();
  stats.register('RedisRepliesPending', {
    description: 'Redis replies awaited (now)',
    kind: 'gauge',
  });
  const list = stats.counters();
  assert.equal(list.length, Object.keys(COUNTERS).length + 1);
  assert.deepEqual(
    list.slice(0, Object.keys(COUNTERS).length).map((c) => [c.name, c.description, c.builtIn]),
    Object.entries(COUNTERS).map(([name, description]) => [name, description, true]),
  );
  assert.deepEqual(list.at(-1), {
    name: 'RedisRepliesPending',
    description: 'Redis replies awaited (now)',
    kind: 'gauge',
    builtIn: false,
  });
  const kind = (name: string) => list.find((c) => c.name === name)?.kind;
  assert.equal(kind('EventLost'), 'counter');
  assert.equal(kind('ExportQueueBytes'), 'gauge');
  assert.equal(kind('KprobeEventMaxQueueSizeTillNow'), 'gauge');
  // Every name is listed once, and every snapshot key is a listed counter.
  assert.equal(new Set(list.map((c) => c.name)).size, list.length);
  assert.deepEqual(
    Object.keys(stats.snapshot()),
    list.map((c) => c.name),
  );
});
