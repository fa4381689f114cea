/**
 * What the fuzz worker and the main thread share: the slots of the progress array and the
 * messages the worker posts.
 */
import type { FindingRecord } from './findings.js';
import type { MemoryTrack } from './memory.js';
import type { RunCounts } from './runner.js';

/** Slots of the shared Int32Array. */
export const Slot = {
  /** The index of the input running now. */
  Index: 0,
  /** Inputs started (changes with every input, even when an index repeats). */
  Ticks: 1,
  /** A {@link State}. */
  State: 2,
} as const;

/** What the worker is doing. */
export const State = { Running: 0, Minimising: 1, Done: 2 } as const;

/** Messages from the worker. */
export type WorkerMessage =
  | { readonly type: 'finding'; readonly record: FindingRecord; readonly known: boolean }
  | {
      readonly type: 'progress';
      readonly counts: RunCounts;
      readonly index: number;
      readonly heap: MemoryTrack;
    }
  | {
      readonly type: 'done';
      readonly counts: RunCounts;
      readonly heap: MemoryTrack;
      /** Heap after a collection once warmed up, and at the end. */
      readonly warmHeap: number;
      readonly endHeap: number;
    };
