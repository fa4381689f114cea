/**
 * A recorded kernel session (test/fixtures/python-http.rec: Python's http.server answering three
 * curl requests, captured on a real kernel) replayed through the whole CLI pipeline, without
 * privileges. Re-record it when the event layout changes (the test says so): `ebpf-tracer --pid
 * <http.server pid> --record test/fixtures/python-http.rec`, then GET /hello.txt,
 * GET /missing?x=1, POST /hello.txt.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/ebpf-tracer.js', import.meta.url));
const fixture = fileURLToPath(new URL('../../../test/fixtures/python-http.rec', import.meta.url));

function replay(): Array<{
  kind: string;
  startTimeUnixNano: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}> {
  const r = spawnSync(process.execPath, [bin, '--replay', fixture, '--exporter', 'jsonl'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(
    r.status,
    0,
    `${r.stderr}\n(if the event layout changed, re-record the fixture: see this file's header)`,
  );
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as never);
}

test('a recorded session replays to the same exchanges, deterministically', () => {
  const spans = replay();
  assert.deepEqual(
    spans.map((s) => [
      s.kind,
      s.attributes['http.request.method'],
      s.attributes['url.path'],
      s.attributes['url.query'],
      s.attributes['http.response.status_code'],
      s.attributes['server.port'],
      s.resource['process.executable.name'],
    ]),
    [
      ['server', 'GET', '/hello.txt', undefined, 200, 18181, 'python3'],
      ['server', 'GET', '/missing', 'x=1', 404, 18181, 'python3'],
      ['server', 'POST', '/hello.txt', undefined, 501, 18181, 'python3'],
    ],
  );
  assert.equal(spans[0]!.attributes['http.response.body.size'], 14); // "hello fixture\n"
  assert.equal(spans[2]!.attributes['http.request.body.size'], 3);
  // Recorded on 2026-11-24: span times come from the recording's clock, not from now.
  assert.ok(
    spans.every((s) =>
      new Date(Number(BigInt(s.startTimeUnixNano) / 1_000_000n))
        .toISOString()
        .startsWith('2026-11-24T22:08'),
    ),
  );
  assert.deepEqual(
    replay().map((s) => s.startTimeUnixNano),
    spans.map((s) => s.startTimeUnixNano),
  );
});
