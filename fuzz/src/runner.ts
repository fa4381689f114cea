/**
 * The fuzz loop: makes input `index` of a run from `(seed, index)` (generated, and usually
 * mutated), runs it on its target, minimises and records what fails. Used by the worker (under
 * the hang watchdog) and directly by the suite test (a fixed number of inputs).
 */
import { Rng } from './rng.js';
import { inputToJson, type FuzzInput } from './input.js';
import { mutate } from './mutators.js';
import type { Expected } from './expected.js';
import { minimise } from './minimise.js';
import { signature, type FindingRecord } from './findings.js';
import {
  TARGETS,
  knownDefects,
  type Failure,
  type FailureKind,
  type TargetName,
} from './targets.js';

/** One input of a run, with what the oracle expects when it is unmutated. */
export interface FuzzCase {
  readonly target: TargetName;
  readonly seed: number;
  readonly index: number;
  readonly input: FuzzInput;
  readonly expected: unknown;
  /** What the generator made, before mutation (the loss rule reads it). */
  readonly generated: unknown;
  readonly units: number;
  readonly mutators: readonly string[];
}

/** Share of inputs left unmutated (checked against the oracle). */
const UNMUTATED_EVERY = 4;

/** Input `index` of the run with `seed` on `target`: the same every time. */
export function makeCase(target: TargetName, seed: number, index: number): FuzzCase {
  const rng = new Rng(seed, index);
  const g = TARGETS[target].generate(rng);
  if (index % UNMUTATED_EVERY === 0)
    return {
      target,
      seed,
      index,
      input: g.input,
      expected: g.expected,
      generated: g.expected,
      units: g.units,
      mutators: [],
    };
  const m = mutate(rng, g.input);
  // A truncated input never carried the exchanges after the cut: none can be said to be lost.
  // Nor did one joined late (its first events never seen).
  const units = m.applied.includes('truncate') || m.applied.includes('join-late') ? 0 : g.units;
  // Cut at other places only: still exact. Bytes lost, nothing else changed: exact unless partial.
  const t = TARGETS[target];
  const resplit = m.applied.every((x) => x === 'split');
  const lossy =
    !resplit && m.applied.every((x) => x === 'split' || x === 'gap' || x === 'drop-event');
  const expected =
    resplit && t.resplitExact
      ? g.expected
      : lossy && t.lossAware
        ? { ...(g.expected as Expected), lossy: true }
        : undefined;
  return {
    target,
    seed,
    index,
    input: m.input,
    expected,
    generated: g.expected,
    units,
    mutators: m.applied,
  };
}

/** Counts of a run. */
export interface RunCounts {
  inputs: number;
  exceptions: number;
  hangs: number;
  violations: number;
  mismatches: number;
  /** Failures matching a {@link knownDefects} entry (not counted above). */
  known: number;
}

/** Empty counts. */
export const zeroCounts = (): RunCounts => ({
  inputs: 0,
  exceptions: 0,
  hangs: 0,
  violations: 0,
  mismatches: 0,
  known: 0,
});

/** Adds one failure kind to the counts. */
export function countFailure(counts: RunCounts, kind: FailureKind, known: boolean): void {
  if (known) counts.known++;
  else if (kind === 'exception') counts.exceptions++;
  else if (kind === 'hang') counts.hangs++;
  else if (kind === 'violation') counts.violations++;
  else counts.mismatches++;
}

/** Is this failure a known, listed defect? */
export const isKnown = (target: TargetName, f: Pick<Failure, 'rule'>) =>
  knownDefects[`${target}/${f.rule}`] !== undefined;

/** Runs one case: its failures, one per kind and rule (the first of each). */
export function runCase(c: FuzzCase): Failure[] {
  const failures = TARGETS[c.target].execute(c.input, c.expected, c.units, c.generated);
  const seen = new Set<string>();
  return failures.filter((f) => {
    const key = `${f.kind}/${f.rule}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The reproducer of a failing case, minimised (exceptions and violations) within `budgetMs`. */
export function recordFailure(c: FuzzCase, f: Failure, budgetMs: number): FindingRecord {
  // Not mismatches (the expectation is of the whole input), nor a plain lost exchange (removing
  // bytes removes the exchanges themselves: the smallest such input would be an empty one).
  const shrink =
    f.kind !== 'mismatch' && f.kind !== 'hang' && f.rule !== 'loss-counted' && budgetMs > 0;
  const input = shrink ? minimise(TARGETS[c.target], c.input, c.units, f, budgetMs).input : c.input;
  return {
    target: c.target,
    seed: c.seed,
    index: c.index,
    kind: f.kind,
    rule: f.rule,
    failure: f.detail,
    mutators: c.mutators,
    units: c.units,
    minimised: shrink,
    input: inputToJson(input),
    ...(c.expected !== undefined ? { expected: c.expected } : {}),
  };
}

/** Options of {@link runRange}. */
export interface RangeOptions {
  readonly target: TargetName;
  readonly seed: number;
  /** First index, and how many inputs (or until `until` ms since the epoch, whichever first). */
  readonly start: number;
  readonly count?: number;
  readonly until?: number;
  /** Time each failure may spend being minimised. */
  readonly minimiseMs: number;
  /** Called before each input (the worker publishes the index to the watchdog). */
  readonly onInput?: (index: number) => void;
  /** Called while a failure is minimised (`true`) and after (`false`). */
  readonly onMinimising?: (busy: boolean) => void;
  /** Each failure, with its reproducer. */
  readonly onFinding?: (record: FindingRecord, known: boolean) => void;
  /** Called every `everyInputs` inputs. */
  readonly onProgress?: (counts: RunCounts, index: number) => void;
  readonly everyInputs?: number;
}

/** Runs inputs `start, start + 1, …` and returns their counts. */
export function runRange(options: RangeOptions): RunCounts {
  const counts = zeroCounts();
  const every = options.everyInputs ?? 256;
  const end = options.count === undefined ? Infinity : options.start + options.count;
  // Each distinct failure is minimised once per run; its later occurrences are only counted.
  const minimised = new Set<string>();
  for (let index = options.start; index < end; index++) {
    if (options.until !== undefined && Date.now() >= options.until) break;
    options.onInput?.(index);
    const c = makeCase(options.target, options.seed, index);
    const failures = runCase(c);
    counts.inputs++;
    for (const f of failures) {
      const known = isKnown(options.target, f);
      countFailure(counts, f.kind, known);
      options.onMinimising?.(true);
      const sig = signature(c.target, f.kind, f.rule, f.detail);
      const record = recordFailure(c, f, minimised.has(sig) ? 0 : options.minimiseMs);
      minimised.add(sig);
      options.onMinimising?.(false);
      options.onFinding?.(record, known);
    }
    if (counts.inputs % every === 0) options.onProgress?.(counts, index);
  }
  return counts;
}
