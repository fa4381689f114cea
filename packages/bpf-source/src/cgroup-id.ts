/** A cgroup selector's id, as the kernel's cgroup filter compares it. */
import { statSync } from 'node:fs';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

/**
 * The cgroup v2 id of a cgroup directory (its inode number), or the id itself (a bigint or a
 * string of digits). Throws a one-line TracerError when the directory doesn't exist.
 */
export function cgroupId(cgroup: string | bigint): bigint {
  if (typeof cgroup === 'bigint') return cgroup;
  if (/^\d+$/.test(cgroup)) return BigInt(cgroup);
  try {
    return statSync(cgroup, { bigint: true }).ino;
  } catch {
    throw new TracerError(ErrorCode.Config, `cgroup ${cgroup} not found`);
  }
}
