import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, from, lastValueFrom, toArray } from 'rxjs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Stats } from '@traceable-ebpf/core';
import { exportSpans } from './operators.js';

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

test('accepted batches pass their spans on and count TotalRequestsSent', async () => {
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
  assert.equal(out.length, 1200);
  assert.deepEqual(sizes, [500, 500, 200]);
  assert.equal(stats.get('TotalRequestsSent'), 1200);
});

test('a failed export counts SpansExportFailed and is reported once per batch', async () => {
  const stats = new Stats();
  const errors: Array<[string | undefined, number]> = [];
  const exporter: SpanExporter = {
    export: (_batch, done) =>
      done({ code: ExportResultCode.FAILED, error: new Error('connection refused') }),
    shutdown: () => Promise.resolve(),
  };
  const out = await lastValueFrom(
    from(spans(30)).pipe(
      exportSpans(exporter, {
        stats,
        maxBatchSize: 20,
        onExportError: (err, n) => errors.push([err?.message, n]),
      }),
      toArray(),
    ),
  );
  assert.equal(out.length, 0);
  assert.equal(stats.get('SpansExportFailed'), 30);
  assert.equal(stats.get('TotalRequestsSent'), 0);
  assert.deepEqual(errors, [
    ['connection refused', 20],
    ['connection refused', 10],
  ]);
});

test('while an export is slow the queue is bounded: what does not fit is dropped, counted', async () => {
  const stats = new Stats();
  const { exporter, calls } = manualExporter();
  const input = new Subject<ReadableSpan>();
  const out = lastValueFrom(
    input.pipe(exportSpans(exporter, { stats, maxBatchSize: 10, maxQueueSize: 25 }), toArray()),
  );
  for (const s of spans(10)) input.next(s); // one batch goes out and hangs
  assert.equal(calls.length, 1);
  for (const s of spans(40)) input.next(s); // 25 fit in the queue, 15 don't
  assert.equal(stats.get('SpansDroppedAtExportQueue'), 15);
  input.complete();
  while (calls.length > 0) {
    calls.shift()!.done({ code: ExportResultCode.SUCCESS });
    await new Promise((r) => setImmediate(r));
  }
  assert.equal((await out).length, 35);
  assert.equal(stats.get('TotalRequestsSent'), 35);
});
