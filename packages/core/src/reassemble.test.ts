import { test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, toArray } from 'rxjs';
import { reassemble } from './reassemble.js';
import { Stats } from './stats.js';
import type { KernelEvent, SocketDataEvent } from './events.js';
import type { ConnectionEvent, StreamDataEvent, StreamGapEvent } from './connection-events.js';

const CONN = '1:3:9';
const open: KernelEvent = {
  kind: 'open',
  conn: CONN,
  tgid: 1,
  fd: 3,
  tid: 1,
  tsNs: 0,
  role: 'server',
  family: 4,
  tls: false,
  comm: 'test',
  local: { address: '127.0.0.1', port: 80 },
  remote: { address: '127.0.0.1', port: 5555 },
};

/** A deterministic PRNG, so a failure names a reproducible seed. */
function rng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

function stream(len: number): Buffer {
  return Buffer.from(Array.from({ length: len }, (_, i) => (i * 7 + 3) & 0xff));
}

function events(
  bytes: Buffer,
  sizes: number[],
  direction: 'send' | 'recv' = 'recv',
): SocketDataEvent[] {
  const out: SocketDataEvent[] = [];
  let off = 0;
  for (const n of sizes) {
    const data = bytes.subarray(off, off + n);
    out.push({
      kind: 'data',
      conn: CONN,
      tgid: 1,
      fd: 3,
      tid: 1,
      tsNs: off,
      direction,
      offset: off,
      size: data.length,
      data,
      syscall: 'read',
    });
    off += n;
  }
  return out;
}

const run = (evs: KernelEvent[], opts = {}) =>
  lastValueFrom(from(evs).pipe(reassemble(opts), toArray()));
const dataOf = (out: ConnectionEvent[]) =>
  Buffer.concat(out.filter((e): e is StreamDataEvent => e.kind === 'data').map((e) => e.data));
const gapsOf = (out: ConnectionEvent[]) =>
  out
    .filter((e): e is StreamGapEvent => e.kind === 'gap')
    .map((e) => [e.offset, e.length, e.reason]);

test('shuffled events come out in stream order, with no gap', async () => {
  const bytes = stream(4000);
  for (let seed = 1; seed <= 50; seed++) {
    const rand = rng(seed);
    const sizes: number[] = [];
    for (let left = bytes.length; left > 0; ) {
      const n = Math.min(left, 1 + Math.floor(rand() * 300));
      sizes.push(n);
      left -= n;
    }
    const evs = events(bytes, sizes);
    for (let i = evs.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [evs[i], evs[j]] = [evs[j]!, evs[i]!];
    }
    const out = await run([open, ...evs], { maxPendingEvents: 1000 });
    assert.deepEqual(dataOf(out), bytes, `seed ${seed}`);
    assert.deepEqual(gapsOf(out), [], `seed ${seed}`);
    const offsets = out.filter((e): e is StreamDataEvent => e.kind === 'data').map((e) => e.offset);
    assert.deepEqual(
      offsets,
      [...offsets].sort((a, b) => a - b),
    );
  }
});

test('a lost event becomes one gap with its exact offset and length', async () => {
  const bytes = stream(1000);
  const evs = events(bytes, [100, 200, 300, 400]);
  const stats = new Stats();
  const out = await run(
    [
      open,
      evs[0]!,
      evs[2]!,
      evs[3]!,
      { kind: 'close', conn: CONN, tgid: 1, fd: 3, tsNs: 9, sentBytes: 0, recvBytes: 1000 },
    ],
    { stats },
  );
  assert.deepEqual(gapsOf(out), [[100, 200, 'lost']]);
  assert.deepEqual(dataOf(out), Buffer.concat([bytes.subarray(0, 100), bytes.subarray(300)]));
  assert.equal(stats.get('ReassemblyGapBytes'), 200);
  assert.equal(out.at(-1)!.kind, 'close');
});

test('a truncated copy is data then a truncated gap', async () => {
  const data = stream(10);
  const ev: SocketDataEvent = {
    kind: 'data',
    conn: CONN,
    tgid: 1,
    fd: 3,
    tid: 1,
    tsNs: 0,
    direction: 'send',
    offset: 0,
    size: 50,
    data,
    syscall: 'write',
  };
  const out = await run([open, ev]);
  assert.deepEqual(gapsOf(out), [[10, 40, 'truncated']]);
  assert.deepEqual(dataOf(out), data);
});

test('bytes missing at the end of a closed connection are a gap', async () => {
  const bytes = stream(300);
  const out = await run([
    open,
    ...events(bytes, [100]),
    { kind: 'close', conn: CONN, tgid: 1, fd: 3, tsNs: 9, sentBytes: 0, recvBytes: 300 },
  ]);
  assert.deepEqual(gapsOf(out), [[100, 200, 'lost']]);
});

test('duplicates are dropped and counted; overlaps are trimmed', async () => {
  const bytes = stream(300);
  const evs = events(bytes, [100, 200]);
  const overlap: SocketDataEvent = { ...evs[1]!, offset: 50, size: 250, data: bytes.subarray(50) };
  const stats = new Stats();
  const out = await run([open, evs[0]!, evs[0]!, overlap], { stats });
  assert.deepEqual(dataOf(out), bytes);
  assert.equal(stats.get('ReassemblyDuplicateEvents'), 1);
});

test('out-of-order events are bounded: past maxPendingEvents the hole is declared', async () => {
  const bytes = stream(1000);
  const evs = events(bytes, Array(10).fill(100));
  const out = await run([open, ...evs.slice(1)], { maxPendingEvents: 3 });
  assert.deepEqual(gapsOf(out), [[0, 100, 'overflow']]);
  assert.deepEqual(dataOf(out), bytes.subarray(100));
});

test('the connection count is bounded: the least recently active is evicted', async () => {
  const stats = new Stats();
  const opens = [1, 2, 3].map((fd) => ({ ...open, conn: `1:${fd}:1`, fd }) as KernelEvent);
  const out = await run(opens, { maxConnections: 2, stats });
  assert.deepEqual(
    out.filter((e) => e.kind === 'close').map((e) => [e.conn, (e as { reason: string }).reason]),
    [
      ['1:1:1', 'evicted'],
      ['1:2:1', 'end'],
      ['1:3:1', 'end'],
    ],
  );
  assert.equal(stats.get('ConnectionsEvicted'), 1);
});

test('data for a connection never opened gets a synthesized open, counted', async () => {
  const stats = new Stats();
  const out = await run(events(stream(10), [10]), { stats });
  assert.equal(out[0]!.kind, 'open');
  assert.equal(stats.get('ReassemblyOrphanEvents'), 1);
});

test('property: lost, truncated and shuffled events; every byte is data (the right byte) or in a counted gap, once', async () => {
  const fc = (await import('fast-check')).default;
  const bytes = stream(3000);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.boolean(), { maxLength: 40 }), // dropped (lost in the kernel)
      fc.array(fc.nat({ max: 50 }), { maxLength: 40 }), // bytes copied short (truncated)
      fc.array(fc.nat(), { maxLength: 40 }), // a shuffle
      fc.integer({ min: 1, max: 64 }), // maxPendingEvents
      async (sizes, drops, shorts, swaps, maxPendingEvents) => {
        let evs = events(bytes, sizes).filter((e) => e.offset < bytes.length);
        const total = evs.reduce((n, e) => Math.max(n, e.offset + e.size), 0);
        evs = evs
          .map((e, i) =>
            shorts[i] ? { ...e, data: e.data.subarray(0, Math.max(0, e.size - shorts[i]!)) } : e,
          )
          .filter((_, i) => !drops[i]);
        swaps.forEach((s, i) => {
          const j = s % evs.length;
          if (evs.length > 1) [evs[i % evs.length], evs[j]] = [evs[j]!, evs[i % evs.length]!];
        });
        const stats = new Stats();
        const close: KernelEvent = {
          kind: 'close',
          conn: CONN,
          tgid: 1,
          fd: 3,
          tsNs: 1e9,
          sentBytes: 0,
          recvBytes: total,
        };
        const out = await run([open, ...evs, close], { stats, maxPendingEvents });
        let at = 0;
        let gapBytes = 0;
        for (const e of out) {
          if (e.kind === 'data') {
            assert.equal(e.offset, at);
            assert.deepEqual(Buffer.from(e.data), bytes.subarray(at, at + e.data.length));
            at += e.data.length;
          } else if (e.kind === 'gap') {
            assert.equal(e.offset, at);
            at += e.length;
            gapBytes += e.length;
          }
        }
        assert.equal(at, total, 'every byte once, up to the close');
        assert.equal(stats.get('ReassemblyGapBytes'), gapBytes);
        assert.equal(stats.get('ReassemblyGaps'), out.filter((e) => e.kind === 'gap').length);
      },
    ),
    { numRuns: 400 },
  );
});
