/**
 * The fuzzer in the unit suite: every target for a fixed number of inputs (never a time
 * budget), with a fixed seed and a random one (printed in the test name: rerun it with
 * `pnpm fuzz <target> 60 --seed N`). No exception, violation or oracle mismatch may appear,
 * beyond the listed known defects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from './rng.js';
import { runRange, makeCase } from './runner.js';
import { TARGET_NAMES } from './targets.js';
import type { FindingRecord } from './findings.js';
import { huffmanEncode } from './huffman-code.js';
import { huffmanDecode } from '@traceable-ebpf/parsers/internals';

const INPUTS = 1000;
const FIXED_SEED = 20261202;
const randomSeed = Number(process.env.FUZZ_SEED ?? Rng.randomSeed()) >>> 0;

for (const seed of [FIXED_SEED, randomSeed])
  for (const target of TARGET_NAMES)
    test(`fuzz ${target}: ${INPUTS} inputs, seed ${seed}`, () => {
      const found: FindingRecord[] = [];
      const counts = runRange({
        target,
        seed,
        start: 0,
        count: INPUTS,
        minimiseMs: 0,
        onFinding: (r, known) => {
          if (!known) found.push(r);
        },
      });
      assert.equal(counts.inputs, INPUTS);
      const summary = found.map(
        (r) => `${r.kind} ${r.rule} at index ${r.index}: ${r.failure.split('\n')[0]}`,
      );
      assert.deepEqual(
        {
          exceptions: counts.exceptions,
          hangs: counts.hangs,
          violations: counts.violations,
          mismatches: counts.mismatches,
        },
        { exceptions: 0, hangs: 0, violations: 0, mismatches: 0 },
        `reproduce with: pnpm fuzz ${target} 60 --seed ${seed}\n${summary.join('\n')}`,
      );
    });

test('input i of a run depends on (seed, i) alone', () => {
  for (const target of TARGET_NAMES) {
    const a = makeCase(target, 99, 17);
    const b = makeCase(target, 99, 17);
    assert.deepEqual(a, b);
    assert.notDeepEqual(makeCase(target, 99, 18).input, a.input);
  }
});

test('the Huffman encoder round-trips through the parsers decoder', () => {
  const rng = new Rng(1, 2);
  for (let i = 0; i < 200; i++) {
    let s = '';
    const n = rng.small(60);
    for (let k = 0; k < n; k++)
      s += String.fromCharCode(rng.chance(0.2) ? rng.int(256) : 0x20 + rng.int(0x5f));
    assert.equal(huffmanDecode(huffmanEncode(s)), s);
  }
  // RFC 7541 C.4.1: "www.example.com".
  assert.equal(
    Buffer.from(huffmanEncode('www.example.com')).toString('hex'),
    'f1e3c2e5f23a6ba0ab90f4ff',
  );
});
