/**
 * The reference tracer's capture policies and recordings, end to end: --record then --replay
 * (unprivileged) reproduces the live spans; --cgroup selects the processes of a cgroup v2;
 * --all captures every process but the tracer itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  kernelTestsPossible,
  kill,
  run,
  runTracerAsNobody,
  startTracer,
  waitForPort,
} from './harness.js';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

interface JsonSpan {
  name: string;
  kind: string;
  startTimeUnixNano: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}
const readJsonl = (path: string): JsonSpan[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as JsonSpan)
    : [];
const summary = (spans: JsonSpan[]) =>
  spans
    .map(
      (s) =>
        `${String(s.attributes['http.request.method'])} ${String(s.attributes['url.path'])} ${String(s.attributes['http.response.status_code'])} ${s.startTimeUnixNano}`,
    )
    .sort();

async function pythonServer(t: { after: (fn: () => Promise<void>) => void }, cgroupProcs?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'te-pol-'));
  chmodSync(dir, 0o755); // the replay runs as nobody
  writeFileSync(join(dir, 'x.txt'), 'x'.repeat(321));
  const port = await freePort();
  const server = spawn(
    PYTHON,
    ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir],
    { stdio: 'ignore' },
  );
  if (cgroupProcs) writeFileSync(cgroupProcs, String(server.pid));
  t.after(() => kill(server));
  await waitForPort(port);
  return { server, port, dir };
}

test('--record, then --replay without privileges, gives the same spans with the same times', async (t) => {
  if (!kernelTestsPossible(t, ['curl', 'setpriv'])) return;
  const { server, port, dir } = await pythonServer(t);
  const rec = join(dir, 'events.rec');
  const live = join(dir, 'live.jsonl');
  const tracer = await startTracer([server.pid!], {}, [
    '--record',
    rec,
    '--exporter',
    'jsonl',
    '--output',
    live,
  ]);
  try {
    for (const path of ['/x.txt', '/missing', '/x.txt?q=1'])
      run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${port}${path}`]);
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  const replayed = join(dir, 'replayed.jsonl');
  const r = runTracerAsNobody(['--replay', rec, '--exporter', 'jsonl']);
  assert.equal(r.status, 0, r.stderr);
  writeFileSync(replayed, r.stdout);
  const liveSpans = readJsonl(live);
  assert.equal(liveSpans.length, 3);
  assert.deepEqual(summary(readJsonl(replayed)), summary(liveSpans));
});

test('--cgroup: the processes of a cgroup v2 are captured, others are not', async (t) => {
  if (!kernelTestsPossible(t, ['curl'])) return;
  const root = existsSync('/sys/fs/cgroup/cgroup.procs')
    ? '/sys/fs/cgroup'
    : '/sys/fs/cgroup/unified';
  if (!existsSync(`${root}/cgroup.procs`)) {
    if (process.env.CI) assert.fail('no cgroup v2 hierarchy');
    t.skip('no cgroup v2 hierarchy');
    return;
  }
  const cg = join(root, `te-test-${process.pid}`);
  mkdirSync(cg);
  const inside = await pythonServer(t, join(cg, 'cgroup.procs'));
  const outside = await pythonServer(t);
  // A cgroup can only be removed once empty: stop its server first (killing twice is harmless).
  t.after(async () => {
    await kill(inside.server);
    rmdirSync(cg);
  });
  const out = join(inside.dir, 'spans.jsonl');
  const tracer = await startTracer([], {}, [
    '--cgroup',
    cg,
    '--exporter',
    'jsonl',
    '--output',
    out,
  ]);
  try {
    run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${inside.port}/x.txt`]);
    run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${outside.port}/x.txt`]);
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  const spans = readJsonl(out);
  assert.deepEqual(
    spans.map((s) => [
      s.resource['process.pid'],
      s.attributes['server.port'],
      s.attributes['url.path'],
    ]),
    [[inside.server.pid, inside.port, '/x.txt']],
  );
});

test('--all: every process is captured, the tracer itself never', async (t) => {
  if (!kernelTestsPossible(t, ['curl'])) return;
  const { server, port, dir } = await pythonServer(t);
  const out = join(dir, 'spans.jsonl');
  // The tracer serves HTTP itself (its health port): requests to it are HTTP on a process the
  // kernel sees, so only the tracer's exclusion keeps them from becoming spans.
  const healthPort = await freePort();
  const config = join(dir, 'self.yaml');
  writeFileSync(config, `health:\n  enabled: true\n  address: 127.0.0.1\n  port: ${healthPort}\n`);
  const tracer = await startTracer([], {}, [
    '--all',
    '--config',
    config,
    '--exporter',
    'jsonl',
    '--output',
    out,
  ]);
  try {
    run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${port}/x.txt`]);
    assert.equal(run('curl', ['-sS', `http://127.0.0.1:${healthPort}/readyz`]), 'ok ready\n');
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  const spans = readJsonl(out);
  const server_ = spans.filter((s) => s.resource['process.pid'] === server.pid);
  const client = spans.filter(
    (s) => s.resource['process.executable.name'] === 'curl' && s.attributes['server.port'] === port,
  );
  assert.deepEqual(
    server_.map((s) => [
      s.kind,
      s.attributes['url.path'],
      s.attributes['http.response.status_code'],
    ]),
    [['server', '/x.txt', 200]],
  );
  assert.deepEqual(
    client.map((s) => [s.kind, s.attributes['url.path'], s.attributes['server.port']]),
    [['client', '/x.txt', port]],
  );
  // curl's side of the health request is a span (curl is captured); the tracer's side is not.
  assert.deepEqual(
    spans
      .filter((s) => s.attributes['url.path'] === '/readyz')
      .map((s) => [s.kind, s.resource['process.executable.name']]),
    [['client', 'curl']],
  );
  assert.equal(spans.filter((s) => s.resource['process.pid'] === tracer.child.pid).length, 0);
});

test('event_transport: perfbuf (kernels before 5.8) exports the same HTTP spans', async (t) => {
  if (!kernelTestsPossible(t, ['curl'])) return;
  const { server, port, dir } = await pythonServer(t);
  const out = join(dir, 'spans.jsonl');
  const config = join(dir, 'ebpf-tracer-config.yaml');
  writeFileSync(config, 'event_transport: perfbuf\n');
  const tracer = await startTracer([server.pid!], {}, [
    '--config',
    config,
    '--exporter',
    'jsonl',
    '--output',
    out,
  ]);
  try {
    for (const path of ['/x.txt', '/nope', '/x.txt?a=1'])
      run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${port}${path}`]);
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  assert.match(tracer.stderr(), /"transport":"perfbuf"/);
  const spans = readJsonl(out);
  // Exact sizes for the file this test wrote; the 404 page's size is Python's own.
  const sized = (s: JsonSpan) =>
    s.attributes['url.path'] === '/x.txt'
      ? ` ${String(s.attributes['http.response.body.size'])}`
      : '';
  assert.deepEqual(
    spans
      .map(
        (s) =>
          `${String(s.attributes['url.path'])} ${String(s.attributes['http.response.status_code'])}${sized(s)}`,
      )
      .sort(),
    ['/nope 404', '/x.txt 200 321', '/x.txt 200 321'],
  );
});
