/**
 * Kernel timestamps are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns); spans need wall-clock
 * time. libuv's hrtime reads the same clock, so one paired sample converts between the two.
 */

/** Converts CLOCK_MONOTONIC nanoseconds to Unix-epoch nanoseconds. */
export interface MonotonicClock {
  /** Unix-epoch ns minus monotonic ns. */
  readonly offsetNs: bigint;
  /** Unix-epoch nanoseconds (as a bigint: exact) of a monotonic timestamp. */
  toEpochNs(monotonicNs: number): bigint;
}

/** Unix-epoch ns minus CLOCK_MONOTONIC ns, sampled now. */
export function sampleEpochOffsetNs(): bigint {
  const mono = process.hrtime.bigint();
  const wall = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  return wall - mono;
}

/** Samples both clocks once, now, and converts by their difference. */
export function createMonotonicClock(): MonotonicClock {
  return clockFromOffset(sampleEpochOffsetNs());
}

/** A clock with a known offset (epoch ns − monotonic ns), e.g. a recording's. */
export function clockFromOffset(offsetNs: bigint): MonotonicClock {
  return { offsetNs, toEpochNs: (ns) => BigInt(Math.round(ns)) + offsetNs };
}
