/** /proc walking for the capture policy: a selected process's existing descendants. */
import { readdirSync, readFileSync } from 'node:fs';

/** Parent pid of every process, from /proc/<pid>/stat. */
export function parentPids(procFs = '/proc'): Map<number, number> {
  const parents = new Map<number, number>();
  for (const name of readdirSync(procFs)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`${procFs}/${name}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: fields resume after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(name), Number(fields[1]));
    } catch {
      // The process exited while we looked.
    }
  }
  return parents;
}

/**
 * The processes in /proc now that `known` (an earlier {@link parentPids}) lacks, with their parent
 * pids: only the directory is listed again, and only the newcomers' stat files are read.
 */
export function newProcesses(known: Map<number, number>, procFs = '/proc'): Map<number, number> {
  const born = new Map<number, number>();
  for (const name of readdirSync(procFs)) {
    if (!/^\d+$/.test(name) || known.has(Number(name))) continue;
    try {
      const stat = readFileSync(`${procFs}/${name}/stat`, 'utf8');
      born.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process exited while we looked.
    }
  }
  return born;
}

/** `pids` and all their living descendants. */
export function withDescendants(pids: Iterable<number>, parents: Map<number, number>): Set<number> {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) {
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const out = new Set<number>();
  const stack = [...pids];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (out.has(pid)) continue;
    out.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}
