/**
 * Preflight checks that turn a missing kernel feature or privilege into one clear error line
 * before anything is loaded, and the tracefs mount that syscall tracepoints need.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import koffi from 'koffi';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

/** Where libbpf looks for tracepoint ids. */
const TRACEFS_DIRS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

/** Facts about this machine logged at start (the system-info record). */
export interface SystemInfo {
  /** The distribution's name (`PRETTY_NAME` of /etc/os-release). */
  readonly os: string;
  /** The kernel release (`uname -r`). */
  readonly kernel: string;
  /** Node's `process.arch`. */
  readonly arch: string;
  /** The BTF file used (the kernel's own, or one from `btfDir`). */
  readonly btfSource: string;
  /** Set when the BTF is a file, not the kernel's own: passed to libbpf for CO-RE. */
  readonly btfCustomPath?: string;
  /** Decided when the programs are loaded (see BpfSourceOptions.transport). */
  readonly transport: 'ringbuf' | 'perfbuf' | 'auto';
  /** Where the kernel finds a call's arguments at its exit (decided at load). */
  readonly callStore?: 'registers' | 'task-storage' | 'hash';
  /** Where the data programs attach (decided at load). */
  readonly dataAttach?: 'socket-layer' | 'syscalls';
  /** libbpf's version, once the programs are loaded. */
  libbpfVersion?: string;
}

function osRelease(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'unknown OS';
  } catch {
    return 'unknown OS';
  }
}

/** The effective capability set of this process, as a bigint bit mask. */
function effectiveCaps(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const hex = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0';
  return BigInt(`0x${hex}`);
}

/** Throws a TracerError unless the process may load BPF programs and attach tracepoints. */
export function checkPrivileges(): void {
  const caps = effectiveCaps();
  const has = (cap: number) => (caps & (1n << BigInt(cap))) !== 0n;
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return;
  throw new TracerError(
    ErrorCode.NoPrivilege,
    'eBPF needs root (or CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN): run the tracer with sudo',
  );
}

function osIds(): { id: string; version: string } {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?`, 'm').exec(text)?.[1] ?? '';
    return { id: get('ID'), version: get('VERSION_ID') };
  } catch {
    return { id: '', version: '' };
  }
}

/** Where the kernel's BTF came from. */
export interface BtfLocation {
  /** The BTF file. */
  readonly path: string;
  /** `kernel`: the kernel's own; `file`: a BTF file for this kernel from `btfDir`. */
  readonly source: 'kernel' | 'file';
}

/**
 * Finds BTF for the running kernel: its own (`btfPath`), else a file in `btfDir` laid out as
 * BTFHub does (`<dir>/<os id>/<os version>/<arch>/<kernel release>.btf`, or
 * `<dir>/<kernel release>.btf`); else throws one line naming the OS, the kernel and the path.
 */
export function findBtf(btfPath = '/sys/kernel/btf/vmlinux', btfDir?: string): BtfLocation {
  if (existsSync(btfPath)) return { path: btfPath, source: 'kernel' };
  const release = os.release();
  const { id, version } = osIds();
  const arch = { x64: 'x86_64', arm64: 'arm64' }[process.arch as string] ?? process.arch;
  const candidates = btfDir
    ? [`${btfDir}/${id}/${version}/${arch}/${release}.btf`, `${btfDir}/${release}.btf`]
    : [];
  for (const c of candidates) if (existsSync(c)) return { path: c, source: 'file' };
  throw new TracerError(
    ErrorCode.NoBtf,
    `no kernel BTF at ${btfPath} on ${osRelease()} (kernel ${release}): ` +
      (btfDir
        ? `put this kernel's BTF file at ${candidates[0]}`
        : 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y, or set btf_dir to a directory of BTF files (BTFHub layout)'),
  );
}

/** Makes sure tracefs is mounted (libbpf resolves tracepoint ids there), mounting it if needed. */
export function ensureTracefs(): string {
  for (const dir of TRACEFS_DIRS) if (existsSync(`${dir}/events`)) return dir;
  const target = TRACEFS_DIRS[0]!;
  const libc = koffi.load('libc.so.6');
  const mount = libc.func(
    'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, void *data)',
  );
  if (mount('nodev', target, 'tracefs', 0, null) !== 0 || !existsSync(`${target}/events`)) {
    throw new TracerError(
      ErrorCode.NoTracefs,
      `tracefs is not mounted and mounting it at ${target} failed (errno ${koffi.errno()}): mount -t tracefs nodev ${target}`,
    );
  }
  return target;
}

/** Runs every preflight check and returns the system-info record. */
export function preflight(btfPath?: string, btfDir?: string): SystemInfo {
  if (process.platform !== 'linux') {
    throw new TracerError(
      ErrorCode.BpfLoad,
      `eBPF capture needs Linux (this is ${process.platform})`,
    );
  }
  checkPrivileges();
  const btf = findBtf(btfPath, btfDir);
  ensureTracefs();
  return {
    os: osRelease(),
    kernel: os.release(),
    arch: process.arch,
    btfSource: btf.path,
    btfCustomPath: btf.source === 'file' ? btf.path : undefined,
    transport: 'auto',
  };
}
