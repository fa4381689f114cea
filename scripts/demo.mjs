#!/usr/bin/env node
// The quick-start demo: a small HTTP API and a client calling it, with the reference tracer
// attached to the API's process, printing one line per captured request. Runs DEMO_SECONDS
// (default 20) or until Ctrl-C.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const workload = join(root, 'examples', 'daemonset-tracer', 'demo', 'workload.mjs');
const tracerBin = join(root, 'examples', 'daemonset-tracer', 'bin', 'ebpf-tracer.js');
const seconds = Number(process.env.DEMO_SECONDS ?? 20);

if (process.getuid?.() !== 0) {
  console.error('demo: eBPF needs root: run it with sudo');
  process.exit(1);
}

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const config = join(mkdtempSync(join(tmpdir(), 'te-demo-')), 'ebpf-tracer-config.yaml');
writeFileSync(config, 'logging:\n  level: info\n  encoding: console\nstats_interval: 10\n');

const server = spawn(process.execPath, [workload, 'server', String(port)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise((resolve) => server.stdout.once('data', resolve));
console.error(`demo: API on 127.0.0.1:${port} (pid ${server.pid}); starting the tracer`);

const tracer = spawn(
  process.execPath,
  [tracerBin, '--pid', String(server.pid), '--config', config],
  { stdio: ['ignore', 'inherit', 'pipe'] },
);
let client;
let made = 0;
tracer.stderr.on('data', (chunk) => {
  process.stderr.write(chunk);
  if (!client && chunk.toString().includes('tracer ready')) {
    console.error(`demo: tracer ready; client calling the API for ${seconds} s (Ctrl-C to stop)\n`);
    client = spawn(process.execPath, [workload, 'client', String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    client.stdout.on('data', (c) => (made += c.toString().split('\n').filter(Boolean).length));
    setTimeout(stop, seconds * 1000);
  }
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  client?.kill();
  // Give the last response a moment to be captured, then stop the tracer (it flushes).
  setTimeout(() => tracer.kill('SIGTERM'), 300);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
tracer.on('exit', (code) => {
  server.kill();
  console.error(`\ndemo: the client made ${made} requests; the tracer exited with ${code}`);
  process.exit(code ?? 1);
});
