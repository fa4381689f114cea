/**
 * Exporter plugins end to end: the real tracer CLI on a real nginx, its config's exporter the
 * webhook plugin of examples/custom-exporter (`exporter.type: module`), named by the path of its
 * built entry and by package name. The webhook must receive exactly the requests curl made, as
 * NDJSON spans, and the tracer must exit 0 on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT,
  freePort,
  kernelTestsPossible,
  kill,
  run,
  startNginx,
  startTracer,
} from './harness.js';
// The plugin's own test webhook (a workspace-only subpath: the packed plugin leaves it out).
import { startWebhook, type TestWebhook } from '@traceable-ebpf/webhook-exporter/testing';

const PLUGIN_DIR = join(ROOT, 'examples', 'custom-exporter');

/** `METHOD /path?query STATUS` of each NDJSON span the webhook received, sorted. */
function requestsOf(hook: TestWebhook): string[] {
  return hook.requests
    .flatMap((r) => r.records)
    .map((s) => {
      const a = s.attributes as Record<string, unknown>;
      const query = a['url.query'] === undefined ? '' : `?${String(a['url.query'])}`;
      return `${String(a['http.request.method'])} ${String(a['url.path'])}${query} ${String(a['http.response.status_code'])}`;
    })
    .sort();
}

test('the webhook plugin named in the config receives every request as an NDJSON span', async (t) => {
  if (!kernelTestsPossible(t, ['curl', 'nginx'])) return;
  const dir = mkdtempSync(join(tmpdir(), 'te-plugin-e2e-'));
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(dir, 'www', 'a.txt'), 'a'.repeat(300));
  const port = await freePort();
  const hook = await startWebhook();
  const { nginx } = await startNginx(dir, port);
  t.after(async () => {
    await kill(nginx, 'SIGQUIT');
    await hook.close();
  });
  const url = `http://127.0.0.1:${port}`;

  /** Runs the tracer with the config in `configDir` naming `module`, and curl on `round`. */
  const traceRound = async (configDir: string, module: string, round: string) => {
    const config = join(configDir, 'ebpf-tracer-config.yaml');
    writeFileSync(
      config,
      [
        'stats_interval: 0',
        'exporter:',
        '  type: module',
        `  module: '${module}'`,
        '  options:',
        `    url: '${hook.url}'`,
        '    maxWaitMs: 100',
        "    headers: { Authorization: 'Bearer e2e-token' }",
        '',
      ].join('\n'),
    );
    const tracer = await startTracer([nginx.pid!], {}, ['--config', config]);
    try {
      run('curl', ['-sS', '-o', '/dev/null', `${url}/a.txt?round=${round}`]);
      run('curl', ['-sS', '-o', '/dev/null', '-I', `${url}/a.txt?round=${round}`]);
      run('curl', ['-sS', '-o', '/dev/null', `${url}/missing?round=${round}`]);
      run('curl', ['-sS', '-o', '/dev/null', '-X', 'DELETE', `${url}/a.txt?round=${round}`]);
    } finally {
      assert.equal(await tracer.stop(), 0, tracer.stderr());
    }
    return tracer.stderr();
  };
  const expected = (round: string) => [
    `DELETE /a.txt?round=${round} 405`,
    `GET /a.txt?round=${round} 200`,
    `GET /missing?round=${round} 404`,
    `HEAD /a.txt?round=${round} 200`,
  ];

  // By the path of the built entry.
  const byPath = mkdtempSync(join(tmpdir(), 'te-plugin-path-'));
  const log = await traceRound(byPath, join(PLUGIN_DIR, 'dist', 'index.js'), 'path');
  assert.deepEqual(requestsOf(hook), expected('path'), log);
  assert.match(log, /"exporter":"module"/);
  assert.match(log, /"msg":"webhook exporter: spans go out as NDJSON"/);
  assert.ok(!log.includes('e2e-token'), 'the option values are not logged');
  for (const req of hook.requests) {
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/hook');
    assert.equal(req.headers['content-type'], 'application/x-ndjson');
    assert.equal(req.headers.authorization, 'Bearer e2e-token');
  }
  for (const span of hook.requests.flatMap((r) => r.records)) {
    assert.equal(span.kind, 'server');
    assert.match(String(span.traceId), /^[0-9a-f]{32}$/);
    assert.match(String(span.spanId), /^[0-9a-f]{16}$/);
    assert.ok(BigInt(String(span.endTimeUnixNano)) >= BigInt(String(span.startTimeUnixNano)));
    assert.equal((span.attributes as Record<string, unknown>)['server.port'], port);
    assert.equal((span.resource as Record<string, unknown>)['process.executable.name'], 'nginx');
  }

  // By package name, installed beside the config (a node_modules link, as npm would make it).
  const byName = mkdtempSync(join(tmpdir(), 'te-plugin-name-'));
  mkdirSync(join(byName, 'node_modules', '@traceable-ebpf'), { recursive: true });
  symlinkSync(PLUGIN_DIR, join(byName, 'node_modules', '@traceable-ebpf', 'webhook-exporter'));
  const before = hook.requests.length;
  const nameLog = await traceRound(byName, '@traceable-ebpf/webhook-exporter', 'name');
  hook.requests.splice(0, before);
  assert.deepEqual(requestsOf(hook), expected('name'), nameLog);
});
