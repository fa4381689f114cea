import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, from, lastValueFrom, toArray } from 'rxjs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { FlowControl, Stats } from '@traceable-ebpf/core';
import { exportSpans } from './operators.js';
import type { StreamingSpanExporter } from './streaming-exporter.js';

/** Spans are only counted and passed on here: their content doesn't matter. */
const spans = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `s${i}` }) as unknown as ReadableSpan);

/** An exporter whose answers the test decides: each export waits in `calls`. */
function manualExporter() {
  const calls: Array<{ batch: ReadableSpan[]; done: (r: ExportResult) => void }> = [];
  const exporter: SpanExporter = {
    export: (batch, done) => void calls.push({ batch, done }),
    shutdown: () => Promise.resolve(),
  };
  return { exporter, calls };
}

const tick = () => new Promise((r) => setImmediate(r));

test('generic exporter: accepted batches count TotalRequestsSent; one summary at the end', async () => {
  const stats = new Stats();
  const sizes: number[] = [];
  const exporter: SpanExporter = {
    export: (batch, done) => {
      sizes.push(batch.length);
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: () => Promise.resolve(),
  };
  const out = await lastValueFrom(
    from(spans(1200)).pipe(exportSpans(exporter, { stats, maxBatchSize: 500 }), toArray()),
  );
  assert.deepEqual(out, [{ undelivered: 0 }]);
  assert.deepEqual(sizes, [500, 500, 200]);
  assert.equal(stats.get('TotalRequestsSent'), 1200);
});

test('generic exporter: a failed export counts SpansExportFailed and is reported once per batch', async () => {
  const stats = new Stats();
  const errors: Array<[string | undefined, number]> = [];
  const exporter: SpanExporter = {
    export: (_batch, done) =>
      done({ code: ExportResultCode.FAILED, error: new Error('connection refused') }),
    shutdown: () => Promise.resolve(),
  };
  await lastValueFrom(
    from(spans(30)).pipe(
      exportSpans(exporter, {
        stats,
        maxBatchSize: 20,
        onExportError: (err, n) => errors.push([err?.message, n]),
      }),
    ),
  );
  assert.equal(stats.get('SpansExportFailed'), 30);
  assert.equal(stats.get('TotalRequestsSent'), 0);
  assert.deepEqual(errors, [
    ['connection refused', 20],
    ['connection refused', 10],
  ]);
});

test('generic exporter: while exports are slow the queue is bounded, drops counted; two in flight', async () => {
  const stats = new Stats();
  const { exporter, calls } = manualExporter();
  const input = new Subject<ReadableSpan>();
  const out = lastValueFrom(
    input.pipe(exportSpans(exporter, { stats, maxBatchSize: 10, maxQueueSize: 25 })),
  );
  for (const s of spans(20)) input.next(s); // two batches go out and hang
  assert.equal(calls.length, 2);
  for (const s of spans(40)) input.next(s); // 25 fit in the queue, 15 don't
  assert.equal(stats.get('SpansDroppedAtExportQueue'), 15);
  input.complete();
  while (calls.length > 0) {
    calls.shift()!.done({ code: ExportResultCode.SUCCESS });
    await tick();
  }
  assert.deepEqual(await out, { undelivered: 0 });
  assert.equal(stats.get('TotalRequestsSent'), 45);
});

test('generic exporter: what is undelivered at the drain deadline is dropped and counted', async () => {
  const stats = new Stats();
  const { exporter, calls } = manualExporter();
  const out = await lastValueFrom(
    from(spans(25)).pipe(
      exportSpans(exporter, { stats, maxBatchSize: 10, maxExportsInFlight: 1, drainTimeoutMs: 30 }),
    ),
  );
  assert.equal(calls.length, 1, 'the first export never answered');
  assert.deepEqual(out, { undelivered: 25 });
  assert.equal(stats.get('SpansDroppedAtShutdown'), 25);
});

test('generic exporter: backpressure pauses a source that can wait, resumes when drained', async () => {
  const { exporter, calls } = manualExporter();
  const flow = new FlowControl();
  const input = new Subject<ReadableSpan>();
  const out = lastValueFrom(
    input.pipe(
      exportSpans(exporter, { flow, maxBatchSize: 10, maxQueueSize: 40, maxExportsInFlight: 1 }),
    ),
  );
  for (const s of spans(30)) input.next(s); // one batch in flight, 20 queued: half the bound
  assert.equal(flow.paused, true);
  let resumed = false;
  void flow.whenResumed().then(() => (resumed = true));
  calls.shift()!.done({ code: ExportResultCode.SUCCESS }); // queue 10 → below a quarter
  calls.shift()!.done({ code: ExportResultCode.SUCCESS });
  await tick();
  assert.equal(resumed, true);
  input.complete();
  while (calls.length > 0) {
    calls.shift()!.done({ code: ExportResultCode.SUCCESS });
    await tick();
  }
  assert.deepEqual(await out, { undelivered: 0 });
});

/** A streaming exporter that records what it was given. */
function streamingExporter() {
  const offered: ReadableSpan[] = [];
  let bytes = 0;
  let release: (() => void) | undefined;
  const drains: number[] = [];
  let flushed: (() => void) | undefined;
  const exporter: StreamingSpanExporter = {
    forceFlush: () => new Promise<void>((resolve) => (flushed = resolve)),
    offer: (s) => {
      offered.push(s);
      bytes += 100;
    },
    get queuedBytes() {
      return bytes;
    },
    highWaterBytes: 1000,
    whenBelow: (b) =>
      new Promise<void>((resolve) => {
        release = () => {
          bytes = b;
          resolve();
        };
      }),
    drain: (ms) => {
      drains.push(ms);
      return Promise.resolve({ undelivered: 3 });
    },
    export: (_s, done) => done({ code: ExportResultCode.SUCCESS }),
    shutdown: () => Promise.resolve(),
  };
  return { exporter, offered, drains, release: () => release?.(), flush: () => flushed?.() };
}

test('streaming exporter: spans go to offer() one by one; drain at the end with its timeout', async () => {
  const { exporter, offered, drains } = streamingExporter();
  const out = await lastValueFrom(
    from(spans(7)).pipe(exportSpans(exporter, { drainTimeoutMs: 1234 })),
  );
  assert.equal(offered.length, 7);
  assert.deepEqual(drains, [1234]);
  assert.deepEqual(out, { undelivered: 3 });
});

test('streaming exporter: backpressure past its high-water mark, resumed below half', async () => {
  const { exporter, release } = streamingExporter();
  const flow = new FlowControl();
  const input = new Subject<ReadableSpan>();
  const out = lastValueFrom(input.pipe(exportSpans(exporter, { flow })));
  for (const s of spans(9)) input.next(s);
  assert.equal(flow.paused, false);
  input.next(spans(1)[0]!); // 1000 bytes: the mark
  assert.equal(flow.paused, true);
  release();
  await tick();
  assert.equal(flow.paused, false);
  input.complete();
  await out;
});

test('streaming exporter with a stop signal: no deadline at the end of a file until stopped', async () => {
  const { exporter, drains } = streamingExporter();
  const stop = new Subject<void>();
  const out = lastValueFrom(
    from(spans(3)).pipe(exportSpans(exporter, { stop, drainTimeoutMs: 50 })),
  );
  await tick();
  assert.deepEqual(drains, [], 'waiting for delivery, no deadline');
  stop.next();
  assert.deepEqual(drains, [50], 'stopped: the deadline applies');
  await out;
  // Delivered before any stop: the drain then ends at once.
  const second = streamingExporter();
  const out2 = lastValueFrom(
    from(spans(3)).pipe(exportSpans(second.exporter, { stop: new Subject<void>() })),
  );
  await tick();
  second.flush();
  await out2;
  assert.equal(second.drains.length, 1);
});

test('generic exporter with a stop signal: the deadline starts when stopped, not at completion', async () => {
  const stats = new Stats();
  const { exporter, calls } = manualExporter();
  const stop = new Subject<void>();
  let summary: unknown;
  from(spans(5))
    .pipe(exportSpans(exporter, { stats, stop, drainTimeoutMs: 20 }))
    .subscribe((s) => (summary = s));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(summary, undefined, 'still waiting past the timeout: not stopped yet');
  stop.next();
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(summary, { undelivered: 5 });
  assert.equal(calls.length, 1);
});
