/** Messages between bpfSource (main thread) and its loader worker. */

/** Capture mode of a process: which of its connections are reported. */
export type CaptureMode = 'ingress' | 'egress' | 'ingress_and_egress';

/** One selected process. */
export interface ProcessSelector {
  readonly pid: number;
  readonly mode: CaptureMode;
}

/** The capture policy: the full set of selected processes (children are added automatically). */
export interface CapturePolicy {
  readonly processes: readonly ProcessSelector[];
}

/** Start-up parameters of the worker. */
export interface WorkerConfig {
  readonly objectPath: string;
  readonly ringBufferBytes: number;
  readonly countersIntervalMs: number;
  /** Batches handed over and not yet processed; past it the ring buffer is left to fill. */
  readonly maxBatchesInFlight: number;
}

/** Main → worker. */
export type ToWorker =
  | { type: 'policy'; policy: CapturePolicy }
  /** The main thread finished one batch. */
  | { type: 'ack' }
  | { type: 'stop' };

/** Worker → main. */
export type FromWorker =
  | { type: 'ready'; libbpfVersion: string; programs: string[] }
  | { type: 'batch'; buffer: ArrayBuffer; length: number; records: number }
  | { type: 'counters'; values: number[] }
  | { type: 'policy-applied'; pids: number[]; missing: number[] }
  | { type: 'error'; code: string; message: string }
  /** Capture has stopped and every captured event was posted; detaching goes on. */
  | { type: 'drained' }
  | { type: 'stopped' };
