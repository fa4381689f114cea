#!/usr/bin/env node
// Benchmarks (not tests: nothing here passes or fails on time). Needs root and a build.
//   node bench/run.mjs [source] [kernel] [nginx] [pipeline] [export] [http2] [idle]  (default: all)
// Prints rates and ratios measured side by side in this one run.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Observable, Subject, from, lastValueFrom, count, toArray } from 'rxjs';
import { FlowControl, Stats, reassemble, clockFromOffset } from '@traceable-ebpf/core';
import { bpfSource, replaySource, readRecordingInfo } from '@traceable-ebpf/bpf-source';
import { loadLibbpf } from '../packages/bpf-source/dist/libbpf.js';
import { parseHttp } from '@traceable-ebpf/parsers';
import { createOtlpExporter, exportSpans, toSpans } from '@traceable-ebpf/exporters';
import { cpuSeconds, memoryMiB, threadCpuSeconds } from './proc-stats.mjs';
import { systemNginx, wrk } from './system-nginx.mjs';
import { nullCollectorConfig, startNginx } from './private-nginx.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, '.tmp', 'bench');
mkdirSync(work, { recursive: true });
// `--against <checkout>`: the nginx benchmark also runs that checkout's tracer (built) in the
// same alternating rounds, so a change is measured side by side with what it changes.
const argv = process.argv.slice(2);
const againstAt = argv.indexOf('--against');
const against = againstAt >= 0 ? argv.splice(againstAt, 2)[1] : undefined;
// `--against-node-args "<flags>"`: Node flags for that tracer (`--against . --against-node-args
// --single-threaded-gc` compares a flag on this checkout).
const flagsAt = argv.indexOf('--against-node-args');
const againstNodeArgs = flagsAt >= 0 ? argv.splice(flagsAt, 2)[1].split(' ') : [];
const wanted = new Set(argv);
const want = (name) => wanted.size === 0 || wanted.has(name);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

if (process.getuid() !== 0) {
  console.error('bench: needs root (eBPF)');
  process.exit(1);
}

// The programs each benchmark drives, and the Debian packages that carry them.
const NEEDS = {
  source: [['gcc', 'gcc']],
  kernel: [
    ['gcc', 'gcc'],
    ['clang', 'clang'],
  ],
  nginx: [
    ['nginx', 'nginx'],
    ['wrk', 'wrk'],
  ],
  export: [['nginx', 'nginx']],
  http2: [
    ['nghttpd', 'nghttp2'],
    ['h2load', 'nghttp2'],
  ],
  idle: [['nginx', 'nginx']],
};
const missing = new Set();
for (const [bench, tools] of Object.entries(NEEDS))
  if (want(bench))
    for (const [tool, pkg] of tools)
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) missing.add(pkg);
if (missing.size) {
  console.error(
    `bench: missing programs; install them with: apt-get install ${[...missing].join(' ')}`,
  );
  process.exit(1);
}

const loadBin = join(work, 'smallwrites');
execFileSync('gcc', [
  '-O2',
  '-pthread',
  '-o',
  loadBin,
  join(root, 'bench', 'load', 'smallwrites.c'),
]);

const emptyObj = join(work, 'empty.bpf.o');
execFileSync('clang', [
  '-O2',
  '-g',
  '-target',
  'bpf',
  `-I/usr/include/${execFileSync('gcc', ['-dumpmachine']).toString().trim()}`,
  '-c',
  join(root, 'bench', 'bpf', 'empty.bpf.c'),
  '-o',
  emptyObj,
]);

/** Loads and attaches the empty calibration programs; returns their detach. */
function attachEmpty() {
  const lib = loadLibbpf();
  const obj = lib.objectOpenFile(emptyObj);
  if (lib.objectLoad(obj) !== 0) throw new Error(`empty.bpf.o: ${lib.recentLog().join(' ')}`);
  const links = [];
  for (let p = lib.nextProgram(obj, null); p; p = lib.nextProgram(obj, p))
    links.push(lib.programAttach(p));
  return () => {
    for (const l of links) lib.linkDestroy(l);
    lib.objectClose(obj);
  };
}

/** Runs the load generator; `during(pid)` runs between 'ready' and 'go'. */
async function load({ seconds, size, rate, toFile = false, iovecs = 0 }, during) {
  const args = [
    String(seconds),
    String(size),
    String(rate),
    ...(toFile ? ['file'] : iovecs ? [`iov${iovecs}`] : []),
  ];
  const child = spawn(loadBin, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  await lines.next(); // ready
  const ctl = await during(child.pid);
  child.stdin.write('go\n');
  const [, writes, , reads, , secs] = (await lines.next()).value.split(' ');
  await new Promise((r) => child.once('exit', r));
  return { writes: Number(writes), reads: Number(reads), seconds: Number(secs), ctl };
}

/** Starts the source on `pids`; resolves once the policy is in the kernel. */
async function source(pids, stats, extra = {}) {
  const stop$ = new Subject();
  let events = 0;
  let first = 0;
  let last = 0;
  let ready;
  const applied = new Promise((r) => (ready = r));
  const done = new Promise((resolve, reject) =>
    bpfSource({ pids, stats, stopOn: stop$, onPolicyApplied: () => ready(), ...extra }).subscribe({
      next() {
        events++;
        last = performance.now();
        if (!first) first = last;
      },
      error: reject,
      complete: resolve,
    }),
  );
  await applied;
  return {
    async stop() {
      stop$.next();
      await done;
      return { events, spanMs: last - first };
    },
  };
}

async function benchSource() {
  console.log(
    '\n## Source: events decoded under small writes (64 B) or writev of 8 × 64 B iovecs (one event per iovec), 3 s each',
  );
  console.log(
    '| load | rate (calls/s) | achieved calls/s | events decoded | events/s decoded | lost (ring buffer full) |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const [iovecs, rate] of [
    [0, 0],
    [0, 500_000],
    [0, 200_000],
    [0, 100_000],
    [8, 0],
    [8, 100_000],
  ]) {
    const stats = new Stats();
    let src;
    const r = await load(
      { seconds: 3, size: 64, rate, iovecs },
      async (pid) => (src = await source([pid], stats)),
    );
    const { events, spanMs } = await src.stop();
    const lost = stats.get('EventLost');
    // Rate over the time decoding took (first to last event), never less than the load's.
    const secs = Math.max(r.seconds, spanMs / 1000);
    console.log(
      `| ${iovecs ? `writev ${iovecs} × 64 B` : 'write 64 B'} | ${rate ? fmt(rate) : 'unlimited'} | ${fmt(r.writes / r.seconds)} | ${fmt(events)} | ${fmt(events / secs)} | ${fmt(lost)} (${((100 * lost) / (events + lost || 1)).toFixed(2)}%) |`,
    );
  }
}

function progStats() {
  const out = new Map();
  for (const p of JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show']).toString())) {
    if (p.run_cnt !== undefined)
      out.set(`${p.name}:${p.id}`, { name: p.name, ns: p.run_time_ns, cnt: p.run_cnt });
  }
  return out;
}

function costOf(before, after, names) {
  let ns = 0;
  let cnt = 0;
  for (const [k, a] of after) {
    if (!names.includes(a.name)) continue;
    const b = before.get(k) ?? { ns: 0, cnt: 0 };
    ns += a.ns - b.ns;
    cnt += a.cnt - b.cnt;
  }
  return { ns, cnt };
}

async function benchKernel() {
  console.log(
    '\n## Kernel cost per write (bpf_stats run time of the programs a write runs: sys_enter_write and sys_exit_write, or sock:sock_send_length where data comes from the socket layer)',
  );
  execFileSync('sysctl', ['-q', 'kernel.bpf_stats_enabled=1']);
  try {
    const rows = [];
    const cases = [
      ['filtered out (process not selected)', false, false, {}],
      [
        'captured (small writes, copied), reader drained 10 ms after a wakeup (default)',
        true,
        false,
        {},
      ],
      [
        'captured (small writes, copied), reader drained at once on each wakeup',
        true,
        false,
        { coalesceMs: 0 },
      ],
      [
        'captured (small writes, copied), reader drained every 10 ms (wakeups past a watermark)',
        true,
        false,
        { drainIntervalMs: 10 },
      ],
      [
        "captured (small writes, copied), data at the syscalls' exits (dataAttach: syscalls)",
        true,
        false,
        { dataAttach: 'syscalls' },
      ],
      ['non-socket fd of a captured process (/dev/null)', true, true, {}],
      [
        "non-socket fd of a captured process (/dev/null), data at the syscalls' exits",
        true,
        true,
        { dataAttach: 'syscalls' },
      ],
    ];
    for (const [label, captured, toFile, extra] of cases) {
      const idle = spawn('sleep', ['60']);
      let src;
      let before;
      // With the filtered row, programs that do nothing run on the same writes: their figure is
      // the floor that bpf_stats and the program call put under every row.
      const detachEmpty = captured ? undefined : attachEmpty();
      const r = await load({ seconds: 2, size: 64, rate: 0, toFile }, async (pid) => {
        src = await source([captured ? pid : idle.pid], new Stats(), extra);
        before = progStats();
        return undefined;
      });
      const after = progStats();
      await src.stop();
      idle.kill();
      detachEmpty?.();
      const enter = costOf(before, after, ['enter_write']);
      const exit = costOf(before, after, ['exit_write', 'socket_send']);
      rows.push([label, enter, exit, r.writes]);
      if (!captured)
        rows.push([
          'calibration: empty programs on the same writes (bpf_stats + program call floor)',
          costOf(before, after, ['te_empty_enter']),
          costOf(before, after, ['te_empty_exit']),
          r.writes,
        ]);
    }
    console.log('| writes | calls | enter ns/call | exit ns/call | total ns/write |');
    console.log('|---|---|---|---|---|');
    for (const [label, enter, exit, writes] of rows) {
      // With the arguments read from registers at exit (callStore `registers`), no program runs
      // at sys_enter: its column is 0, the calls are the exit's.
      const calls = Math.max(enter.cnt, exit.cnt);
      const e = enter.ns / (enter.cnt || 1);
      const x = exit.ns / (exit.cnt || 1);
      // At the socket layer a write to a file runs no program at all (the few calls left are
      // the load's own socket writes).
      console.log(
        calls < writes / 100
          ? `| ${label} | ${fmt(calls)} for ${fmt(writes)} writes | – | – | no program runs for them |`
          : `| ${label} | ${fmt(calls)} | ${e.toFixed(0)} | ${x.toFixed(0)} | ${(e + x).toFixed(0)} |`,
      );
    }
    console.log(
      '(Every row includes the floor the calibration row measures: bpf_stats times each program run.)',
    );
  } finally {
    execFileSync('sysctl', ['-q', 'kernel.bpf_stats_enabled=0']);
  }
}

/**
 * Where process `pid`'s resident memory is, from /proc/<pid>/smaps, in MiB: the node binary's
 * pages (file-backed, shared with other Node processes), BPF maps (mapped kernel memory: the
 * ring buffer's data area and the maps user space reads), malloc's heap, and anonymous mappings (V8's heaps of
 * both threads, WebAssembly memory, Buffers).
 */
function memoryBreakdown(pid) {
  const out = { node: 0, bpfMaps: 0, malloc: 0, anon: 0, other: 0 };
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      name = m[1];
      continue;
    }
    if (!line.startsWith('Rss:')) continue;
    const mib = Number(line.split(/\s+/)[1]) / 1024;
    if (name.endsWith('/node')) out.node += mib;
    else if (name === 'anon_inode:bpf-map') out.bpfMaps += mib;
    else if (name === '[heap]') out.malloc += mib;
    else if (name === '' || name.startsWith('[anon')) out.anon += mib;
    else out.other += mib;
  }
  return out;
}

/**
 * Run time and run count of every BPF program loaded now (kernel.bpf_stats_enabled must be 1),
 * summed: { ns, runs }. The tracer's programs are the only ones the benchmark loads.
 */
function bpfRunTime() {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show']).toString());
  let ns = 0;
  let runs = 0;
  for (const p of progs) {
    ns += p.run_time_ns ?? 0;
    runs += p.run_cnt ?? 0;
  }
  return { ns, runs };
}

/** Turns the kernel's BPF run-time statistics on for this process's lifetime (restored at exit). */
function enableBpfStats() {
  const path = '/proc/sys/kernel/bpf_stats_enabled';
  const before = readFileSync(path, 'utf8').trim();
  if (before === '1') return;
  writeFileSync(path, '1');
  process.on('exit', () => writeFileSync(path, before));
}

/** The tracer CLI on `pid`, exporting over OTLP to the null collector unless `extra` says otherwise. */
async function tracer(pid, extra, tree = root, nodeArgs = []) {
  await startNullSink();
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      join(tree, 'examples/daemonset-tracer/bin/ebpf-tracer.js'),
      '--pid',
      String(pid),
      ...extra,
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${NULL_SINK_PORT}` },
    },
  );
  let err = '';
  await new Promise((resolve, reject) => {
    child.stderr.on('data', (c) => {
      err += c;
      if (err.includes('tracer ready')) resolve();
    });
    child.once('exit', () => reject(new Error(err)));
  });
  return {
    pid: child.pid,
    /** CPU seconds (user + system, all threads) the tracer has used so far. */
    cpuSeconds: () => cpuSeconds(child.pid),
    /** The same per thread group (see threadCpuSeconds). */
    threadCpuSeconds: () => threadCpuSeconds(child.pid),
    /** Resident memory now and its peak (VmRSS, VmHWM), in MiB. */
    memory: () => memoryMiB(child.pid),
    /** Resident memory by kind (see memoryBreakdown). */
    memoryBreakdown: () => memoryBreakdown(child.pid),
    async stop() {
      child.kill('SIGTERM');
      const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? sig)));
      const line = err
        .trim()
        .split('\n')
        .filter((l) => l.includes('"msg":"stats"'))
        .at(-1);
      if (!line) throw new Error(`the tracer logged no stats (exit ${code}): ${err.slice(-2000)}`);
      const stats = JSON.parse(line);
      return stats;
    },
  };
}

/** Samples process `pid`'s RSS every 50 ms until `stop()`, which resolves with the median and max. */
async function rssSampler(pid) {
  const child = spawn(process.execPath, [join(root, 'bench/load/rss-sampler.mjs'), String(pid)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  await lines.next(); // ready
  return {
    async stop() {
      child.stdin.end();
      return JSON.parse((await lines.next()).value);
    },
  };
}

/**
 * Runs `load()` (a load generator, synchronous; returns `{ requests }` and whatever else) against
 * tracer `t`, and describes what the tracer spent on it (`before`: what the tracer was doing
 * until then): CPU per request split by thread, the BPF programs' time per request, and its
 * memory before, during (sampled) and after the load, and its peak since it started. `who`
 * names the processes whose syscalls the BPF programs ran for.
 */
async function underLoad(t, load, who, before = 'idle after ready') {
  const idle = t.memory();
  const sampler = await rssSampler(t.pid);
  const idleParts = t.memoryBreakdown();
  const cpu0 = t.cpuSeconds();
  const threads0 = t.threadCpuSeconds();
  const bpf0 = bpfRunTime();
  const result = load();
  const bpf = bpfRunTime();
  const during = await sampler.stop();
  await new Promise((r) => setTimeout(r, 500));
  const cpu = t.cpuSeconds() - cpu0;
  const threads1 = t.threadCpuSeconds();
  const loaded = t.memory();
  const loadedParts = Object.entries(t.memoryBreakdown())
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');
  const n = result.requests || 1;
  const us = (seconds) => ((1e6 * seconds) / n).toFixed(1);
  const thread = (k) => us(threads1[k] - threads0[k]);
  const bpfNs = bpf.ns - bpf0.ns;
  const bpfRuns = bpf.runs - bpf0.runs;
  const parts = Object.entries(idleParts)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');
  const lines =
    `  tracer CPU per request: ${us(cpu)} µs (main thread ${thread('main')}, bpf-source worker ${thread('worker')}, other threads ${thread('other')}); ` +
    `BPF programs ${(bpfNs / n / 1000).toFixed(2)} µs per request (${fmt(bpfRuns / n)} runs of ${Math.round(bpfNs / Math.max(1, bpfRuns))} ns; every traced syscall of ${who})\n` +
    (process.env.BENCH_THREADS
      ? `  threads: ${Object.keys(threads1)
          .filter((k) => k.startsWith('comm:'))
          .map((k) => `${k.slice(5)} ${us(threads1[k] - (threads0[k] ?? 0))}`)
          .join(', ')}\n`
      : '') +
    `  tracer memory: RSS ${idle.rss.toFixed(0)} MiB ${before} (${parts}), ${loaded.rss.toFixed(0)} MiB after the run (${loadedParts}); during the run (${during.samples} samples, 20 a second) median ${during.medianMiB.toFixed(0)} MiB, max ${during.maxMiB.toFixed(0)} MiB; peak since start (VmHWM) ${loaded.hwm.toFixed(0)} MiB\n`;
  return { result, lines };
}

/**
 * The same load twice on one tracer: cold (right after `tracer ready`) and then warm. Returns both
 * results, their requests together, and their description lines.
 */
async function coldThenWarm(t, load, who) {
  const cold = await underLoad(t, load, who);
  const warm = await underLoad(t, load, who, 'after the cold run');
  return {
    cold: cold.result,
    warm: warm.result,
    requests: cold.result.requests + warm.result.requests,
    lines: `  cold ${cold.lines.trimStart()}  warm ${warm.lines.trimStart()}`,
  };
}

/** The source's flow control as a tracer's final stats tell it. */
const flowControl = (stats) =>
  `in flight at most ${fmt(stats.KernelBatchBytesInFlightMaxTillNow ?? 0)} B, ring buffer at most ${fmt(stats.KernelRingBytesMaxTillNow ?? 0)} B waiting, read pauses ${stats.KernelReadPauses ?? 0}`;

/** `xs` against `without`, medians, in percent. */
const ratioOf = (xs, without) => ((100 * median(xs)) / median(without)).toFixed(1);

async function benchNginx() {
  console.log(
    '\n## nginx (stock Debian config, sendfile on) with wrk -t2 -c20, alternating 4 s rounds; each tracer runs two of them back to back, cold (the first 4 s after `tracer ready`: V8 still compiling and sizing its heap) and then warm (steady state, what a long-running tracer costs); the tracer exports over OTLP (protobuf, the default) to a null collector',
  );
  const pid = systemNginx();
  enableBpfStats();
  const without = [];
  const tree = (label, dir, nodeArgs) => ({ label, dir, nodeArgs, cold: [], warm: [], lines: '' });
  const trees = [tree('this checkout', root, [])];
  if (against) {
    const label = `${against}${againstNodeArgs.length ? ` with node ${againstNodeArgs.join(' ')}` : ''}`;
    trees.push(tree(label, resolve(against), againstNodeArgs));
  }
  // NGINX_ROUNDS=n for more alternating rounds (default 3): the VM's speed moves ~±10 % between
  // rounds, more than many changes do.
  const rounds = Number(process.env.NGINX_ROUNDS) || 3;
  for (let round = 0; round < rounds; round++) {
    without.push(wrk(4).rps);
    // Alternating which tracer goes first, so neither always follows the run without one.
    for (const tree of round % 2 ? [...trees].reverse() : trees) {
      // Recording costs the tracer CPU: not in a side-by-side comparison, where it would count
      // against one side only.
      const rec =
        round === 0 && tree === trees[0] && !against ? ['--record', join(work, 'nginx.rec')] : [];
      const t = await tracer(pid, rec, tree.dir, tree.nodeArgs);
      const { cold, warm, requests, lines } = await coldThenWarm(t, () => wrk(4), 'nginx and wrk');
      const stats = await t.stop();
      tree.cold.push(cold.rps);
      tree.warm.push(warm.rps);
      tree.lines +=
        `round ${round + 1}: wrk completed ${fmt(cold.requests)} cold + ${fmt(warm.requests)} warm, spans exported ${fmt(stats.TotalRequestsSent)} (${((100 * stats.TotalRequestsSent) / requests).toFixed(2)}%; wrk does not count requests still in flight when it stops), EventLost ${stats.EventLost}, ${flowControl(stats)}, parse errors ${stats.ReqParsingErrors + stats.ResParsingErrors}${rec.length ? ', recording' : ''}\n` +
        lines;
    }
  }
  console.log(`without tracer: ${without.map(fmt).join(', ')} req/s`);
  for (const tree of trees) {
    console.log(
      `with the tracer of ${tree.label}: warm ${tree.warm.map(fmt).join(', ')} req/s, ratio (median with / median without) ${ratioOf(tree.warm, without)}%; cold ${tree.cold.map(fmt).join(', ')} req/s, ratio ${ratioOf(tree.cold, without)}%`,
    );
    process.stdout.write(tree.lines);
  }
}

async function benchPipeline() {
  const rec = join(work, 'nginx.rec');
  if (!existsSync(rec)) {
    console.log('\n## Pipeline: no recording (run the nginx benchmark first)');
    return;
  }
  console.log(
    '\n## Pipeline from a recording (nginx under wrk): reassemble + HTTP/1 + span mapping, no export, one core',
  );
  // Decoding alone (the source's main-thread share): records → KernelEvents from the file.
  const decodeRuns = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const n = await lastValueFrom(replaySource(rec).pipe(count()));
    decodeRuns.push({ n, ms: performance.now() - t0 });
  }
  const d = decodeRuns.sort((a, b) => a.ms - b.ms)[1];
  console.log(
    `decoding only: ${fmt(d.n)} events in ${d.ms.toFixed(0)} ms (median of 3, file reads included): ${fmt((d.n * 1000) / d.ms)} events/s`,
  );
  await pipelineRate(rec);
}

/** Reassemble + parse + span mapping over a recording, on this thread: prints the rate. */
async function pipelineRate(rec) {
  const info = readRecordingInfo(rec);
  const events = [];
  await new Promise((resolve) =>
    replaySource(rec).subscribe({ next: (e) => events.push(e), complete: resolve }),
  );
  const runs = [];
  let exchanges = 0;
  // One warm-up run (JIT), then the median of 5: the steady state a long-running tracer sees.
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    exchanges = await lastValueFrom(
      from(events).pipe(
        reassemble(),
        parseHttp(),
        toSpans({ clock: clockFromOffset(BigInt(info.epochOffsetNs)) }),
        count(),
      ),
    );
    if (i > 0) runs.push(performance.now() - t0);
  }
  const ms = median(runs);
  console.log(
    `${fmt(events.length)} kernel events → ${fmt(exchanges)} exchanges in ${ms.toFixed(0)} ms (median of 5 after a warm-up run; all 5: ${runs.map((r) => r.toFixed(0)).join(', ')} ms): ${fmt((exchanges * 1000) / ms)} exchanges/s, ${fmt((events.length * 1000) / ms)} events/s`,
  );
}

/**
 * A null OTLP collector: a private nginx answering 200 to every POST /v1/traces (the body is
 * read and discarded). Started once; its port is NULL_SINK_PORT.
 */
const NULL_SINK_PORT = 14318;
let nullSink;
async function startNullSink() {
  if (nullSink) return;
  const dir = join(work, 'nullsink');
  nullSink = await startNginx(dir, nullCollectorConfig(dir, NULL_SINK_PORT), NULL_SINK_PORT);
  // Not a reason to keep running: the benchmarks' end is (and then it is stopped).
  nullSink.unref();
}

/** Emits `items` in slices of 256 a macrotask apart, waiting while `flow` is paused. */
function paced(items, flow) {
  return new Observable((subscriber) => {
    let i = 0;
    let stopped = false;
    const step = () => {
      if (stopped) return;
      if (flow.paused) return void flow.whenResumed().then(step);
      const end = Math.min(items.length, i + 256);
      for (; i < end; i++) subscriber.next(items[i]);
      if (i >= items.length) subscriber.complete();
      else setImmediate(step);
    };
    setImmediate(step);
    return () => (stopped = true);
  });
}

/**
 * A full garbage collection, then a pause for V8's background threads to finish sweeping: the
 * previous round's spans are garbage, and their collection is no exporter's cost.
 */
async function settleHeap() {
  setFlagsFromString('--expose-gc');
  runInNewContext('gc')();
  await new Promise((r) => setTimeout(r, 1000));
}

/** Spans already built (the nginx recording through the pipeline), exported to the null sink. */
async function benchExport() {
  const rec = join(work, 'nginx.rec');
  if (!existsSync(rec)) {
    console.log('\n## Export: no recording (run the nginx benchmark first)');
    return;
  }
  await startNullSink();
  const info = readRecordingInfo(rec);
  // Fresh spans for every run: an exporter that reads `span.attributes` (the official one)
  // makes the spans carry that object, which the project's exporter then encodes instead of
  // taking its path straight from the exchange.
  const build = () =>
    lastValueFrom(
      replaySource(rec).pipe(
        reassemble(),
        parseHttp(),
        toSpans({ clock: clockFromOffset(BigInt(info.epochOffsetNs)) }),
        toArray(),
      ),
    );
  let spans = await build();
  console.log(
    `\n## Export: ${fmt(spans.length)} spans already built (from the nginx recording, anew for each run) → exportSpans + exporter → a null collector (nginx return 200) on 127.0.0.1, this thread; process CPU (all threads) from a settled heap; alternating, 5 rounds after a warm-up round`,
  );
  console.log(
    '| exporter | encoding | spans/s (median) | µs CPU per span (median; all rounds) | delivered |',
  );
  console.log('|---|---|---|---|---|');
  const results = new Map();
  // Round 0 warms the JIT up and is not counted.
  for (let round = 0; round < 6; round++) {
    for (const implementation of ['traceable', 'official']) {
      for (const protocol of ['http/protobuf', 'http/json']) {
        const stats = new Stats();
        const exporter = createOtlpExporter({
          implementation,
          protocol,
          url: `http://127.0.0.1:${NULL_SINK_PORT}/v1/traces`,
          stats,
          env: {},
        });
        spans = await build();
        await settleHeap();
        const flow = new FlowControl();
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        await lastValueFrom(
          paced(spans, flow).pipe(exportSpans(exporter, { stats, flow, drainTimeoutMs: 120_000 })),
        );
        const ms = performance.now() - t0;
        const cpu = process.cpuUsage(cpu0);
        await exporter.shutdown();
        if (round === 0) continue;
        const key = `${implementation} ${protocol}`;
        const r = results.get(key) ?? { rates: [], cpus: [], delivered: [] };
        r.rates.push((spans.length * 1000) / ms);
        r.cpus.push((cpu.user + cpu.system) / spans.length);
        r.delivered.push(stats.get('TotalRequestsSent'));
        results.set(key, r);
      }
    }
  }
  for (const [key, r] of results) {
    const [implementation, protocol] = key.split(' ');
    console.log(
      `| ${implementation === 'traceable' ? "the project's (default)" : 'official OpenTelemetry'} | ${protocol} | ${fmt(median(r.rates))} | ${median(r.cpus).toFixed(1)} (${r.cpus.map((c) => c.toFixed(1)).join(', ')}) | ${r.delivered.map(fmt).join(', ')} of ${fmt(spans.length)} |`,
    );
  }
  const ratio = (impl, protocol) => median(results.get(`${impl} ${protocol}`).cpus);
  console.log(
    `CPU per span, official / project's: protobuf ${(ratio('official', 'http/protobuf') / ratio('traceable', 'http/protobuf')).toFixed(1)}×, JSON ${(ratio('official', 'http/json') / ratio('traceable', 'http/json')).toFixed(1)}×`,
  );
}

/** h2load against nghttpd (h2c) with the tracer attached and recording; then that recording. */
async function benchHttp2() {
  const requests = 300_000;
  console.log(
    `\n## HTTP/2: h2load -n ${requests} -c 10 -m 10 against nghttpd --no-tls, alternating without and with the tracer (OTLP protobuf to a null collector), 3 rounds; each tracer takes the load twice, cold and then warm`,
  );
  const dir = join(work, 'h2www');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'a.txt'), 'hello from nghttpd');
  const port = 18443;
  const server = spawn('nghttpd', ['--no-tls', '-d', dir, String(port)], { stdio: 'ignore' });
  const h2load = () => {
    const out = execFileSync('h2load', [
      '-n',
      String(requests),
      '-c',
      '10',
      '-m',
      '10',
      `http://127.0.0.1:${port}/a.txt`,
    ]).toString();
    return {
      rps: Number(/finished in [^,]*, ([\d.]+) req\/s/.exec(out)[1]),
      requests: Number(/(\d+) succeeded/.exec(out)[1]),
    };
  };
  const rec = join(work, 'h2.rec');
  try {
    await new Promise((r) => setTimeout(r, 500));
    enableBpfStats();
    const without = [];
    const cold = [];
    const warm = [];
    let lines = '';
    for (let round = 0; round < 3; round++) {
      without.push(h2load().rps);
      const t = await tracer(server.pid, round === 0 ? ['--record', rec] : []);
      const run = await coldThenWarm(t, h2load, 'nghttpd and h2load');
      const stats = await t.stop();
      cold.push(run.cold.rps);
      warm.push(run.warm.rps);
      lines +=
        `round ${round + 1}: h2load ${fmt(run.cold.requests)} cold + ${fmt(run.warm.requests)} warm succeeded; spans exported ${fmt(stats.TotalRequestsSent)} (${((100 * stats.TotalRequestsSent) / run.requests).toFixed(2)}%), EventLost ${stats.EventLost}, ${flowControl(stats)}, abandoned connections ${stats.Http2ConnectionsAbandoned}${round === 0 ? ', recording' : ''}\n` +
        run.lines;
    }
    console.log(
      `without tracer: ${without.map(fmt).join(', ')} req/s; with the tracer warm: ${warm.map(fmt).join(', ')} req/s, ratio (median with / median without) ${ratioOf(warm, without)}%; cold (the first load after tracer ready): ${cold.map(fmt).join(', ')} req/s, ratio ${ratioOf(cold, without)}%`,
    );
    process.stdout.write(lines);
    console.log(
      "\n## HTTP/2 pipeline from the first round's recording: reassemble + frames + HPACK + streams + span mapping, one core",
    );
    await pipelineRate(rec);
  } finally {
    server.kill();
  }
}

/**
 * The tracer's memory with many idle connections: a private nginx, 10,000 keep-alive
 * connections each answered once and then left open, the tracer capturing nginx.
 */
async function benchIdle() {
  const n = 10_000;
  console.log(
    `\n## ${fmt(n)} idle keep-alive connections to nginx, one request each, tracer RSS (OTLP protobuf to a null collector)`,
  );
  const dir = join(work, 'idle-nginx');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bench.html'), '<p>bench</p>\n');
  const port = 18090;
  const server = await startNginx(
    dir,
    `worker_processes 1; daemon off; master_process on; pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 15000; }
http {
  access_log off; keepalive_timeout 600s; keepalive_requests 100000;
  server { listen 127.0.0.1:${port} backlog=4096; root ${dir}; }
}
`,
    port,
  );
  try {
    const t = await tracer(server.pid, []);
    const ready = t.memory();
    // V8 gives back what starting up left (garbage, a grown young generation) a few seconds
    // after the process goes quiet: the idle tracer of a quiet node is this.
    await new Promise((r) => setTimeout(r, 15_000));
    const settled = t.memory();
    // (10,000 sockets on each side: under this machine's hard limit of 20,000 open files.)
    const client = spawn(
      process.execPath,
      [join(root, 'bench/load/idle-connections.mjs'), String(port), String(n)],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await new Promise((resolve, reject) => {
      let out = '';
      client.stdout.on('data', (c) => {
        out += c;
        if (out.includes('open')) resolve();
      });
      client.once('exit', (code) =>
        reject(new Error(`the client exited ${code} before opening every connection`)),
      );
    });
    // Spans go out; the connections stay open and idle.
    await new Promise((r) => setTimeout(r, 3000));
    const open = t.memory();
    const parts = Object.entries(t.memoryBreakdown())
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', ');
    client.stdin.end();
    await new Promise((r) => client.once('exit', r));
    const stats = await t.stop();
    console.log(
      `tracer RSS ${ready.rss.toFixed(0)} MiB at ready, ${settled.rss.toFixed(0)} MiB 15 s later (idle); ${open.rss.toFixed(0)} MiB with ${fmt(n)} connections open and idle (${parts}); peak (VmHWM) ${open.hwm.toFixed(0)} MiB; spans exported ${fmt(stats.TotalRequestsSent)}, EventLost ${stats.EventLost}, ConnTableFull ${stats.ConnTableFull}`,
    );
  } finally {
    server.kill();
  }
}

console.log(
  `# traceable-ebpf benchmarks — ${new Date().toISOString()}, ${readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)[1]}, ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores`,
);
if (want('source')) await benchSource();
if (want('kernel')) await benchKernel();
if (want('nginx')) await benchNginx();
if (want('pipeline')) await benchPipeline();
if (want('export')) await benchExport();
if (want('http2')) await benchHttp2();
if (want('idle')) await benchIdle();
