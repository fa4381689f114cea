import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stats } from '@traceable-ebpf/core';
import { DeliveryQueue, type DeliveryQueueOptions } from './delivery-queue.js';
import type { DeliveryClock, DeliveryLog, SendOutcome, Sender } from './delivery-types.js';

/** Lets pending promise callbacks run. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Time that moves only when the test says so. */
class FakeClock implements DeliveryClock {
  t = 0;
  private nextId = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.nextId;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  /** Moves time on by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await tick();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
    await tick();
  }
}

interface Call {
  readonly id: number;
  readonly at: number;
  readonly signal: AbortSignal | undefined;
  answered: boolean;
  answer(outcome: SendOutcome): Promise<void>;
}

/** A sender whose every request waits for the test to answer it; a body's first byte names it. */
function scriptedSender(clock: FakeClock) {
  const calls: Call[] = [];
  const sender: Sender = {
    send: (body, signal) =>
      new Promise<SendOutcome>((resolve) => {
        const call: Call = {
          id: body[0]!,
          at: clock.now(),
          signal,
          answered: false,
          answer: async (o) => {
            call.answered = true;
            resolve(o);
            await tick();
          },
        };
        signal?.addEventListener('abort', () => resolve({ kind: 'retryable', message: 'aborted' }));
        calls.push(call);
      }),
    close: () => {},
  };
  const open = () => calls.filter((c) => !c.answered);
  return { sender, calls, open };
}

function recordingLog() {
  const lines: Array<{ level: 'info' | 'warn'; fields: Record<string, unknown>; msg: string }> = [];
  const log: DeliveryLog = {
    info: (fields, msg) => lines.push({ level: 'info', fields: fields as never, msg }),
    warn: (fields, msg) => lines.push({ level: 'warn', fields: fields as never, msg }),
  };
  return { log, lines };
}

/** A batch named `id` (its body's first byte) of `bytes` bytes holding `spans` spans. */
const batch = (id: number, spans = 10, bytes = 100) => ({
  body: new Uint8Array(bytes).fill(id),
  spans,
});

const OK: SendOutcome = { kind: 'ok', rejectedSpans: 0 };
const UNAVAILABLE: SendOutcome = { kind: 'retryable', status: 503, message: 'unavailable' };

function setup(options: Partial<DeliveryQueueOptions> = {}) {
  const clock = new FakeClock();
  const stats = new Stats();
  const { sender, calls, open } = scriptedSender(clock);
  const { log, lines } = recordingLog();
  const queue = new DeliveryQueue({
    sender,
    stats,
    log,
    clock,
    maxQueueBytes: 1 << 20,
    random: () => 0.5, // no jitter: exact backoff
    ...options,
  });
  return { clock, stats, calls, open, lines, queue };
}

test('batches go out FIFO with at most maxInFlight requests at once', async () => {
  const { clock, stats, calls, open, queue } = setup({ maxInFlight: 2 });
  const settled: Array<[number, boolean]> = [];
  for (let i = 0; i < 5; i++) queue.enqueue(batch(i), (d) => settled.push([i, d]));
  assert.deepEqual(
    calls.map((c) => c.id),
    [0, 1],
  );
  await clock.advance(7);
  await open()[0]!.answer(OK);
  assert.deepEqual(
    calls.map((c) => c.id),
    [0, 1, 2],
  );
  assert.equal(stats.get('ExportLatencyMsLast'), 7);
  while (open().length > 0) {
    assert.ok(open().length <= 2);
    await open()[0]!.answer(OK);
  }
  assert.deepEqual(
    calls.map((c) => c.id),
    [0, 1, 2, 3, 4],
  );
  assert.deepEqual(
    settled,
    [0, 1, 2, 3, 4].map((i) => [i, true]),
  );
  assert.equal(stats.get('TotalRequestsSent'), 50);
  assert.equal(stats.get('ExportRequests'), 5);
  assert.equal(stats.get('ExportLatencyMsMax'), 7);
  assert.equal(stats.get('ExportQueueBytes'), 0);
  assert.equal(stats.get('ExportQueueSpans'), 0);
  assert.equal(stats.get('ExportQueueMaxBytesTillNow'), 500);
});

test('a retryable answer is retried after a growing backoff (1 s, 2 s, 4 s, 5 s)', async () => {
  const { clock, stats, calls, open, lines, queue } = setup({ maxInFlight: 1 });
  queue.enqueue(batch(1));
  const gaps: number[] = [];
  for (let i = 0; i < 4; i++) {
    const before = clock.now();
    await open()[0]!.answer(UNAVAILABLE);
    const expected = [1000, 2000, 4000, 5000][i]!;
    await clock.advance(expected - 1);
    assert.equal(open().length, 0, `no retry before ${expected} ms`);
    await clock.advance(1);
    assert.equal(open().length, 1, `a retry at ${expected} ms`);
    gaps.push(open()[0]!.at - before);
  }
  assert.deepEqual(gaps, [1000, 2000, 4000, 5000]);
  await open()[0]!.answer(OK);
  assert.deepEqual(
    calls.map((c) => c.id),
    [1, 1, 1, 1, 1],
  );
  assert.equal(stats.get('ExportRetries'), 4);
  assert.equal(stats.get('SpansRetried'), 40);
  assert.equal(stats.get('TotalRequestsSent'), 10);
  assert.equal(stats.get('ExportRequests'), 5);
  assert.equal(clock.pending, 0);
  assert.deepEqual(
    lines.map((l) => l.level),
    ['warn', 'info'],
  );
  assert.equal(lines[1]!.fields.durationMs, 12_000);
  assert.equal(lines[1]!.fields.requestsRetried, 4);
});

test('Retry-After is honoured', async () => {
  const { clock, open, queue } = setup();
  queue.enqueue(batch(1));
  await open()[0]!.answer({ ...UNAVAILABLE, status: 429, retryAfterMs: 3000 });
  await clock.advance(2999);
  assert.equal(open().length, 0);
  await clock.advance(1);
  assert.equal(open().length, 1);
});

test('during an outage one probe at a time; oldest first; full concurrency once it answers', async () => {
  const { clock, calls, open, lines, queue } = setup({ maxInFlight: 3 });
  for (let i = 0; i < 6; i++) queue.enqueue(batch(i));
  assert.equal(open().length, 3);
  for (const c of open()) await c.answer(UNAVAILABLE); // the three in flight fail
  for (let i = 0; i < 20; i++) {
    await clock.advance(5000); // past any backoff
    assert.equal(open().length, 1, 'a single probe');
    assert.equal(open()[0]!.id, 0, 'the oldest batch probes');
    await open()[0]!.answer({ kind: 'retryable', message: 'connect ECONNREFUSED' });
  }
  assert.equal(calls.length, 3 + 20);
  await clock.advance(5000);
  await open()[0]!.answer(OK);
  assert.deepEqual(
    open().map((c) => c.id),
    [1, 2, 3],
    'the failed ones, in order, ahead of the never-sent, at full concurrency',
  );
  for (const c of open()) await c.answer(OK);
  for (const c of open()) await c.answer(OK);
  assert.equal(queue.spans, 0);
  const outage = lines.filter((l) => l.msg.includes('failing'));
  const recovery = lines.filter((l) => l.msg.includes('recovered'));
  assert.equal(outage.length, 1, 'one warn line for the whole outage');
  assert.equal(outage[0]!.level, 'warn');
  assert.equal(outage[0]!.fields.status, 503);
  assert.equal(outage[0]!.fields.message, 'unavailable');
  assert.equal(recovery.length, 1, 'one info line when it ends');
  assert.equal(recovery[0]!.level, 'info');
  assert.equal(recovery[0]!.fields.requestsRetried, 21);
  assert.equal(lines.length, 2);
});

test('a 400 is dropped, counted, logged once per status and never retried', async () => {
  const { clock, stats, calls, open, lines, queue } = setup({ maxInFlight: 1 });
  const settled: boolean[] = [];
  for (let i = 0; i < 4; i++) queue.enqueue(batch(i), (d) => settled.push(d));
  const bad: SendOutcome = { kind: 'rejected', status: 400, message: 'bad span' };
  await open()[0]!.answer(bad);
  await open()[0]!.answer(bad);
  await open()[0]!.answer({ kind: 'rejected', status: 413, message: 'too large' });
  await clock.advance(60_000);
  assert.equal(open().length, 1, 'nothing was retried');
  await open()[0]!.answer(bad);
  assert.deepEqual(
    calls.map((c) => c.id),
    [0, 1, 2, 3],
  );
  assert.deepEqual(settled, [false, false, false, false]);
  assert.equal(stats.get('SpansRejectedByCollector'), 40);
  assert.equal(stats.get('ExportRetries'), 0);
  assert.deepEqual(
    lines.map((l) => [l.fields.status, l.fields.count, l.fields.message]),
    [
      [400, 1, 'bad span'],
      [413, 1, 'too large'],
      [400, 2, 'bad span'], // a minute later, with the one held back
    ],
  );
});

test('a partial success counts delivered and rejected spans', async () => {
  const { stats, open, lines, queue } = setup();
  queue.enqueue(batch(1, 10));
  await open()[0]!.answer({ kind: 'ok', rejectedSpans: 3, message: 'dropped 3 spans' });
  assert.equal(stats.get('TotalRequestsSent'), 7);
  assert.equal(stats.get('SpansPartiallyRejected'), 3);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.fields.message, 'dropped 3 spans');
  queue.enqueue(batch(2, 5));
  await open()[0]!.answer({ kind: 'ok', rejectedSpans: 99 });
  assert.equal(stats.get('SpansPartiallyRejected'), 8, 'never more than the batch held');
  assert.equal(lines.length, 1, 'rate-limited');
});

test('the byte bound drops what does not fit; a lone oversized batch still goes', async () => {
  const { stats, open, lines, queue } = setup({ maxQueueBytes: 250, maxInFlight: 1 });
  const refused: boolean[] = [];
  assert.equal(queue.enqueue(batch(1, 10, 100)), true);
  assert.equal(queue.enqueue(batch(2, 10, 150)), true, 'exactly at the bound');
  assert.equal(
    queue.enqueue(batch(3, 7, 1), (d) => refused.push(d)),
    false,
  );
  assert.deepEqual(refused, [false]);
  assert.equal(stats.get('SpansDroppedAtExportQueue'), 7);
  assert.equal(queue.bytes, 250);
  assert.equal(queue.spans, 20);
  assert.equal(stats.get('ExportQueueBytes'), 250);
  assert.equal(stats.get('ExportQueueSpans'), 20);
  assert.equal(lines.length, 1);
  await open()[0]!.answer(OK);
  await open()[0]!.answer(OK);
  assert.equal(queue.bytes, 0);
  assert.equal(queue.enqueue(batch(4, 50, 1000)), true, 'larger than the bound, queue empty');
  assert.equal(stats.get('ExportQueueMaxBytesTillNow'), 1000);
  assert.equal(queue.enqueue(batch(5, 1, 1)), false);
  assert.equal(stats.get('SpansDroppedAtExportQueue'), 8);
});

test('drain delivers within the deadline (retries included), then refuses batches', async () => {
  const { clock, stats, open, queue } = setup();
  queue.enqueue(batch(1));
  queue.enqueue(batch(2));
  let result: { undelivered: number } | undefined;
  void queue.drain(10_000).then((r) => (result = r));
  await open()[0]!.answer(UNAVAILABLE);
  await open()[0]!.answer(OK);
  await clock.advance(1000);
  assert.equal(result, undefined);
  await open()[0]!.answer(OK);
  assert.deepEqual(result, { undelivered: 0 });
  assert.equal(stats.get('TotalRequestsSent'), 20);
  assert.equal(clock.pending, 0, 'no timer left behind');
  const refused: boolean[] = [];
  assert.equal(
    queue.enqueue(batch(3, 4), (d) => refused.push(d)),
    false,
  );
  assert.deepEqual(refused, [false]);
  assert.equal(stats.get('SpansDroppedAtShutdown'), 4);
  assert.deepEqual(await queue.drain(1), { undelivered: 0 }, 'drain again: same answer');
});

test('drain at the deadline aborts what is in flight and drops the rest', async () => {
  const { clock, stats, calls, open, lines, queue } = setup({ maxInFlight: 2 });
  const settled: boolean[] = [];
  for (let i = 0; i < 5; i++) queue.enqueue(batch(i, 10), (d) => settled.push(d));
  await open()[0]!.answer(OK); // one delivered; the collector then hangs
  let result: { undelivered: number } | undefined;
  void queue.drain(5000).then((r) => (result = r));
  await clock.advance(4999);
  assert.equal(result, undefined);
  await clock.advance(1);
  assert.deepEqual(result, { undelivered: 40 });
  assert.equal(stats.get('SpansDroppedAtShutdown'), 40);
  assert.equal(stats.get('TotalRequestsSent'), 10);
  assert.ok(
    calls.slice(1).every((c) => c.signal?.aborted),
    'in-flight requests aborted',
  );
  assert.deepEqual(settled, [true, false, false, false, false]);
  assert.equal(queue.bytes, 0);
  assert.equal(stats.get('ExportQueueSpans'), 0);
  assert.equal(clock.pending, 0, 'no timer left behind');
  assert.equal(lines.filter((l) => l.msg.includes('deadline')).length, 1);
  await tick(); // the aborted sends answer 'aborted' late: ignored
  assert.equal(stats.get('ExportRetries'), 0);
  assert.equal(calls.length, 3);
});

test('drain during an outage drops at the deadline and stops retrying', async () => {
  const { clock, stats, calls, open, queue } = setup();
  queue.enqueue(batch(1));
  await open()[0]!.answer(UNAVAILABLE);
  const result = queue.drain(2500);
  await clock.advance(1000);
  await open()[0]!.answer(UNAVAILABLE); // next retry 2 s later: past the deadline
  await clock.advance(1500);
  assert.deepEqual(await result, { undelivered: 10 });
  assert.equal(stats.get('SpansDroppedAtShutdown'), 10);
  assert.equal(clock.pending, 0);
  await clock.advance(10_000);
  assert.equal(calls.length, 2);
});

test('drain of an empty queue resolves at once', async () => {
  const { clock, queue } = setup();
  assert.deepEqual(await queue.drain(5000), { undelivered: 0 });
  assert.equal(clock.pending, 0);
});

test('whenBelow resolves once the queued bytes fall to the mark', async () => {
  const { open, queue } = setup({ maxInFlight: 1 });
  for (let i = 0; i < 3; i++) queue.enqueue(batch(i, 1, 100));
  let below = false;
  void queue.whenBelow(150).then(() => (below = true));
  await queue.whenBelow(300); // already there
  await open()[0]!.answer(OK);
  assert.equal(below, false, '200 bytes left');
  await open()[0]!.answer(OK);
  assert.equal(below, true, '100 bytes left');
});

test('flush resolves once everything enqueued before it has settled', async () => {
  const { open, queue } = setup({ maxInFlight: 3 });
  await queue.flush(); // nothing queued
  queue.enqueue(batch(0));
  queue.enqueue(batch(1));
  let flushed = false;
  void queue.flush().then(() => (flushed = true));
  queue.enqueue(batch(2));
  const [a, b, c] = open();
  await b!.answer(OK);
  await c!.answer(OK);
  assert.equal(flushed, false, 'batch 0 is still out');
  await a!.answer({ kind: 'rejected', status: 400, message: 'no' });
  assert.equal(flushed, true);
});
