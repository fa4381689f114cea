/** Memory-mapping BPF maps (ring buffers, global data sections) through libc, via koffi. */
import koffi from 'koffi';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FIXED = 0x10;
const SC_PAGESIZE = 30;

interface Libc {
  mmap(addr: unknown, len: number, prot: number, flags: number, fd: number, off: number): unknown;
  munmap(addr: unknown, len: number): number;
  pageSize: number;
}

let libc: Libc | undefined;
function load(): Libc {
  if (!libc) {
    const lib = koffi.load('libc.so.6');
    const mmap = lib.func(
      'void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)',
    );
    const munmap = lib.func('int munmap(void *addr, size_t len)');
    const sysconf = lib.func('long sysconf(int name)');
    libc = {
      mmap: (...a) => mmap(...a),
      munmap: (p, n) => munmap(p, n) as number,
      pageSize: Number(sysconf(SC_PAGESIZE)),
    };
  }
  return libc;
}

/** The system page size. */
export function pageSize(): number {
  return load().pageSize;
}

/** A mapping of `length` bytes of a map fd at `offset`, and its memory as an ArrayBuffer. */
export interface Mapping {
  readonly buffer: ArrayBuffer;
  unmap(): void;
}

function mmapOrThrow(
  at: unknown,
  fd: number,
  length: number,
  offset: number,
  writable: boolean,
): unknown {
  const prot = PROT_READ | (writable ? PROT_WRITE : 0);
  const ptr = load().mmap(at, length, prot, MAP_SHARED | (at ? MAP_FIXED : 0), fd, offset);
  if (!ptr || koffi.address(ptr) === 0xffffffffffffffffn) {
    throw new TracerError(ErrorCode.BpfLoad, `cannot map BPF map memory (errno ${koffi.errno()})`);
  }
  return ptr;
}

/** Maps `length` bytes of `fd` from `offset` (shared; writable if asked). */
export function mapFd(fd: number, length: number, offset: number, writable: boolean): Mapping {
  const c = load();
  const ptr = mmapOrThrow(null, fd, length, offset, writable);
  let mapped = true;
  return {
    buffer: koffi.view(ptr, length),
    unmap() {
      if (mapped) c.munmap(ptr, length);
      mapped = false;
    },
  };
}

/**
 * Maps a global data section's map (`fd`, `length` bytes) over the private copy libbpf keeps of
 * the section at `at` (`bpf_map__initial_value`), as libbpf's skeletons do: the copy's pages go
 * back to the kernel (for a 4 MiB section, 4 MiB of the process's memory), and what libbpf holds
 * at that address is the map itself from then on. libbpf unmaps it at `bpf_object__close`, so
 * `unmap()` leaves it alone.
 */
export function mapFdOver(at: unknown, fd: number, length: number, writable: boolean): Mapping {
  const ptr = mmapOrThrow(at, fd, length, 0, writable);
  return { buffer: koffi.view(ptr, length), unmap() {} };
}
