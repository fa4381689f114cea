/** Messages between bpfSource (main thread) and its loader worker. */

import type { CaptureMode } from '@traceable-ebpf/core';

export type { CaptureMode };

/** One selected process. */
export interface ProcessSelector {
  /** Its pid (thread group id); its children, existing and future, are selected too. */
  readonly pid: number;
  /** Which of its connections are captured. */
  readonly mode: CaptureMode;
}

/** Processes selected by cgroup (v2): every process in it, its children included. */
export interface CgroupSelector {
  /** The cgroup's directory under /sys/fs/cgroup, or its id (the directory's inode number). */
  readonly cgroup: string | bigint;
  /** Which of its processes' connections are captured. */
  readonly mode: CaptureMode;
}

/**
 * The capture policy, whole: each value replaces the previous one. Selected processes' children
 * are added automatically; the tracer's own process is never captured.
 */
export interface CapturePolicy {
  /** Processes selected by pid. */
  readonly processes: readonly ProcessSelector[];
  /** Processes selected by cgroup v2 directory. */
  readonly cgroups?: readonly CgroupSelector[];
  /** Capture every process (but the tracer) in this mode. */
  readonly all?: CaptureMode;
}

/** How events travel from the kernel: a ring buffer (5.8+) or per-CPU perf buffers. */
export type EventTransport = 'ringbuf' | 'perfbuf';

/**
 * Where the kernel finds a call's arguments at sys_exit: read then from the registers the thread
 * entered with (`registers`, 5.15+: no program at sys_enter for the data calls), saved at
 * sys_enter in the thread's task storage (5.11+) or in a hash keyed by thread. The perf buffer
 * build always uses the hash.
 */
export type CallStore = 'registers' | 'task-storage' | 'hash';

/**
 * Where the data programs attach: `socket-layer` (the BTF tracepoints sock:sock_send_length and
 * sock:sock_recv_length, Linux 6.3+, with arguments from registers) or `syscalls` (the exits of
 * the data syscalls). sendmmsg/recvmmsg, accept, connect and close keep syscall tracepoints.
 */
export type DataAttach = 'socket-layer' | 'syscalls';

/**
 * Int32 slot of {@link WorkerConfig.credit}: bytes of batches the main thread has finished (it
 * adds; the count wraps at 2^32, and only differences are read).
 */
export const CREDIT_HANDLED = 0;
/** Int32 slot of {@link WorkerConfig.credit}: 1 while the worker waits for credit (it sets). */
export const CREDIT_PAUSED = 1;
/**
 * Int32 slot of {@link WorkerConfig.credit}: bytes of batches the worker has posted (it stores
 * its count, wrapping like {@link CREDIT_HANDLED}), so the main thread can see what is in flight.
 */
export const CREDIT_POSTED = 2;
/** Int32 slot of {@link WorkerConfig.credit}: times the worker paused for credit (it adds). */
export const CREDIT_PAUSES = 3;
/** Int32 slots of {@link WorkerConfig.credit}. */
export const CREDIT_SLOTS = 4;

/** Start-up parameters of the worker. */
export interface WorkerConfig {
  /** The compiled objects: the ring buffer build and the perf buffer build. */
  readonly objects: Readonly<Record<EventTransport, string>>;
  /** `auto`: the ring buffer when the kernel has it, else perf buffers. */
  readonly transport: 'auto' | EventTransport;
  /** `auto`: task storage when the kernel has it. */
  readonly callStore: 'auto' | CallStore;
  /** `auto`: the socket layer when the kernel has its tracepoints and registers hold the calls. */
  readonly dataAttach: 'auto' | DataAttach;
  readonly ringBufferBytes: number;
  readonly countersIntervalMs: number;
  /** Ring buffer: drain every this many ms, woken early only past a watermark; 0: per record. */
  readonly drainIntervalMs: number;
  /** Wait after a wakeup before draining (records meanwhile cost no wakeup); 0: drain at once. */
  readonly coalesceMs: number;
  /** Bytes of batches handed over and not yet processed; past it the ring buffer is left to fill. */
  readonly maxBytesInFlight: number;
  /**
   * Flow control without a message per batch ({@link CREDIT_HANDLED}, {@link CREDIT_PAUSED},
   * {@link CREDIT_POSTED}): the main thread counts the bytes of the batches it finished here; it
   * posts `ack` only to wake a worker that paused.
   */
  readonly credit: SharedArrayBuffer;
  /** glibc's mmap threshold for the whole process, in bytes; 0: malloc left as it is. */
  readonly mallocMmapThresholdBytes: number;
  /** Bytes copied per syscall (a multiple of 16 KiB, at most 128 KiB). */
  readonly maxCaptureBytes: number;
  /** BTF file for CO-RE when the kernel has none of its own. */
  readonly btfCustomPath?: string;
  /** Also write every batch to this recording file. */
  readonly recordPath?: string;
  /** The clock offset (epoch − monotonic ns) the recording states, as a decimal string. */
  readonly epochOffsetNs: string;
}

/** Main → worker. */
export type ToWorker =
  | { type: 'policy'; policy: CapturePolicy }
  /** The main thread finished batches while the worker was paused: look at the credit again. */
  | { type: 'ack' }
  /** Stop copying this connection's bytes (a protocol nobody parses). */
  | { type: 'disable'; tgid: number; fd: number; gen: number }
  | { type: 'stop' };

/** Worker → main. */
export type FromWorker =
  | {
      type: 'ready';
      libbpfVersion: string;
      programs: string[];
      transport: EventTransport;
      callStore: CallStore;
      dataAttach: DataAttach;
    }
  | { type: 'batch'; buffer: ArrayBuffer; length: number; records: number }
  /**
   * Kernel counters (enum te_counter), probe stats ([syscall * 2] entries, [+1] exits), and the
   * most bytes the worker found waiting in the ring buffer so far.
   */
  | { type: 'counters'; values: number[]; probes: number[]; waitingMax: number }
  | {
      type: 'policy-applied';
      pids: number[];
      missing: number[];
      cgroups: string[];
      missingCgroups: string[];
    }
  | { type: 'error'; code: string; message: string }
  /** Capture has stopped and every captured event was posted; detaching goes on. */
  | { type: 'drained' }
  | { type: 'stopped' };
