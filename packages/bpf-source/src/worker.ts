/**
 * The loader worker: loads and attaches the BPF object, keeps the capture policy map in step with
 * the policy it is sent, and drains the ring buffer whenever its epoll fd is readable (koffi's
 * libuv poll), handing raw records to the main thread in transferred batches. The main thread
 * never waits on the kernel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import koffi from 'koffi';
import { ErrorCode, TracerError, isTracerError } from '@traceable-ebpf/core';
import { loadLibbpf, type Libbpf } from './libbpf.js';
import { RingbufReader } from './ringbuf-reader.js';
import { Counter, Mode } from './generated/layout.js';
import type { CaptureMode, CapturePolicy, FromWorker, ToWorker, WorkerConfig } from './protocol.js';
import { parentPids, withDescendants } from './processes.js';

const port = parentPort!;
const config = workerData as WorkerConfig;
const BATCH_BYTES = 4 << 20;
const EPERM = 1;
const EAGAIN = 11;
const LOAD_ATTEMPTS = 5;

const post = (msg: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer ?? []);

const MODE_BITS: Record<CaptureMode, number> = {
  ingress: Mode.TE_MODE_INGRESS,
  egress: Mode.TE_MODE_EGRESS,
  ingress_and_egress: Mode.TE_MODE_INGRESS | Mode.TE_MODE_EGRESS,
};

interface Loaded {
  lib: Libbpf;
  obj: unknown;
  links: unknown[];
  ring: RingbufReader;
  poll: ReturnType<typeof koffi.node.poll>;
  pidsFd: number;
  countersFd: number;
  ncpus: number;
  applied: Set<number>;
  timer: NodeJS.Timeout;
}

let batch = new Uint8Array(BATCH_BYTES);
let batchPos = 0;
let batchRecords = 0;
/** Batches posted and not yet acknowledged: bounds the memory between kernel and pipeline. */
let inFlight = 0;
let paused = false;

function flush() {
  if (batchRecords === 0) return;
  const buffer = batch.buffer as ArrayBuffer;
  post({ type: 'batch', buffer, length: batchPos, records: batchRecords }, [buffer]);
  inFlight++;
  batch = new Uint8Array(BATCH_BYTES);
  batchPos = 0;
  batchRecords = 0;
}

/** Drains the ring buffer unless the main thread is behind; then the ring buffer fills and the
 * kernel counts what it can't store (EventLost) instead of memory growing here. */
function drain(l: Loaded, force = false) {
  for (;;) {
    if (!force && inFlight >= config.maxBatchesInFlight) {
      if (!paused) l.poll.stop();
      paused = true;
      break;
    }
    const { bytes, records } = l.ring.readInto(batch, batchPos);
    batchPos += bytes;
    batchRecords += records;
    if (bytes === 0 && batchPos === 0) break; // empty, or the next record is still being written
    flush();
    if (bytes === 0) continue; // the batch was full: read on into a fresh one
  }
}

function onAck(l: Loaded) {
  inFlight--;
  if (paused && inFlight < config.maxBatchesInFlight) {
    paused = false;
    l.poll.start({ readable: true }, () => drain(l));
    drain(l);
  }
}

function fail(code: (typeof ErrorCode)[keyof typeof ErrorCode], what: string, lib: Libbpf): never {
  const err = lib.errno();
  if (err === EPERM) {
    throw new TracerError(
      ErrorCode.NoPrivilege,
      `${what}: operation not permitted (run as root, or with CAP_BPF + CAP_PERFMON)`,
    );
  }
  const reason = lib
    .recentLog()
    .filter((l) => /error|fail|invalid|unknown|not/i.test(l))
    .slice(-3)
    .join(' | ');
  throw new TracerError(code, `${what} (errno ${err})${reason ? `: ${reason}` : ''}`);
}

function load(): Loaded {
  if (!existsSync(config.objectPath)) {
    throw new TracerError(
      ErrorCode.NoBpfObject,
      `BPF object ${config.objectPath} not found: run pnpm build`,
    );
  }
  const lib = loadLibbpf();
  const ncpus = lib.numPossibleCpus();
  // The verifier gives up with EAGAIN when a signal is pending (a profiler's SIGPROF, a child's
  // SIGCHLD): retry with a fresh object a few times before reporting the failure.
  let obj: unknown;
  let map!: (name: string) => unknown;
  for (let attempt = 1; ; attempt++) {
    const o = lib.objectOpenFile(config.objectPath);
    if (!o) fail(ErrorCode.BpfLoad, `cannot open ${config.objectPath}`, lib);
    map = (name: string) => {
      const m = lib.findMap(o, name);
      if (!m) throw new TracerError(ErrorCode.BpfLoad, `BPF object has no map '${name}'`);
      return m;
    };
    lib.mapSetMaxEntries(map('events'), config.ringBufferBytes);
    lib.mapSetMaxEntries(map('scratch'), ncpus);
    if (lib.objectLoad(o) === 0) {
      obj = o;
      break;
    }
    const errno = lib.errno();
    if (errno !== EAGAIN || attempt >= LOAD_ATTEMPTS)
      fail(ErrorCode.BpfLoad, 'the kernel rejected the BPF programs', lib);
    lib.objectClose(o);
  }

  const links: unknown[] = [];
  const names: string[] = [];
  for (let prog = lib.nextProgram(obj, null); prog; prog = lib.nextProgram(obj, prog)) {
    const name = lib.programName(prog);
    const link = lib.programAttach(prog);
    if (!link) {
      for (const l of links) lib.linkDestroy(l);
      fail(ErrorCode.BpfAttach, `cannot attach ${name}`, lib);
    }
    links.push(link);
    names.push(name);
  }
  const eventsFd = lib.mapFd(map('events'));
  const ring = new RingbufReader(eventsFd, config.ringBufferBytes);
  const poll = koffi.node.poll(eventsFd, { readable: true }, () => drain(loaded));
  const loaded: Loaded = {
    lib,
    obj,
    links,
    ring,
    poll,
    pidsFd: lib.mapFd(map('capture_pids')),
    countersFd: lib.mapFd(map('counters')),
    ncpus,
    applied: new Set(),
    timer: setInterval(
      () => post({ type: 'counters', values: readCounters(loaded) }),
      config.countersIntervalMs,
    ),
  };
  post({ type: 'ready', libbpfVersion: lib.version, programs: names });
  return loaded;
}

/** Sums the per-CPU counters (values are 8-byte slots, one per possible CPU). */
function readCounters(l: Loaded): number[] {
  const key = Buffer.alloc(4);
  const values = Buffer.alloc(8 * l.ncpus);
  const out: number[] = [];
  for (let i = 0; i < Counter.TE_CNT__MAX; i++) {
    key.writeUInt32LE(i);
    let sum = 0;
    if (l.lib.mapLookup(l.countersFd, key, values) === 0) {
      for (let c = 0; c < l.ncpus; c++) sum += Number(values.readBigUInt64LE(8 * c));
    }
    out.push(sum);
  }
  return out;
}

/** Writes the policy into capture_pids: the selected processes, their descendants, nobody else. */
function applyPolicy(l: Loaded, policy: CapturePolicy) {
  const parents = parentPids();
  const wanted = new Map<number, { mode: number; inherited: boolean }>();
  const missing: number[] = [];
  for (const sel of policy.processes) {
    if (!parents.has(sel.pid)) {
      missing.push(sel.pid);
      continue;
    }
    for (const pid of withDescendants([sel.pid], parents)) {
      if (pid === process.pid) continue; // never capture the tracer itself
      wanted.set(pid, { mode: MODE_BITS[sel.mode], inherited: pid !== sel.pid });
    }
  }
  const key = Buffer.alloc(4);
  for (const pid of l.applied) {
    if (wanted.has(pid)) continue;
    key.writeUInt32LE(pid);
    l.lib.mapDelete(l.pidsFd, key);
  }
  const value = Buffer.alloc(4);
  for (const [pid, sel] of wanted) {
    key.writeUInt32LE(pid);
    value.writeUInt8(sel.mode, 0);
    value.writeUInt8(sel.inherited ? 1 : 0, 1);
    l.lib.mapUpdate(l.pidsFd, key, value, 0);
  }
  l.applied = new Set(wanted.keys());
  if (policy.processes.length > 0)
    post({ type: 'policy-applied', pids: [...wanted.keys()], missing });
}

async function stop(l: Loaded | undefined) {
  if (l) {
    // Stop capture first (instant), hand over everything captured, then detach: detaching waits
    // for an RCU grace period per probe, and the pipeline shouldn't wait for that.
    applyPolicy(l, { processes: [] });
    clearInterval(l.timer);
    l.poll.close();
    drain(l, true);
    post({ type: 'counters', values: readCounters(l) });
    post({ type: 'drained' });
    await Promise.all(l.links.map((link) => l.lib.linkDestroyAsync(link)));
    l.ring.close();
    l.lib.objectClose(l.obj);
  } else {
    post({ type: 'drained' });
  }
  post({ type: 'stopped' });
  port.close();
}

let loaded: Loaded | undefined;
try {
  loaded = load();
} catch (err) {
  const e = isTracerError(err)
    ? err
    : new TracerError(ErrorCode.BpfLoad, String((err as Error)?.message ?? err));
  post({ type: 'error', code: e.code, message: e.message });
  port.close();
}
port.on('message', (msg: ToWorker) => {
  if (!loaded) return;
  if (msg.type === 'ack') onAck(loaded);
  else if (msg.type === 'policy') applyPolicy(loaded, msg.policy);
  else if (msg.type === 'stop') void stop(loaded);
});
