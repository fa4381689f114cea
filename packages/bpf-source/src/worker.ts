/**
 * The loader worker: loads and attaches the BPF object, keeps the kernel's policy maps in step
 * with the policy it is sent, and drains the ring buffer when its map fd is readable (koffi's
 * libuv poll), handing raw records to the main thread in transferred batches. The main thread
 * never waits on the kernel; at most `maxBytesInFlight` bytes of batches are unhandled.
 */
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';
import { ErrorCode, TracerError, isTracerError } from '@traceable-ebpf/core';
import { LoadedObject } from './loader.js';
import { RingbufReader, type EventReader } from './ringbuf-reader.js';
import { PerfbufReader } from './perfbuf-reader.js';
import { RecordingWriter } from './recording.js';
import {
  CREDIT_HANDLED,
  CREDIT_PAUSED,
  CREDIT_PAUSES,
  CREDIT_POSTED,
  type FromWorker,
  type ToWorker,
  type WorkerConfig,
} from './protocol.js';

const port = parentPort!;
const config = workerData as WorkerConfig;

/** glibc, for the two optional calls below (naming this thread, malloc's policy); else undefined. */
const libc = (() => {
  try {
    return koffi.load('libc.so.6');
  } catch {
    return undefined;
  }
})();

/**
 * Names this OS thread `bpf-source`, so `top -H` and `/proc/<pid>/task/<tid>/comm` tell its CPU
 * from the main thread's (bench/ reports the two apart). Cosmetic: where libc lacks the call the
 * thread keeps its name.
 */
function nameThread(name: string): void {
  if (!libc) return;
  try {
    const self = libc.func('unsigned long pthread_self()');
    const setName = libc.func('int pthread_setname_np(unsigned long thread, const char *name)');
    setName(self(), name);
  } catch {
    // no pthread_setname_np: the name is only for people reading thread lists
  }
}
nameThread('bpf-source');

/**
 * glibc's `M_MMAP_THRESHOLD` (process-wide): allocations of at least `bytes` get pages of their
 * own from mmap and go back to the kernel when freed. glibc otherwise raises the threshold to the
 * largest block freed so far, after which the batches (allocated here, freed by the main
 * thread's GC) and the exporter's request buffers are carved from malloc's arenas, which keep
 * what they once held: the tracer's RSS stayed ~15 MiB higher after every burst. A libc without
 * mallopt (not glibc) is left as it is.
 */
function setMmapThreshold(bytes: number): void {
  if (bytes <= 0 || !libc) return;
  try {
    const mallopt = libc.func('int mallopt(int param, int value)');
    const M_MMAP_THRESHOLD = -3;
    mallopt(M_MMAP_THRESHOLD, bytes);
  } catch {
    // not glibc: its allocator keeps its own policy
  }
}
setMmapThreshold(config.mallocMmapThresholdBytes);
/** A batch's largest size (a record never exceeds it: at most 128 KiB are copied per syscall). */
const BATCH_BYTES = 1 << 20;

const post = (msg: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer ?? []);

/** Batches are transferred to the main thread, so each is new: sized to what is waiting, in
 * pages (a zero-filled 4 MiB array per flush was 10% of the worker's time under load; a 64 KiB
 * floor, with per-record wakeups delivering a few records per batch, kept V8's GC threads and the
 * kernel's page faults busy: ~1 GB/s allocated under wrk). What is waiting always includes the
 * whole of every record in it, so a batch of that size always takes the first record. */
const BATCH_ROUND_BYTES = 4096;
let batch = new Uint8Array(BATCH_ROUND_BYTES);
let batchPos = 0;
let batchRecords = 0;
/** Bytes of batches posted (wrapping at 2^32, like the main thread's count of those handled). */
let posted = 0;
const credit = new Int32Array(config.credit);
/** Bytes posted and not yet handled: bounds the memory between kernel and pipeline. */
const inFlight = () => (posted - Atomics.load(credit, CREDIT_HANDLED)) | 0;
let paused = false;
/** The most bytes found waiting in the kernel's buffer at the start of a drain. */
let waitingMax = 0;

let recorder: RecordingWriter | undefined;

function flush() {
  if (batchRecords === 0) return;
  recorder?.write(batch, batchPos, batchRecords);
  const buffer = batch.buffer as ArrayBuffer;
  // Counted before the post: transferring detaches the buffer (its byteLength becomes 0).
  posted = (posted + buffer.byteLength) | 0;
  Atomics.store(credit, CREDIT_POSTED, posted);
  post({ type: 'batch', buffer, length: batchPos, records: batchRecords }, [buffer]);
  batch = new Uint8Array(0);
  batchPos = 0;
  batchRecords = 0;
}

interface Running {
  object: LoadedObject;
  ring: EventReader;
  poll: ReturnType<typeof koffi.node.poll>;
  timer: NodeJS.Timeout;
  /** Drains on a timer: the kernel wakes the poll only past a watermark. */
  drainTimer?: NodeJS.Timeout;
}

/** Drains the ring buffer unless the main thread is behind; then the ring buffer fills and the
 * kernel counts what it can't store (EventLost) instead of memory growing here. */
function drain(r: Running, force = false) {
  const waiting = r.ring.pending();
  if (waiting !== undefined && waiting > waitingMax) waitingMax = waiting;
  for (;;) {
    if (!force && inFlight() >= config.maxBytesInFlight) {
      // Say so, then look again: the main thread either sees the flag (and posts an ack) or
      // finished a batch before it was set, which this second look sees.
      Atomics.store(credit, CREDIT_PAUSED, 1);
      if (inFlight() < config.maxBytesInFlight) {
        // Room after all. After a pause this is the resume (no ack will come for a flag that is
        // cleared): a drain on the timer (drainIntervalMs) can get here first.
        resume(r);
        continue;
      }
      if (!paused) {
        r.poll.stop();
        Atomics.add(credit, CREDIT_PAUSES, 1);
      }
      paused = true;
      break;
    }
    if (batchPos === 0) {
      // Unknown (perf buffers): a batch of 1 MiB, filled as far as the records go.
      const waiting = Math.max(1, r.ring.pending() ?? 1 << 20);
      const want = Math.min(
        BATCH_BYTES,
        Math.ceil(waiting / BATCH_ROUND_BYTES) * BATCH_ROUND_BYTES,
      );
      if (batch.length !== want) batch = new Uint8Array(want);
    }
    const { bytes, records } = r.ring.readInto(batch, batchPos);
    batchPos += bytes;
    batchRecords += records;
    if (bytes === 0 && batchPos === 0) break; // empty, or the next record is still being written
    flush();
    if (bytes === 0) continue; // the batch was full: read on into a fresh one
  }
}

/** A coalescing delay is running (the poll is stopped until it ends). */
let coalescing = false;
let closing = false;

/**
 * The ring buffer became readable. With a coalescing delay, the drain waits for it: the kernel
 * wakes the reader only for a record committed while the reader had caught up, so records that
 * arrive during the delay cost no wakeup each.
 */
function onReadable(r: Running) {
  if (config.coalesceMs <= 0) return drain(r);
  if (coalescing) return;
  coalescing = true;
  r.poll.stop();
  setTimeout(() => {
    coalescing = false;
    if (closing) return;
    drain(r);
    if (!paused) r.poll.start({ readable: true }, () => onReadable(r));
  }, config.coalesceMs);
}

/** Reading may go on: the flag cleared and, after a pause, the poll watching again. */
function resume(r: Running) {
  Atomics.store(credit, CREDIT_PAUSED, 0);
  if (!paused) return;
  paused = false;
  if (!coalescing && !closing) r.poll.start({ readable: true }, () => onReadable(r));
}

function onAck(r: Running) {
  if (paused && inFlight() < config.maxBytesInFlight && !closing) {
    resume(r);
    drain(r);
  }
}

const postCounters = (o: LoadedObject) =>
  post({ type: 'counters', values: o.counters(), probes: o.probes(), waitingMax });

function start(): Running {
  if (config.recordPath)
    recorder = new RecordingWriter(config.recordPath, BigInt(config.epochOffsetNs));
  const object = new LoadedObject(config);
  let ring: EventReader;
  try {
    ring =
      object.transport === 'perfbuf'
        ? new PerfbufReader(object.lib, object.eventsFd, config.ringBufferBytes)
        : new RingbufReader(object.eventsFd, config.ringBufferBytes);
  } catch (err) {
    object.closeNow(); // nothing of it outlives the error (a caller may try again)
    throw err;
  }
  const running: Running = {
    object,
    ring,
    poll: koffi.node.poll(ring.fd, { readable: true }, () => onReadable(running)),
    timer: setInterval(() => postCounters(object), config.countersIntervalMs),
  };
  if (config.drainIntervalMs > 0)
    running.drainTimer = setInterval(() => drain(running), config.drainIntervalMs);
  post({
    type: 'ready',
    libbpfVersion: object.lib.version,
    programs: object.programs,
    transport: object.transport,
    callStore: object.callStore,
    dataAttach: object.dataAttach,
  });
  return running;
}

async function stop(r: Running | undefined) {
  if (r) {
    // Stop capture first (instant), hand over everything captured, then detach: detaching waits
    // for an RCU grace period per probe, and the pipeline shouldn't wait for that.
    r.object.applyPolicy({ processes: [] });
    clearInterval(r.timer);
    clearInterval(r.drainTimer);
    closing = true;
    r.poll.close();
    drain(r, true);
    postCounters(r.object);
    recorder?.close();
    post({ type: 'drained' });
    r.ring.close();
    await r.object.close();
  } else {
    post({ type: 'drained' });
  }
  post({ type: 'stopped' });
  port.close();
}

let running: Running | undefined;
try {
  running = start();
} catch (err) {
  const e = isTracerError(err)
    ? err
    : new TracerError(ErrorCode.BpfLoad, String((err as Error)?.message ?? err));
  post({ type: 'error', code: e.code, message: e.message });
  port.close();
}
port.on('message', (msg: ToWorker) => {
  const r = running;
  if (!r) return;
  try {
    switch (msg.type) {
      case 'ack':
        onAck(r);
        break;
      case 'policy':
        post({ type: 'policy-applied', ...r.object.applyPolicy(msg.policy) });
        break;
      case 'disable':
        r.object.disable(msg.tgid, msg.fd, msg.gen);
        break;
      case 'stop':
        void stop(r);
        break;
    }
  } catch (err) {
    const e = isTracerError(err)
      ? err
      : new TracerError(ErrorCode.BpfLoad, String((err as Error)?.message ?? err));
    post({ type: 'error', code: e.code, message: e.message });
  }
});
