import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';
import { parseCliArgs } from './args.js';

const bin = fileURLToPath(new URL('../bin/ebpf-tracer.js', import.meta.url));
const usage = (argv: string[], message: RegExp) =>
  assert.throws(
    () => parseCliArgs(argv),
    (e: unknown) =>
      e instanceof TracerError && e.code === ErrorCode.Usage && message.test(e.message),
  );

test('valid arguments', () => {
  assert.deepEqual(
    parseCliArgs([
      '--pid',
      '12',
      '-p',
      '34',
      '--exporter',
      'jsonl',
      '--output',
      '/tmp/x',
      '--mode',
      'ingress',
      '--cgroup',
      '/sys/fs/cgroup/a',
      '--all',
    ]),
    {
      help: false,
      configPath: undefined,
      pids: [12, 34],
      cgroups: ['/sys/fs/cgroup/a'],
      all: true,
      record: undefined,
      replay: undefined,
      exporter: 'jsonl',
      output: '/tmp/x',
      mode: 'ingress',
    },
  );
});

test('--exporter module: the plugin the config names', () => {
  assert.equal(parseCliArgs(['--pid', '1', '--exporter', 'module']).exporter, 'module');
  usage(
    ['--exporter', 'module', '--output', 'f'],
    /--output goes with --exporter jsonl or console/,
  );
});

test('argument errors are one clear line', () => {
  usage(['--pid', 'abc'], /--pid 'abc' is not a process id/);
  usage(['--pid', '-3'], /--pid/);
  usage(['--pid', '0'], /not a process id/);
  usage(['--exporter', 'zipkin'], /--exporter 'zipkin': use otlp, console or jsonl/);
  usage(['--mode', 'both'], /--mode 'both'/);
  usage(['--bogus'], /Unknown option '--bogus'/);
  usage(['stray'], /positional/i);
  usage(['--output', 'f'], /--output goes with --exporter jsonl or console/);
  usage(['--pid'], /argument missing/);
});

test('the binary: usage errors exit 2, other errors 1, no stack traces', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  const bad = run(['--pid', 'x']);
  assert.equal(bad.status, 2);
  assert.match(
    bad.stderr,
    /^ebpf-tracer: error: --pid 'x' is not a process id\nusage: ebpf-tracer/,
  );
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
  const none = run([]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /no process selected/);
  const cfg = run(['--config', '/nonexistent.yaml', '--pid', '1']);
  assert.equal(cfg.status, 1);
  assert.equal(cfg.stderr, 'ebpf-tracer: error: cannot read config /nonexistent.yaml: ENOENT\n');
  const help = run(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: ebpf-tracer/);
});
