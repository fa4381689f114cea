/**
 * The hang watchdog: runs one target's fuzz loop in a worker thread and watches the input index
 * the worker publishes in shared memory. An input running longer than the limit is a hang: the
 * worker is terminated, the hang recorded with (target, seed, index) and its reproducer written,
 * and a new worker goes on from the next index.
 */
import { Worker } from 'node:worker_threads';
import { writeFinding, FINDINGS_DIR, type FindingRecord } from './findings.js';
import { inputToJson } from './input.js';
import { makeCase, countFailure, zeroCounts, type RunCounts } from './runner.js';
import { rss, sample, track, type MemoryTrack } from './memory.js';
import type { TargetName } from './targets.js';
import { Slot, State, type WorkerMessage } from './worker-protocol.js';
import type { WorkerJob } from './worker.js';

/** Options of {@link superviseTarget}. */
export interface SuperviseOptions {
  readonly target: TargetName;
  readonly seed: number;
  /** Run for this long (or `count` inputs, whichever first). */
  readonly seconds: number;
  readonly count?: number;
  /** An input running longer than this is a hang. Default 5000 ms. */
  readonly hangMs?: number;
  /** Time spent minimising each failure. Default 10 000 ms. */
  readonly minimiseMs?: number;
  readonly findingsDir?: string;
  /** Make input `n` spin forever (checks the watchdog). */
  readonly simulateHangAt?: number;
  /** Each reproducer written (known defects included, flagged). */
  readonly onFinding?: (record: FindingRecord, file: string, known: boolean) => void;
}

/** What one target's run gave. */
export interface TargetReport {
  readonly target: TargetName;
  readonly seed: number;
  readonly seconds: number;
  readonly counts: RunCounts;
  readonly rss: MemoryTrack;
  readonly heap: MemoryTrack;
  /** Heap after a collection once warmed up, and after one at the end (the last worker's). */
  readonly warmHeap: number;
  readonly endHeap: number;
  readonly files: string[];
}

/** Heap growth from warm-up to the end that still counts as flat. */
export const flatHeap = (r: Pick<TargetReport, 'warmHeap' | 'endHeap'>): boolean =>
  r.endHeap - r.warmHeap <= Math.max(16 * 1024 * 1024, r.warmHeap * 0.25);

/** Runs `options.target` under the watchdog. */
export async function superviseTarget(options: SuperviseOptions): Promise<TargetReport> {
  const hangMs = options.hangMs ?? 5000;
  const minimiseMs = options.minimiseMs ?? 10_000;
  const dir = options.findingsDir ?? FINDINGS_DIR;
  const began = Date.now();
  const until = began + options.seconds * 1000;
  const counts = zeroCounts();
  const rssTrack = track(rss());
  let heap: MemoryTrack | undefined;
  let warmHeap = 0;
  let endHeap = 0;
  const files: string[] = [];
  const record = (r: FindingRecord, known: boolean) => {
    countFailure(counts, r.kind, known);
    const file = writeFinding(r, dir);
    if (!files.includes(file)) files.push(file);
    options.onFinding?.(r, file, known);
  };

  let start = 0;
  while (Date.now() < until && (options.count === undefined || counts.inputs < options.count)) {
    const progress = new SharedArrayBuffer(4 * 4);
    const shared = new Int32Array(progress);
    Atomics.store(shared, Slot.Index, start);
    const job: WorkerJob = {
      target: options.target,
      seed: options.seed,
      start,
      until,
      ...(options.count !== undefined ? { count: options.count - counts.inputs } : {}),
      minimiseMs,
      progress,
      warmupInputs: 512,
      ...(options.simulateHangAt !== undefined ? { simulateHangAt: options.simulateHangAt } : {}),
    };
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: job });
    const outcome = await new Promise<{ hung?: number }>((resolve, reject) => {
      let ticks = -1;
      let since = Date.now();
      const timer = setInterval(() => {
        sample(rssTrack, rss());
        const t = Atomics.load(shared, Slot.Ticks);
        const now = Date.now();
        if (t !== ticks) {
          ticks = t;
          since = now;
          return;
        }
        const state = Atomics.load(shared, Slot.State);
        const limit = state === State.Minimising ? minimiseMs + 2 * hangMs : hangMs;
        if (state !== State.Done && ticks > 0 && now - since > limit) {
          clearInterval(timer);
          const index = Atomics.load(shared, Slot.Index);
          counts.inputs += ticks; // the hung input included
          void worker.terminate().then(() => resolve({ hung: index }));
        }
      }, 100);
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'finding') record(m.record, m.known);
        else if (m.type === 'progress') heap = mergeHeap(heap, m.heap);
        else {
          clearInterval(timer);
          counts.inputs += m.counts.inputs;
          heap = mergeHeap(heap, m.heap);
          warmHeap = m.warmHeap;
          endHeap = m.endHeap;
          resolve({});
        }
      });
      worker.on('error', (err) => {
        clearInterval(timer);
        reject(err);
      });
    });
    if (outcome.hung === undefined) break;
    const c = makeCase(options.target, options.seed, outcome.hung);
    record(
      {
        target: c.target,
        seed: c.seed,
        index: c.index,
        kind: 'hang',
        rule: 'hang',
        failure: `input ${c.index} ran longer than ${hangMs} ms`,
        mutators: c.mutators,
        units: c.units,
        minimised: false,
        input: inputToJson(c.input),
        ...(c.expected !== undefined ? { expected: c.expected } : {}),
      },
      false,
    );
    start = outcome.hung + 1;
  }
  sample(rssTrack, rss());
  return {
    target: options.target,
    seed: options.seed,
    seconds: (Date.now() - began) / 1000,
    counts,
    rss: rssTrack,
    heap: heap ?? track(0),
    warmHeap,
    endHeap,
    files,
  };
}

function mergeHeap(a: MemoryTrack | undefined, b: MemoryTrack): MemoryTrack {
  if (!a) return { ...b };
  return { start: a.start, end: b.end, peak: Math.max(a.peak, b.peak) };
}
