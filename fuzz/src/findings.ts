/**
 * Reproducers: one JSON file per distinct failure under `fuzz/findings/<target>/`, named by kind
 * and a hash of what failed (target, kind, rule, and but for oracle mismatches the failure's
 * first line without numbers),
 * holding everything `--replay` needs to run exactly that input again.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inputBytes, inputFromJson, type FuzzInput, type FuzzInputJson } from './input.js';
import type { FailureKind, TargetName } from './targets.js';

/** `fuzz/findings`, next to this package's dist. */
export const FINDINGS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'findings');

/** What a reproducer file holds. */
export interface FindingRecord {
  readonly target: TargetName;
  readonly seed: number;
  readonly index: number;
  readonly kind: FailureKind;
  readonly rule: string;
  /** The failure's text (stack, violated rule, oracle differences). */
  readonly failure: string;
  /** Mutation operators applied to the generated input; empty when unmutated. */
  readonly mutators: readonly string[];
  /** Exchanges (units) the generator made: the loss-counter rule needs it. */
  readonly units: number;
  readonly minimised: boolean;
  readonly input: FuzzInputJson;
  /** The oracle's expectation (oracle mismatches only: the input is then kept whole). */
  readonly expected?: unknown;
}

/** The stable signature of a failure, hashed into its file name. */
export function signature(target: string, kind: string, rule: string, failure: string): string {
  // A mismatch's text names the exchange and its values: the rule alone says what failed.
  const first = kind === 'mismatch' ? '' : failure.split('\n')[0]!.replace(/\d+/g, '#');
  return createHash('sha1')
    .update(`${target}\0${kind}\0${rule}\0${first}`)
    .digest('hex')
    .slice(0, 12);
}

/**
 * Writes a reproducer unless one for the same signature exists with an input no larger; returns
 * its path.
 */
export function writeFinding(record: FindingRecord, dir = FINDINGS_DIR): string {
  const file = join(
    dir,
    record.target,
    `${record.kind}-${signature(record.target, record.kind, record.rule, record.failure)}.json`,
  );
  if (existsSync(file)) {
    const old = readFinding(file);
    if (inputBytes(old.decoded) <= inputBytes(inputFromJson(record.input))) return file;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  return file;
}

/** A reproducer file, with its input decoded. */
export function readFinding(file: string): FindingRecord & { readonly decoded: FuzzInput } {
  const record = JSON.parse(readFileSync(file, 'utf8')) as FindingRecord;
  return {
    ...record,
    input: record.input,
    decoded: inputFromJson(record.input),
  } as FindingRecord & {
    readonly decoded: FuzzInput;
  };
}
