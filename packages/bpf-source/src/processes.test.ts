import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newProcesses, parentPids, withDescendants } from './processes.js';

/** Adds process `pid` (its command name, its parent) to the fake /proc `dir`. */
function addProc(dir: string, pid: number | string, comm: string, ppid: number): void {
  mkdirSync(join(dir, String(pid)));
  writeFileSync(join(dir, String(pid), 'stat'), `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1\n`);
}

/** A /proc of `procs` (pid → [command name, parent pid]), plus entries that are no process. */
function fakeProc(procs: Record<number, [string, number]>): string {
  const dir = mkdtempSync(join(tmpdir(), 'proc-'));
  for (const [pid, [comm, ppid]] of Object.entries(procs)) addProc(dir, pid, comm, ppid);
  mkdirSync(join(dir, 'self'));
  mkdirSync(join(dir, 'sys'));
  return dir;
}

test('parentPids reads every process, names with spaces and parentheses included', () => {
  const proc = fakeProc({ 1: ['init', 0], 40: ['nginx: (master)', 1], 41: ['nginx: worker', 40] });
  assert.deepEqual(
    [...parentPids(proc)].sort((a, b) => a[0] - b[0]),
    [
      [1, 0],
      [40, 1],
      [41, 40],
    ],
  );
});

test('newProcesses gives the processes that appeared since, with their parents', () => {
  const before = fakeProc({ 1: ['init', 0], 40: ['srv', 1] });
  const known = parentPids(before);
  // Two forks since: a child and its own child.
  addProc(before, 52, 'srv', 40);
  addProc(before, 53, 'sh -c x', 52);
  assert.deepEqual(
    [...newProcesses(known, before)].sort((a, b) => a[0] - b[0]),
    [
      [52, 40],
      [53, 52],
    ],
  );
  assert.deepEqual(newProcesses(parentPids(before), before).size, 0);
});

test('withDescendants: a process and its living descendants', () => {
  const parents = new Map([
    [1, 0],
    [40, 1],
    [41, 40],
    [42, 41],
    [50, 1],
  ]);
  assert.deepEqual([...withDescendants([40], parents)].sort(), [40, 41, 42]);
});
