/** Handing memory malloc holds but no longer uses back to the kernel. */
import koffi from 'koffi';

let trim: ((pad: number) => number) | null | undefined;

/**
 * Returns the free memory of glibc's malloc arenas to the kernel (`malloc_trim(0)`, every
 * thread's arena). Start-up frees much more than it keeps (V8's compilers run on platform threads
 * and free their zones into those threads' arenas, which glibc keeps); called once the tracer is
 * set up, it keeps that memory out of the resident size the first traffic adds to. Returns
 * whether anything was released; false (and nothing done) without glibc.
 */
export function releaseFreedMemory(): boolean {
  if (trim === undefined) {
    try {
      trim = koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number;
    } catch {
      trim = null; // not glibc: its allocator keeps its own policy
    }
  }
  return trim ? trim(0) === 1 : false;
}
