/**
 * Kernel timestamps are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns); spans need wall-clock
 * time. libuv's hrtime reads the same clock, so one paired sample converts between the two.
 */

/** Converts CLOCK_MONOTONIC nanoseconds to Unix-epoch nanoseconds. */
export interface MonotonicClock {
  /** Unix-epoch nanoseconds (as a bigint: exact) of a monotonic timestamp. */
  toEpochNs(monotonicNs: number): bigint;
}

/** Samples both clocks once, now, and converts by their difference. */
export function createMonotonicClock(): MonotonicClock {
  const mono = process.hrtime.bigint();
  const wall = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  const offset = wall - mono;
  return { toEpochNs: (ns) => BigInt(Math.round(ns)) + offset };
}
