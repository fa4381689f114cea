import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { ErrorCode, FlowControl, isTracerError } from '@traceable-ebpf/core';
import {
  RecordingWriter,
  layoutFingerprint,
  readRecordingInfo,
  replaySource,
} from './recording.js';
import { CLOSE_EVENT_OFFSETS, EventKind } from './generated/layout.js';

/** A batch of `n` close records in ring buffer framing. */
function closeBatch(n: number): Uint8Array {
  const rec = CLOSE_EVENT_OFFSETS.sizeof;
  const stride = 8 + Math.ceil(rec / 8) * 8;
  const buf = new Uint8Array(stride * n);
  const v = new DataView(buf.buffer);
  for (let i = 0; i < n; i++) {
    const o = i * stride;
    v.setUint32(o, rec, true);
    v.setUint32(o + 8 + 8, 100 + i, true); // tgid
    v.setUint8(o + 8 + 28, EventKind.TE_EV_CLOSE);
  }
  return buf;
}

test('a recording replays its events in order, with its info', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'te-rec-')), 'r.rec');
  const w = new RecordingWriter(path);
  const a = closeBatch(3);
  const b = closeBatch(2);
  w.write(a, a.length, 3);
  w.write(b, b.length, 2);
  w.close();
  const info = readRecordingInfo(path);
  assert.equal(info.layout, layoutFingerprint());
  assert.match(info.epochOffsetNs, /^\d+$/);
  const events = await lastValueFrom(replaySource(path).pipe(toArray()));
  assert.deepEqual(
    events.map((e) => [e.kind, e.tgid]),
    [
      ['close', 100],
      ['close', 101],
      ['close', 102],
      ['close', 100],
      ['close', 101],
    ],
  );
});

test('bad recordings are one-line errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'te-rec-'));
  const notOne = join(dir, 'not.rec');
  writeFileSync(notOne, 'hello world, not a recording');
  assert.throws(() => readRecordingInfo(notOne), /is not a traceable-ebpf recording/);
  assert.throws(
    () => readRecordingInfo(join(dir, 'missing.rec')),
    /cannot read recording .*: ENOENT/,
  );

  // Another layout: the fingerprint in the info differs.
  const good = join(dir, 'good.rec');
  new RecordingWriter(good).close();
  const other = join(dir, 'other.rec');
  writeFileSync(
    other,
    readFileSync(good).toString('latin1').replace(layoutFingerprint(), '0123456789abcdef'),
    'latin1',
  );
  await assert.rejects(
    lastValueFrom(replaySource(other)),
    (e: unknown) =>
      isTracerError(e) && e.code === ErrorCode.Config && /another event layout/.test(e.message),
  );

  // Truncated inside a block.
  const w = new RecordingWriter(join(dir, 'trunc.rec'));
  const batch = closeBatch(4);
  w.write(batch, batch.length, 4);
  w.close();
  const bytes = readFileSync(join(dir, 'trunc.rec'));
  writeFileSync(join(dir, 'trunc.rec'), bytes.subarray(0, bytes.length - 10));
  await assert.rejects(lastValueFrom(replaySource(join(dir, 'trunc.rec'))), /is truncated/);
});

test('with backpressure, a pause stops a replay at once, mid-block, until resumed', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'te-rec-')), 'r.rec');
  const w = new RecordingWriter(path);
  const a = closeBatch(50);
  w.write(a, a.length, 50);
  w.write(a, a.length, 50);
  w.close();
  const flow = new FlowControl();
  const seen: number[] = [];
  const done = new Promise<void>((resolve) =>
    replaySource(path, { flow }).subscribe({
      next: (e) => {
        seen.push(e.tgid);
        if (seen.length === 10) flow.pause();
      },
      complete: resolve,
    }),
  );
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen.length, 10, 'nothing more while paused');
  flow.resume();
  await done;
  assert.equal(seen.length, 100);
  assert.deepEqual(seen.slice(8, 12), [108, 109, 110, 111]);
});
