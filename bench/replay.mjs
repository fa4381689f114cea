#!/usr/bin/env node
// The tracer's user-space path without the kernel: `ebpf-tracer --replay <recording>` of one or
// more checkouts, alternating, each exporting over OTLP (protobuf, the default) to the null
// collector. Reports the tracer's CPU from `tracer ready` to its final stats line, per exchange,
// split by thread (main, V8's platform threads), its GC time and its peak RSS. Not a test.
//   node bench/replay.mjs [checkout…]   (default: this checkout; each needs a build)
//   ROUNDS=n (default 5); REC=<recording> (default .tmp/bench/nginx.rec, from `node bench/run.mjs
//   nginx`); NODE_ARGS="<flags>" adds Node flags to every tracer, TRACER_ARGS="<args>" arguments
//   (`--config FILE`, say).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memoryMiB, threadCpuSeconds } from './proc-stats.mjs';
import { nullCollectorConfig, startNginx } from './private-nginx.mjs';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const trees = process.argv.slice(2).map((t) => resolve(t));
if (trees.length === 0) trees.push(here);
const rec = process.env.REC ?? join(here, '.tmp/bench/nginx.rec');
if (!existsSync(rec)) {
  console.error(`no recording at ${rec}: run \`node bench/run.mjs nginx\` first`);
  process.exit(1);
}
const rounds = Number(process.env.ROUNDS) || 5;
const nodeArgs = (process.env.NODE_ARGS ?? '').split(' ').filter(Boolean);
const tracerArgs = (process.env.TRACER_ARGS ?? '').split(' ').filter(Boolean);
const SINK_PORT = 14319;

/** CPU seconds of `pid`'s main thread and of all its others (a replay has no worker). */
function threads(pid) {
  const t = threadCpuSeconds(pid);
  return { main: t.main, other: t.worker + t.other };
}

async function startSink() {
  const dir = join(here, '.tmp/bench/replay-sink');
  await startNginx(dir, nullCollectorConfig(dir, SINK_PORT), SINK_PORT);
}

/** One replay by `tree`'s tracer: CPU between ready and the stats line, GC, spans, peak RSS. */
function replay(tree) {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [
        ...nodeArgs,
        '--trace-gc',
        join(tree, 'examples/daemonset-tracer/bin/ebpf-tracer.js'),
        '--replay',
        rec,
        ...tracerArgs,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${SINK_PORT}` },
      },
    );
    let err = '';
    let out = '';
    let ready;
    let gcMs = 0;
    let tail = '';
    child.stdout.on('data', (c) => {
      // --trace-gc writes to stdout: "... 1.2 / 0.0 ms ..." per collection, after ready only.
      const text = tail + c;
      const lines = text.split('\n');
      tail = lines.pop();
      if (ready)
        for (const l of lines) {
          const m = /, ([\d.]+) \/ ([\d.]+) ms/.exec(l);
          if (m) gcMs += Number(m[1]);
        }
    });
    child.stderr.on('data', (c) => {
      err += c;
      if (!ready && err.includes('tracer ready')) ready = threads(child.pid);
      if (ready && !out && err.includes('"msg":"stats"')) {
        const t = threads(child.pid);
        const line = err.split('\n').find((l) => l.includes('"msg":"stats"'));
        out = line;
        const stats = JSON.parse(line);
        done({
          spans: stats.TotalSpansExported ?? stats.SpansExported,
          stats,
          main: t.main - ready.main,
          other: t.other - ready.other,
          gcMs,
          hwm: memoryMiB(child.pid).hwm,
        });
      }
    });
    child.once('exit', (code) => {
      if (!out) fail(new Error(`tracer exited ${code} before its stats: ${err.slice(-1500)}`));
    });
  });
}

await startSink();
const results = trees.map(() => []);
for (let r = 0; r < rounds; r++) {
  const order = trees.map((_, i) => i);
  if (r % 2) order.reverse();
  for (const i of order) results[i].push(await replay(trees[i]));
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const exchanges = (x) => x.stats.TotalRequestsParsed || 1;
for (const [i, tree] of trees.entries()) {
  const rs = results[i];
  const us = (k) => rs.map((x) => ((1e6 * x[k]) / exchanges(x)).toFixed(2));
  const total = rs.map((x) => (1e6 * (x.main + x.other)) / exchanges(x));
  console.log(
    `${tree}${nodeArgs.length ? ` (node ${nodeArgs.join(' ')})` : ''}: ${exchanges(rs[0])} exchanges; ` +
      `CPU µs/exchange median ${med(total).toFixed(2)} [${total.map((t) => t.toFixed(2)).join(', ')}]; ` +
      `main ${us('main').join(', ')}; other threads ${us('other').join(', ')}; ` +
      `GC pauses ms ${rs.map((x) => x.gcMs.toFixed(0)).join(', ')}; VmHWM MiB ${rs.map((x) => x.hwm.toFixed(0)).join(', ')}`,
  );
}
process.exit(0);
