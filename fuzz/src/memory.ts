/**
 * Memory readings for a run: RSS (the process) and V8 heap (the isolate that reads it), with a
 * forced collection where the heap must be compared (the `gc` function is obtained at runtime,
 * no command-line flag needed).
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | undefined;

/** Runs a full garbage collection (once made available, every call). */
export function collectGarbage(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

/** Heap bytes in use now. */
export const heapUsed = (): number => getHeapStatistics().used_heap_size;

/** Resident set size of the process now. */
export const rss = (): number => process.memoryUsage.rss();

/** Start, end and peak of one reading over a run. */
export interface MemoryTrack {
  start: number;
  end: number;
  peak: number;
}

/** A track starting at `value`. */
export const track = (value: number): MemoryTrack => ({ start: value, end: value, peak: value });

/** Records a new reading. */
export function sample(t: MemoryTrack, value: number): void {
  t.end = value;
  if (value > t.peak) t.peak = value;
}

/** Bytes in MiB, one decimal. */
export const mib = (n: number): string => `${(n / (1024 * 1024)).toFixed(1)} MiB`;
