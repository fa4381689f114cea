#!/usr/bin/env node
/**
 * `pnpm fuzz [target|all] [seconds] [--seed N] [--replay file] [--hang-ms N]`: fuzzes each
 * target for `seconds` (default 60) under the hang watchdog, prints the seed and per target the
 * inputs run, inputs/s, failures by kind and memory; exits 1 when anything failed. `--replay`
 * runs one reproducer again and prints what it does now.
 */
import { Rng } from './rng.js';
import { readFinding } from './findings.js';
import { TARGETS, TARGET_NAMES, type TargetName } from './targets.js';
import { flatHeap, superviseTarget } from './supervise.js';
import { mib } from './memory.js';
import { isKnown } from './runner.js';

function usage(message?: string): never {
  if (message) console.error(message);
  console.error(
    `usage: fuzz [${TARGET_NAMES.join('|')}|all] [seconds] [--seed N] [--hang-ms N] [--minimise-ms N] [--simulate-hang INDEX]\n       fuzz --replay file.json`,
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const flags = new Map<string, string>();
const positional: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a.startsWith('--')) {
    const v = args[++i];
    if (v === undefined) usage(`${a} needs a value`);
    flags.set(a.slice(2), v);
  } else positional.push(a);
}

const replay = flags.get('replay');
if (replay) {
  const r = readFinding(replay);
  console.log(
    `replaying ${replay}: target ${r.target}, seed ${r.seed}, index ${r.index}, ${r.kind} (${r.rule})`,
  );
  // What the generator made for this case, made again from its seed and index.
  const generated = TARGETS[r.target].generate(new Rng(r.seed, r.index)).expected;
  const failures = TARGETS[r.target].execute(r.decoded, r.expected, r.units, generated);
  if (failures.length === 0) console.log('no failure: the input passes now');
  for (const f of failures)
    console.log(
      `${f.kind} ${f.rule}${isKnown(r.target, f) ? ' (known defect)' : ''}\n  ${f.detail.split('\n').join('\n  ')}`,
    );
  process.exit(failures.length ? 1 : 0);
}

const which = positional[0] ?? 'all';
if (which !== 'all' && !(TARGET_NAMES as readonly string[]).includes(which))
  usage(`unknown target ${which}`);
const seconds = Number(positional[1] ?? 60);
if (!(seconds > 0)) usage('seconds must be a positive number');
const seed = flags.has('seed') ? Number(flags.get('seed')) >>> 0 : Rng.randomSeed();
const hangMs = Number(flags.get('hang-ms') ?? 5000);
const minimiseMs = Number(flags.get('minimise-ms') ?? 10_000);
const targets: TargetName[] = which === 'all' ? [...TARGET_NAMES] : [which as TargetName];

console.log(
  `seed ${seed} (--seed ${seed} repeats this run), ${seconds} s per target, hang limit ${hangMs} ms`,
);
let failed = false;
for (const target of targets) {
  const r = await superviseTarget({
    target,
    seed,
    seconds,
    hangMs,
    minimiseMs,
    ...(flags.has('simulate-hang') ? { simulateHangAt: Number(flags.get('simulate-hang')) } : {}),
    onFinding: (rec, file, known) =>
      console.log(
        `  ${known ? 'known defect' : rec.kind} at index ${rec.index}: ${rec.failure.split('\n')[0]} -> ${file}`,
      ),
  });
  const c = r.counts;
  const flat = flatHeap(r);
  const bad = c.exceptions + c.hangs + c.violations + c.mismatches;
  if (bad > 0 || !flat) failed = true;
  console.log(
    [
      `${target}: ${c.inputs} inputs in ${r.seconds.toFixed(1)} s (${Math.round(c.inputs / r.seconds)}/s)`,
      `  exceptions ${c.exceptions}, hangs ${c.hangs}, violations ${c.violations}, oracle mismatches ${c.mismatches}${c.known ? `, known defects ${c.known}` : ''}`,
      `  rss start ${mib(r.rss.start)}, end ${mib(r.rss.end)}, peak ${mib(r.rss.peak)}`,
      `  heap start ${mib(r.heap.start)}, end ${mib(r.heap.end)}, peak ${mib(r.heap.peak)}; after gc: warmed up ${mib(r.warmHeap)}, end ${mib(r.endHeap)} (${flat ? 'flat' : 'GROWING'})`,
    ].join('\n'),
  );
}
process.exit(failed ? 1 : 0);
