// What /proc says of a process: CPU per thread group, resident memory.
import { readFileSync, readdirSync } from 'node:fs';

/**
 * CPU seconds (user + system) per thread group of process `pid`: its main thread, the
 * `bpf-source` worker (it names its thread), and every other thread (V8's GC and compiler
 * threads, libuv's pool). With BENCH_THREADS set, also each thread as `comm:<name>#<tid>`.
 */
export function threadCpuSeconds(pid) {
  const out = { main: 0, worker: 0, other: 0 };
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const secs = (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ ticks
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out[tid === String(pid) ? 'main' : comm === 'bpf-source' ? 'worker' : 'other'] += secs;
      if (process.env.BENCH_THREADS) out[`comm:${comm}#${tid}`] = secs;
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

/** CPU seconds (user + system, all threads) process `pid` has used, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in USER_HZ ticks
}

/** VmRSS and VmHWM of process `pid`, in MiB. */
export function memoryMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}
