/**
 * The fuzz loop in a worker thread, under the main thread's hang watchdog: before each input it
 * publishes the input's index in shared memory (Atomics), so the main thread sees which input is
 * running and for how long. Failures are posted as reproducers; counts and heap readings are
 * posted as it goes and when it ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runRange } from './runner.js';
import { collectGarbage, heapUsed, sample, track } from './memory.js';
import type { TargetName } from './targets.js';
import { Slot, State, type WorkerMessage } from './worker-protocol.js';

/** What the main thread passes in. */
export interface WorkerJob {
  readonly target: TargetName;
  readonly seed: number;
  readonly start: number;
  readonly until: number;
  readonly count?: number;
  readonly minimiseMs: number;
  readonly progress: SharedArrayBuffer;
  /** Inputs run before the warm-up heap reading. */
  readonly warmupInputs: number;
  /** Spin forever at this index (to check the watchdog itself). */
  readonly simulateHangAt?: number;
}

const job = workerData as WorkerJob;
const shared = new Int32Array(job.progress);
const post = (m: WorkerMessage) => parentPort!.postMessage(m);

const heap = track(heapUsed());
let warmHeap: number | undefined;
const counts = runRange({
  target: job.target,
  seed: job.seed,
  start: job.start,
  until: job.until,
  ...(job.count !== undefined ? { count: job.count } : {}),
  minimiseMs: job.minimiseMs,
  everyInputs: 64,
  onInput: (index) => {
    Atomics.store(shared, Slot.Index, index);
    Atomics.add(shared, Slot.Ticks, 1);
    if (index === job.simulateHangAt) for (;;);
  },
  onMinimising: (busy) =>
    Atomics.store(shared, Slot.State, busy ? State.Minimising : State.Running),
  onFinding: (record, known) => post({ type: 'finding', record, known }),
  onProgress: (c, index) => {
    sample(heap, heapUsed());
    if (warmHeap === undefined && c.inputs >= job.warmupInputs) {
      collectGarbage();
      warmHeap = heapUsed();
    }
    post({ type: 'progress', counts: { ...c }, index, heap: { ...heap } });
  },
});
collectGarbage();
const endHeap = heapUsed();
sample(heap, endHeap);
Atomics.store(shared, Slot.State, State.Done);
post({ type: 'done', counts, heap, warmHeap: warmHeap ?? heap.start, endHeap });
