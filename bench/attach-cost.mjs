#!/usr/bin/env node
// What the kernel side of a capture costs nginx, by attach point: the stock nginx under
// `wrk -t2 -c20` (as in `bench/run.mjs nginx`), in alternating rounds of
//   none                      nothing attached
//   tracer, idle              the tracer's BPF programs attached, selecting only an idle process
//   tracer, capturing         the tracer on nginx, exporting over OTLP to a null collector
//   syscall exits, idle/cap.  bench/bpf/minimal-capture.bpf.c at the exits of recvfrom, writev
//                             and sendfile64 (nginx's HTTP/1 syscalls), read by bench/load/bpf-reader.c
//   socket layer, idle/cap.   the same program on sock:sock_send_length / sock_recv_length
// For each: requests/s, and CPU per request of the whole machine (/proc/stat, every process and
// the kernel) and of nginx's workers. Then the tracer's source itself with its data programs at
// each place (dataAttach): the CPU a small-write load (bench/load/smallwrites.c, 64-byte writes
// as fast as it can, its reader's reads captured too) spends per write, writing to a socket and
// to /dev/null. Not a test; needs root, a build, clang, gcc, libbpf-dev.
//   node bench/attach-cost.mjs    (ROUNDS=n, default 3; SECONDS=n per round, default 4;
//   AGAINST=<checkout>: that checkout's tracer (built) too, idle and capturing)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { Subject } from 'rxjs';
import { Stats } from '@traceable-ebpf/core';
import { bpfSource } from '@traceable-ebpf/bpf-source';
import { nullCollectorConfig, startNginx } from './private-nginx.mjs';
import { cpuSeconds } from './proc-stats.mjs';
import { systemNginx, wrk } from './system-nginx.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, '.tmp', 'bench', 'attach-cost');
mkdirSync(work, { recursive: true });
const rounds = Number(process.env.ROUNDS) || 3;
const seconds = Number(process.env.SECONDS) || 4;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (process.getuid() !== 0) {
  console.error('attach-cost: needs root (eBPF)');
  process.exit(1);
}

// The experiment's objects and reader.
const vmlinux = join(work, 'vmlinux.h');
if (!existsSync(vmlinux))
  writeFileSync(
    vmlinux,
    execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], {
      maxBuffer: 1 << 30,
    }),
  );
const build = (out, defines) =>
  execFileSync('clang', [
    '-O2',
    '-g',
    '-target',
    'bpf',
    '-D__TARGET_ARCH_x86',
    ...defines,
    '-I',
    work,
    '-c',
    join(root, 'bench/bpf/minimal-capture.bpf.c'),
    '-o',
    out,
  ]);
const socketObj = join(work, 'socket-layer.bpf.o');
const syscallObj = join(work, 'syscall-exits.bpf.o');
build(socketObj, []);
build(syscallObj, ['-DSYSCALL_EXITS']);
const reader = join(work, 'bpf-reader');
execFileSync('gcc', ['-O2', '-o', reader, join(root, 'bench/load/bpf-reader.c'), '-lbpf']);
const smallWrites = join(work, 'smallwrites');
execFileSync('gcc', ['-O2', '-pthread', '-o', smallWrites, join(root, 'bench/load/smallwrites.c')]);

// The system nginx (as bench/run.mjs uses it) and its workers.
const nginx = systemNginx();
const workers = spawnSync('pgrep', ['-P', String(nginx)], { encoding: 'utf8' })
  .stdout.trim()
  .split('\n')
  .map(Number);

const NULL_SINK_PORT = 14318;
const sinkDir = join(work, 'nullsink');
const sink = await startNginx(
  sinkDir,
  nullCollectorConfig(sinkDir, NULL_SINK_PORT),
  NULL_SINK_PORT,
);
sink.unref();
const idle = spawn('sleep', ['100000'], { stdio: 'ignore' });
process.on('exit', () => idle.kill());

/** Busy CPU seconds of the whole machine, from /proc/stat (user..steal, no idle or iowait). */
function machineSeconds() {
  const f = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + steal) / 100; // USER_HZ ticks
}
const workersSeconds = () => workers.reduce((a, p) => a + cpuSeconds(p), 0);

/** One wrk round: req/s and µs of CPU per request, machine-wide and nginx workers'. */
function round() {
  const m0 = machineSeconds();
  const w0 = workersSeconds();
  const { rps, requests } = wrk(seconds);
  return {
    rps,
    machineUs: ((machineSeconds() - m0) / requests) * 1e6,
    nginxUs: ((workersSeconds() - w0) / requests) * 1e6,
  };
}

/** Starts `cmd`, waits for `ready` on its stderr; returns its stop (resolving to its stdout). */
async function started(cmd, args, ready, env = process.env) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  await new Promise((resolve, reject) => {
    child.stderr.on('data', (c) => {
      err += c;
      if (err.includes(ready)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited (${code}): ${err.slice(-500)}`)));
  });
  return async () => {
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await done;
    return out.trim();
  };
}

const tracer = (pid, tree = root) =>
  started(
    process.execPath,
    [join(tree, 'examples/daemonset-tracer/bin/ebpf-tracer.js'), '--pid', String(pid)],
    'tracer ready',
    { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${NULL_SINK_PORT}` },
  );
const minimal = (obj, pids) => started(reader, [obj, ...pids.map(String)], 'ready');

const variants = {
  none: async () => async () => '',
  'tracer, idle': () => tracer(idle.pid),
  'tracer, capturing': () => tracer(nginx),
  'syscall exits, idle': () => minimal(syscallObj, []),
  'syscall exits, capturing': () => minimal(syscallObj, workers),
  'socket layer, idle': () => minimal(socketObj, []),
  'socket layer, capturing': () => minimal(socketObj, workers),
};
// AGAINST=<checkout> (built): that checkout's tracer too, in the same rounds.
if (process.env.AGAINST) {
  variants['against, idle'] = () => tracer(idle.pid, process.env.AGAINST);
  variants['against, capturing'] = () => tracer(nginx, process.env.AGAINST);
}
const names = Object.keys(variants);
const results = Object.fromEntries(names.map((n) => [n, []]));
console.log(
  `attach-cost: nginx (workers ${workers.join(', ')}) under wrk -t2 -c20, ${seconds} s rounds, ${rounds} alternating rounds; ${new Date().toISOString()}`,
);
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 ? [...names].reverse() : names) {
    const stop = await variants[name]();
    // The tracer's first seconds compile and size its heap: one unmeasured second of load.
    if (name.startsWith('tracer') || name.startsWith('against')) wrk(1);
    const res = round();
    const tail = await stop();
    results[name].push(res);
    console.log(
      `  round ${r + 1} ${name.padEnd(26)} ${Math.round(res.rps).toLocaleString('en-US').padStart(7)} req/s, machine ${res.machineUs.toFixed(1)} µs/req, nginx workers ${res.nginxUs.toFixed(1)} µs/req${tail && !tail.startsWith('{') ? ` (reader: ${tail.split(' ')[0]} records)` : ''}`,
    );
  }
}
console.log('medians:');
const base = median(results.none.map((x) => x.rps));
for (const name of names) {
  const xs = results[name];
  const rps = median(xs.map((x) => x.rps));
  console.log(
    `  ${name.padEnd(26)} ${Math.round(rps).toLocaleString('en-US').padStart(7)} req/s (${((100 * rps) / base).toFixed(1)} % of none), machine ${median(xs.map((x) => x.machineUs)).toFixed(1)} µs/req, nginx workers ${median(xs.map((x) => x.nginxUs)).toFixed(1)} µs/req`,
  );
}

/** The small-write load's CPU per write (ns) with the source on it at `dataAttach` (or none). */
async function perWrite(dataAttach, toFile) {
  const child = spawn(smallWrites, ['3', '64', '0', ...(toFile ? ['file'] : [])], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  await lines.next(); // ready
  const stop$ = new Subject();
  let done;
  if (dataAttach) {
    let applied;
    const ready = new Promise((r) => (applied = r));
    done = new Promise((resolve, reject) =>
      bpfSource({
        pids: [child.pid],
        stats: new Stats(),
        stopOn: stop$,
        dataAttach,
        onPolicyApplied: () => applied(),
      }).subscribe({ error: reject, complete: resolve }),
    );
    await ready;
  }
  const cpu0 = cpuSeconds(child.pid);
  child.stdin.write('go\n');
  const writes = Number((await lines.next()).value.split(' ')[1]);
  const cpu1 = cpuSeconds(child.pid);
  await new Promise((r) => child.once('exit', r));
  stop$.next();
  await done;
  return ((cpu1 - cpu0) / writes) * 1e9;
}

console.log('\nthe small-write load, CPU per 64-byte write (median of 5 alternating runs of 3 s):');
for (const toFile of [false, true]) {
  const modes = [undefined, 'syscalls', 'socket-layer'];
  const ns = new Map(modes.map((m) => [m, []]));
  for (let r = 0; r < 5; r++)
    for (const m of r % 2 ? [...modes].reverse() : modes) ns.get(m).push(await perWrite(m, toFile));
  console.log(
    `  to ${toFile ? '/dev/null' : 'a socket'}: ${modes.map((m) => `${m ? `data at ${m}` : 'no tracer'} ${median(ns.get(m)).toFixed(0)} ns`).join(', ')}`,
  );
}
process.exit(0);
