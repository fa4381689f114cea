/**
 * No feedback loop: with `--all` every process is captured, including this test process, whose
 * OTLP receiver accepts the tracer's exports. The kernel never captures the tracer, and the
 * tracer drops the receiver's side of its own export connections, so no `POST /v1/traces` span
 * is ever exported and the spans don't grow while nothing else happens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOtlpReceiver, SPAN_KIND, type ReceivedSpan } from './otlp-receiver.js';
import { freePort, kernelTestsPossible, kill, run, startTracer, waitForPort } from './harness.js';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const REQUESTS = 20;
const IDLE_MS = 4000;

/** Resolves once `done()` holds, checking every 100 ms (rejects with `what` after `ms`). */
async function until(done: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The counters of the last `stats` line in a JSON log. */
function lastStats(log: string): Record<string, number> {
  const lines = log.split('\n').filter((l) => l.includes('"msg":"stats"'));
  assert.ok(lines.length > 0, `no stats line in: ${log.slice(-2000)}`);
  return JSON.parse(lines[lines.length - 1]!) as Record<string, number>;
}

test('--all with the collector on this node: its side of the export connections is never a span', async (t) => {
  if (!kernelTestsPossible(t, ['curl'])) return;
  const dir = mkdtempSync(join(tmpdir(), 'te-own-'));
  writeFileSync(join(dir, 'x.txt'), 'x'.repeat(123));
  const config = join(dir, 'ebpf-tracer-config.yaml');
  writeFileSync(config, 'stats_interval: 1\n');
  const port = await freePort();
  const receiver = await startOtlpReceiver();
  const receiverPort = Number(new URL(receiver.endpoint).port);
  const server = spawn(
    PYTHON,
    ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir],
    { stdio: 'ignore' },
  );
  t.after(async () => {
    await kill(server);
    await receiver.close();
  });
  await waitForPort(port);

  const tracer = await startTracer([], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint }, [
    '--all',
    '--config',
    config,
  ]);
  const served = () =>
    receiver.spans.filter(
      (s) => s.kind === SPAN_KIND.SERVER && s.resource['process.pid'] === server.pid,
    );
  // Spans of the receiver's side of the exports: this process's, or to the receiver's port.
  // (Other processes on the machine may post to collectors of their own: not these.)
  const feedback = (spans: readonly ReceivedSpan[]) =>
    spans.filter(
      (s) =>
        s.resource['process.pid'] === process.pid || s.attributes['server.port'] === receiverPort,
    );
  let stderr: string;
  let idleGrowth: number;
  let periodicStats: Record<string, number>;
  let connectionsSeen: number;
  try {
    for (let i = 0; i < REQUESTS; i++)
      run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${port}/x.txt?i=${i}`]);
    // Once these arrived, exports have happened.
    await until(() => served().length >= REQUESTS, `${REQUESTS} server spans`);
    const before = receiver.spans.filter((s) => s.attributes['server.port'] === port).length;
    const feedbackBefore = feedback(receiver.spans).length;
    // The export connections so far: the tracer has had the whole idle wait to see them open.
    connectionsSeen = receiver.connections;
    // Idle: no request to the server. A loop would keep exporting its own exports' spans.
    await new Promise((r) => setTimeout(r, IDLE_MS));
    idleGrowth =
      receiver.spans.filter((s) => s.attributes['server.port'] === port).length -
      before +
      (feedback(receiver.spans).length - feedbackBefore);
    // Logged every second while running: the idle wait saw several.
    periodicStats = lastStats(tracer.stderr());
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
    stderr = tracer.stderr();
  }

  // The real requests, each once: the server's side, and curl's.
  assert.deepEqual(
    served()
      .map(
        (s) =>
          `${String(s.attributes['url.query'])} ${String(s.attributes['http.response.status_code'])}`,
      )
      .sort(),
    Array.from({ length: REQUESTS }, (_, i) => `i=${i} 200`).sort(),
  );
  for (const s of served()) {
    assert.equal(s.attributes['http.request.method'], 'GET');
    assert.equal(s.attributes['url.path'], '/x.txt');
  }
  const curl = receiver.spans.filter(
    (s) => s.kind === SPAN_KIND.CLIENT && s.attributes['server.port'] === port,
  );
  assert.equal(curl.length, REQUESTS);

  // Never a span of the exports themselves, and nothing grew while idle.
  assert.deepEqual(
    feedback(receiver.spans).map(
      (s) =>
        `${s.name} ${String(s.attributes['url.path'])} pid=${String(s.resource['process.pid'])}`,
    ),
    [],
  );
  assert.equal(idleGrowth, 0);
  // Logged while running, not only at the stop (its value is up to a second old).
  assert.ok(periodicStats.OwnConnectionsSkipped! >= 1, JSON.stringify(periodicStats));
  // Every connection the receiver accepted is an export connection of the tracer, skipped once.
  // How many there are depends on the exporter's pool and keep-alive expiry, and one opened by
  // the last flush, after the capture stopped, is never seen: hence a range, not one number.
  const final = lastStats(stderr);
  assert.ok(connectionsSeen >= 1, 'the tracer exported');
  assert.ok(
    final.OwnConnectionsSkipped! >= connectionsSeen &&
      final.OwnConnectionsSkipped! <= receiver.connections,
    `OwnConnectionsSkipped ${final.OwnConnectionsSkipped} for ${connectionsSeen} to ${receiver.connections} export connections`,
  );
  // Each skipped connection's open at least; how many of its reads and writes the kernel copied
  // before it was told to stop depends on timing.
  assert.ok(
    final.OwnConnectionEventsSkipped! >= final.OwnConnectionsSkipped!,
    JSON.stringify(final),
  );
});
