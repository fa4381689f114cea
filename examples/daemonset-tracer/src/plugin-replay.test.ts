/**
 * The CLI with `exporter.type: module`, on the recorded session replay.test.ts replays (no
 * privileges needed): the plugin named in the config gets the spans, its errors are one line,
 * and a stop bounds a plugin that never delivers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../bin/ebpf-tracer.js', import.meta.url));
const fixture = fileURLToPath(new URL('../../../test/fixtures/python-http.rec', import.meta.url));

/** Writes each span as a JSON line to `options.file` (from the config's directory), then calls back. */
const FILE_PLUGIN = `
import { appendFileSync } from 'node:fs';
import { resolve } from 'node:path';
export function createExporter(options, context) {
  const file = resolve(context.baseDir, options.file);
  context.logger.info({ file }, 'file plugin ready');
  return {
    export(spans, done) {
      for (const s of spans)
        appendFileSync(file, JSON.stringify({ name: s.name, attributes: s.attributes }) + '\\n');
      done({ code: 0 });
    },
    async shutdown() { appendFileSync(file, 'shutdown\\n'); },
  };
}
`;

/**
 * Takes spans and never calls back; its shutdown never ends. Its timer (as a connection would)
 * keeps the process alive until the tracer aborts its signal.
 */
const STUCK_PLUGIN = `
export default (_options, context) => {
  const busy = setInterval(() => {}, 1000);
  context.signal.addEventListener('abort', () => clearInterval(busy));
  return {
    export(spans) { context.logger.info({ n: spans.length }, 'stuck plugin got spans'); },
    shutdown: () => new Promise(() => {}),
  };
};
`;

/** A config directory holding `files`, with cfg.yaml saying `yaml`. */
function configDir(yaml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'te-plugin-cli-'));
  writeFileSync(join(dir, 'cfg.yaml'), yaml);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Replays the fixture with the config in `dir`, from another working directory. */
const replay = (dir: string, args: string[] = []) =>
  spawnSync(
    process.execPath,
    [bin, '--replay', fixture, '--config', join(dir, 'cfg.yaml'), ...args],
    { encoding: 'utf8', timeout: 30_000, cwd: tmpdir() },
  );

test('the plugin the config names gets every span, its options from the config', () => {
  const dir = configDir(
    'stats_interval: 0\nexporter:\n  type: module\n  module: ./file-plugin.mjs\n  options:\n    file: spans.jsonl\n',
    { 'file-plugin.mjs': FILE_PLUGIN },
  );
  const r = replay(dir);
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(join(dir, 'spans.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.pop(), 'shutdown');
  assert.deepEqual(
    lines.map((l) => {
      const a = (JSON.parse(l) as { attributes: Record<string, unknown> }).attributes;
      return `${String(a['http.request.method'])} ${String(a['url.path'])} ${String(a['http.response.status_code'])}`;
    }),
    ['GET /hello.txt 200', 'GET /missing 404', 'POST /hello.txt 501'],
  );
  // The plugin's own line carries the module; the effective configuration shows option keys only.
  assert.match(r.stderr, /"exporter_module":".\/file-plugin.mjs".*"msg":"file plugin ready"/);
  assert.match(r.stderr, /"exporter":"module"/);
  assert.match(r.stderr, /"options":\["file"\]/);
});

test('exporter.module without type is the module exporter; --exporter module needs exporter.module', () => {
  const dir = configDir(
    'exporter:\n  module: ./file-plugin.mjs\n  options: { file: out.jsonl }\n',
    {
      'file-plugin.mjs': FILE_PLUGIN,
    },
  );
  assert.equal(replay(dir).status, 0);
  assert.equal(readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').length, 4);
  const none = replay(configDir(''), ['--exporter', 'module']);
  assert.equal(none.status, 1);
  assert.equal(
    none.stderr,
    'ebpf-tracer: error: the module exporter needs exporter.module (a path or a package name) in the config\n',
  );
});

test('a plugin that is missing or whose factory throws is one line, exit 1', () => {
  const missing = configDir('exporter: { type: module, module: ./nope.mjs }\n');
  const r = replay(missing);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `ebpf-tracer: error: exporter.module './nope.mjs': no such file: ${join(missing, 'nope.mjs')}\n`,
  );
  const throwing = configDir('exporter: { type: module, module: ./bad.mjs, options: {} }\n', {
    'bad.mjs':
      "export function createExporter() { throw new TypeError('option url is required'); }",
  });
  const t = replay(throwing);
  assert.equal(t.status, 1);
  assert.equal(
    t.stderr,
    "ebpf-tracer: error: exporter.module './bad.mjs': createExporter failed: option url is required\n",
  );
});

test('a stop bounds a plugin that never delivers: its spans are counted, the tracer exits', async () => {
  const dir = configDir(
    'shutdown_timeout: 1\nstats_interval: 0\nexporter: { type: module, module: ./stuck.mjs }\n',
    { 'stuck.mjs': STUCK_PLUGIN },
  );
  const child = spawn(
    process.execPath,
    [bin, '--replay', fixture, '--config', join(dir, 'cfg.yaml')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  await new Promise<void>((resolve) =>
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes('stuck plugin got spans')) resolve();
    }),
  );
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /"spans":3.*spans not delivered by the stop deadline/);
  assert.match(stderr, /"SpansDroppedAtShutdown":3/);
  assert.match(stderr, /"step":"shutdown".*exporter module did not finish by the stop deadline/);
});
