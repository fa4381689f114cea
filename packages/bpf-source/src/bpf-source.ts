import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Observable, of, type Observable as Obs } from 'rxjs';
import {
  ErrorCode,
  Stats,
  TracerError,
  sampleEpochOffsetNs,
  type ErrorCodeValue,
  type KernelEvent,
  type MonotonicClock,
} from '@traceable-ebpf/core';
import { decodeBatch } from './decode.js';
import { Counter, Syscall } from './generated/layout.js';
import type {
  CallStore,
  DataAttach,
  CaptureMode,
  CapturePolicy,
  EventTransport,
  FromWorker,
  ToWorker,
  WorkerConfig,
} from './protocol.js';
import {
  CREDIT_HANDLED,
  CREDIT_PAUSED,
  CREDIT_PAUSES,
  CREDIT_POSTED,
  CREDIT_SLOTS,
} from './protocol.js';
import { preflight, type SystemInfo } from './system.js';

/** Options of {@link bpfSource}. */
export interface BpfSourceOptions {
  /** Processes to capture (with their descendants), in `mode`. Shorthand for a fixed `policy$`. */
  readonly pids?: readonly number[];
  /** Mode for `pids`. Default `ingress_and_egress`. */
  readonly mode?: CaptureMode;
  /** The capture policy over time; each value replaces the previous one in the kernel's maps. */
  readonly policy$?: Obs<CapturePolicy>;
  /**
   * Ring buffer size in bytes (a power of two, multiple of the page size). It holds what the
   * kernel captures while the reader waits (the coalescing delay) or the pipeline is behind.
   * Default 8 MiB: ~140 ms of nginx under wrk at 75k requests/s.
   */
  readonly ringBufferBytes?: number;
  /** Where the kernel's counters and the source's own go. Default: a new set. */
  readonly stats?: Stats;
  /**
   * Bytes of event batches (up to 1 MiB each) handed to the main thread and not yet processed.
   * Past it the worker stops draining and the ring buffer holds what comes (the kernel counts
   * what it can't store, `EventLost`). Default 16 MiB: under wrk on nginx the pipeline, sharing
   * two cores with them, fell behind by up to 12 MB at times; 4 MiB (with the 8 MiB ring
   * buffer) lost 0.1–2.4 % of the events in 3 of 4 rounds, and the peak RSS was no lower.
   */
  readonly maxBytesInFlight?: number;
  /**
   * glibc's malloc (the whole process): allocations of at least this many bytes get pages of
   * their own and return them to the kernel when freed, so the batches (allocated in the worker,
   * freed on the main thread) don't leave malloc's arenas holding their peak. 0 leaves malloc as
   * it is; other C libraries are never touched. Default 128 KiB.
   */
  readonly mallocMmapThresholdBytes?: number;
  /**
   * Bytes copied per syscall, in 16 KiB events (at most 128 KiB); the full size of larger calls
   * is always reported. Default 64 KiB.
   */
  readonly maxCaptureBytes?: number;
  /**
   * Connection ids (`tgid:fd:generation`) the kernel should stop copying: a protocol nothing
   * parses. The connection's offsets still advance; its close is still reported.
   */
  readonly disable$?: Obs<string>;
  /** Also write the raw event stream to this file (replay it with `replaySource`). */
  readonly recordPath?: string;
  /**
   * The clock the rest of the pipeline converts kernel times with (its offset goes into a
   * recording, so replayed spans get the same times). Default: sampled at subscription.
   */
  readonly clock?: MonotonicClock;
  /** How often the kernel counters are read. Default 1000 ms. */
  readonly countersIntervalMs?: number;
  /**
   * Ring buffer: when > 0, the worker drains it every this many milliseconds and the kernel
   * wakes it early only once a quarter of the buffer waits, instead of whenever the reader had
   * caught up (nearly every record under a fast reader). Fewer wakeups cost the kernel less per
   * captured event, but events arrive in bursts, and a load sharing its cores with the tracer
   * can keep less of its throughput: meant for a tracer with a core to itself. Default 0 (the
   * kernel's adaptive wakeups).
   */
  readonly drainIntervalMs?: number;
  /**
   * When the kernel wakes the reader, wait this long before draining. The kernel wakes the reader
   * only for a record committed while the reader had caught up, so records arriving during the
   * wait cost no wakeup each, and the main thread gets fewer, larger batches. Events reach the
   * pipeline at most this much later. Default 10 ms; 0 drains at once.
   */
  readonly coalesceMs?: number;
  /** The compiled BPF object (ring buffer build). Default: the one built into this package. */
  readonly objectPath?: string;
  /** The perf buffer build. Default: the one built into this package. */
  readonly perfbufObjectPath?: string;
  /**
   * How events leave the kernel: `ringbuf` (5.8+), `perfbuf` (per-CPU perf buffers, for older
   * kernels; one event per syscall, first 16 KiB copied), or `auto` (default: the ring buffer
   * when the kernel has it).
   */
  readonly transport?: 'auto' | EventTransport;
  /**
   * Where the kernel finds a call's arguments at sys_exit (ring buffer build): `registers`
   * (5.15+, `bpf_task_pt_regs`: read from the registers the thread entered with, so the data
   * calls run no program at sys_enter), `task-storage` (5.11+: saved at sys_enter in the
   * thread's storage), `hash` (saved in a hash by thread), or `auto` (default: the first of
   * these the kernel has). Forcing the others exercises the older kernels' paths.
   */
  readonly callStore?: 'auto' | CallStore;
  /**
   * Where the data programs attach: `socket-layer` (inside every socket send and receive, Linux
   * 6.3+ with `registers`: no program runs for the syscalls of files, pipes and other processes,
   * and each costs less than a syscall tracepoint's), `syscalls` (the data syscalls' exits), or
   * `auto` (default: the socket layer where the kernel has it). Forcing `syscalls` exercises the
   * older kernels' path.
   */
  readonly dataAttach?: 'auto' | DataAttach;
  /** Kernel BTF. Default `/sys/kernel/btf/vmlinux`. */
  readonly btfPath?: string;
  /** Where to look for this kernel's BTF file when it has none (BTFHub's layout). */
  readonly btfDir?: string;
  /** Called once every probe is attached, with the system-info record. */
  readonly onReady?: (info: SystemInfo & { programs: string[] }) => void;
  /**
   * When this emits, the source detaches the probes, emits the events the kernel had already
   * captured, and completes, so later stages can flush. Unsubscribing instead drops them.
   */
  readonly stopOn?: Obs<unknown>;
  /**
   * Called each time a value of `policy$` is in the kernel's maps (written synchronously before
   * this is called, so syscalls of the selected processes from then on are captured), with the
   * pids selected and the ones that don't exist, the cgroup ids selected and the cgroups that
   * don't exist (skipped). Always after `onReady`.
   */
  readonly onPolicyApplied?: (applied: {
    pids: number[];
    missing: number[];
    cgroups: string[];
    missingCgroups: string[];
  }) => void;
}

/** Busy time after which handling kernel batches gives the event loop a turn. */
const YIELD_AFTER_MS = 10;
/** Events handed on between two looks at the clock. */
const EVENTS_PER_SLICE_CHECK = 256;

/** Default location of the compiled object (ring buffer build) inside this package. */
export const DEFAULT_OBJECT_PATH = fileURLToPath(new URL('../bpf/tracer.bpf.o', import.meta.url));
/** Default location of the perf buffer build (kernels before 5.8). */
export const DEFAULT_PERFBUF_OBJECT_PATH = fileURLToPath(
  new URL('../bpf/tracer-perfbuf.bpf.o', import.meta.url),
);

/** Kernel counters (enum te_counter) and the Stats names they feed. */
const KERNEL_COUNTERS = [
  [Counter.TE_CNT_EVENTS_LOST, 'EventLost'],
  [Counter.TE_CNT_BYTES_TRUNCATED, 'BytesTruncated'],
  [Counter.TE_CNT_CONN_TABLE_FULL, 'ConnTableFull'],
  [Counter.TE_CNT_COPY_FAILED, 'KernelCopyFailed'],
  [Counter.TE_CNT_SENDFILE_BYTES, 'SendfileBytes'],
  [Counter.TE_CNT_DISABLED_BYTES, 'BytesOnDisabledConnections'],
  [Counter.TE_CNT_MMSG_UNACCOUNTED, 'MmsgMessagesUnaccounted'],
  [Counter.TE_CNT_CALLS_UNTRACKED, 'CallsUntracked'],
] as const;

const SYSCALL_NAMES = Object.entries(Syscall)
  .filter(([k]) => k !== 'TE_SYS__MAX')
  .map(([k, v]) => [v, k.replace(/^TE_SYS_/, '').toLowerCase()] as const);

/**
 * Socket events of the selected processes, from the kernel. Subscribing loads and attaches the
 * BPF programs in a worker thread; unsubscribing detaches them. Fails with a {@link TracerError}
 * (one clear line) when privileges, BTF, tracefs or libbpf are missing.
 *
 * @example
 * ```ts
 * import { Subject } from 'rxjs';
 * import { Stats } from '@traceable-ebpf/core';
 * import { bpfSource } from '@traceable-ebpf/bpf-source';
 *
 * // As root: the connections process 1234 accepts, for ten seconds.
 * const stats = new Stats();
 * const stop$ = new Subject<void>();
 * bpfSource({ pids: [1234], mode: 'ingress', stats, stopOn: stop$ }).subscribe({
 *   next: (ev) => console.log(ev.kind, ev.conn),
 *   error: (err: Error) => console.error(err.message),
 * });
 * setTimeout(() => stop$.next(), 10_000);
 * ```
 */
export function bpfSource(options: BpfSourceOptions = {}): Observable<KernelEvent> {
  const stats = options.stats ?? new Stats();
  const policy$ =
    options.policy$ ??
    of<CapturePolicy>({
      processes: (options.pids ?? []).map((pid) => ({
        pid,
        mode: options.mode ?? 'ingress_and_egress',
      })),
    });

  return new Observable<KernelEvent>((subscriber) => {
    let info: SystemInfo;
    try {
      info = preflight(options.btfPath, options.btfDir);
    } catch (err) {
      subscriber.error(err);
      return;
    }
    const maxBytesInFlight = options.maxBytesInFlight ?? 16 << 20;
    // Compared as int32 differences in the worker: 1 byte to 1 GiB.
    if (!Number.isInteger(maxBytesInFlight) || maxBytesInFlight < 1 || maxBytesInFlight > 1 << 30) {
      subscriber.error(
        new TracerError(
          ErrorCode.Config,
          `maxBytesInFlight must be a whole number of bytes from 1 to 1 GiB, not ${maxBytesInFlight}`,
        ),
      );
      return;
    }
    const credit = new SharedArrayBuffer(CREDIT_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    const creditView = new Int32Array(credit);
    const config: WorkerConfig = {
      objects: {
        ringbuf: options.objectPath ?? DEFAULT_OBJECT_PATH,
        perfbuf: options.perfbufObjectPath ?? DEFAULT_PERFBUF_OBJECT_PATH,
      },
      transport: options.transport ?? 'auto',
      callStore: options.callStore ?? 'auto',
      dataAttach: options.dataAttach ?? 'auto',
      ringBufferBytes: options.ringBufferBytes ?? 8 << 20,
      countersIntervalMs: options.countersIntervalMs ?? 1000,
      drainIntervalMs: options.drainIntervalMs ?? 0,
      coalesceMs: options.coalesceMs ?? 10,
      maxBytesInFlight,
      credit,
      mallocMmapThresholdBytes: options.mallocMmapThresholdBytes ?? 128 * 1024,
      maxCaptureBytes: options.maxCaptureBytes ?? 64 * 1024,
      ...(options.recordPath ? { recordPath: options.recordPath } : {}),
      epochOffsetNs: String(options.clock?.offsetNs ?? sampleEpochOffsetNs()),
      ...(info.btfCustomPath ? { btfCustomPath: info.btfCustomPath } : {}),
    };
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: config,
      // The worker allocates little (records are copied into shared batches): a small young
      // generation keeps its heap small.
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    });
    const send = (msg: ToWorker) => worker.postMessage(msg);
    let policySub: { unsubscribe(): void } | undefined;
    let disableSub: { unsubscribe(): void } | undefined;
    let stopped = false;
    let drained = false;
    /** When the main thread last let the event loop turn. */
    let sliceStart = performance.now();
    /** Batches received and not yet fully handled, in order; the first is being handled. */
    const batches: Array<{ buffer: ArrayBuffer; length: number; next: number }> = [];
    // Events are counted here and added to the stats once per slice of a batch: a counter
    // increment per event showed in profiles.
    let dataEvents = 0;
    let controlEvents = 0;
    const emit = (ev: KernelEvent) => {
      if (ev.kind === 'data') dataEvents++;
      else controlEvents++;
      subscriber.next(ev);
    };
    const countEvents = () => {
      if (dataEvents > 0) stats.inc('DataEventReceived', dataEvents);
      if (controlEvents > 0) stats.inc('ControlEventReceived', controlEvents);
      dataEvents = controlEvents = 0;
    };
    /**
     * Hands the batches' events on, a slice of time at a time. Under load one batch is
     * thousands of events (hundreds of milliseconds of pipeline work) and batches come back to
     * back; handled whole, sockets and timers (the exporter's requests, stats) starved until
     * the load stopped. Past YIELD_AFTER_MS of work the rest waits for one turn of the event
     * loop. A batch is acked once handled whole, so the worker's credit still bounds memory.
     */
    const handleBatches = () => {
      while (batches.length > 0 && !subscriber.closed) {
        const b = batches[0]!;
        let r: ReturnType<typeof decodeBatch>;
        try {
          r = decodeBatch(b.buffer, b.length, emit, b.next, EVENTS_PER_SLICE_CHECK);
        } finally {
          countEvents();
        }
        b.next = r.next;
        if (b.next >= b.length) {
          batches.shift();
          // Credit back in shared memory; a message only to wake a worker that paused.
          Atomics.add(creditView, CREDIT_HANDLED, b.buffer.byteLength);
          if (!stopped && Atomics.load(creditView, CREDIT_PAUSED) === 1) send({ type: 'ack' });
        }
        if (batches.length > 0 && performance.now() - sliceStart >= YIELD_AFTER_MS) {
          setImmediate(() => {
            sliceStart = performance.now();
            handleBatches();
          });
          return;
        }
      }
      // The last batch handled: the next slice starts after this turn of the loop.
      setImmediate(() => (sliceStart = performance.now()));
      if (drained && batches.length === 0) subscriber.complete();
    };
    const stopSub = options.stopOn?.subscribe(() => {
      if (stopped) return;
      stopped = true;
      send({ type: 'stop' });
    });

    worker.on('message', (msg: FromWorker) => {
      switch (msg.type) {
        case 'batch':
          stats.max('KprobeEventMaxQueueSizeTillNow', msg.records);
          // (Not at a stop: the worker then hands over the whole ring buffer, credit or not.)
          if (!stopped)
            stats.max(
              'KernelBatchBytesInFlightMaxTillNow',
              (Atomics.load(creditView, CREDIT_POSTED) - Atomics.load(creditView, CREDIT_HANDLED)) |
                0,
            );
          stats.set('KernelReadPauses', Atomics.load(creditView, CREDIT_PAUSES));
          batches.push({ buffer: msg.buffer, length: msg.length, next: 0 });
          if (batches.length === 1) handleBatches();
          break;
        case 'counters':
          for (const [idx, name] of KERNEL_COUNTERS) stats.set(name, msg.values[idx] ?? 0);
          stats.max('KernelRingBytesMaxTillNow', msg.waitingMax);
          for (const [idx, name] of SYSCALL_NAMES) {
            const entries = msg.probes[idx * 2] ?? 0;
            const exits = msg.probes[idx * 2 + 1] ?? 0;
            if (entries || exits) stats.setProbe(name, entries, exits);
          }
          break;
        case 'ready':
          policySub = policy$.subscribe({
            next: (policy) => send({ type: 'policy', policy }),
            error: (err) => subscriber.error(err),
          });
          disableSub = options.disable$?.subscribe((id) => {
            const [tgid, fd, gen] = id.split(':').map(Number);
            if (tgid === undefined || fd === undefined || gen === undefined || Number.isNaN(gen))
              return;
            stats.inc('ConnectionsDisabled');
            send({ type: 'disable', tgid, fd, gen });
          });
          options.onReady?.({
            ...info,
            transport: msg.transport,
            callStore: msg.callStore,
            dataAttach: msg.dataAttach,
            libbpfVersion: msg.libbpfVersion,
            programs: msg.programs,
          });
          break;
        case 'policy-applied':
          options.onPolicyApplied?.({
            pids: msg.pids,
            missing: msg.missing,
            cgroups: msg.cgroups,
            missingCgroups: msg.missingCgroups,
          });
          break;
        case 'error':
          subscriber.error(new TracerError(msg.code as ErrorCodeValue, msg.message));
          break;
        case 'drained':
          // After the batches still being handled.
          drained = true;
          if (batches.length === 0) subscriber.complete();
          break;
        case 'stopped':
          break;
      }
    });
    worker.on('error', (err) =>
      subscriber.error(new TracerError(ErrorCode.BpfLoad, `BPF loader failed: ${err.message}`)),
    );
    worker.on('exit', () => {
      if (!stopped)
        subscriber.error(new TracerError(ErrorCode.BpfLoad, 'BPF loader stopped unexpectedly'));
    });

    return () => {
      policySub?.unsubscribe();
      disableSub?.unsubscribe();
      stopSub?.unsubscribe();
      if (!stopped) send({ type: 'stop' });
      stopped = true;
      // The worker detaches, posts its last batch and closes its port; make sure it ends.
      const kill = setTimeout(() => void worker.terminate(), 2000);
      kill.unref();
      worker.once('exit', () => clearTimeout(kill));
    };
  });
}
