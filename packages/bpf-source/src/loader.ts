/**
 * The loaded BPF object, in the worker: open → load (signals blocked, retried on EAGAIN) →
 * attach, and the maps user space writes: the run-time config (.bss), the capture policy, the
 * per-connection disable map; and the counters it reads.
 */
import { existsSync } from 'node:fs';
import { ErrorCode, TracerError, type ErrorCodeValue } from '@traceable-ebpf/core';
import { loadLibbpf, type Libbpf } from './libbpf.js';
import { cgroupId } from './cgroup-id.js';
import {
  BSS_SIZE,
  CONFIG_OFFSETS,
  CONN_KEY_OFFSETS,
  Counter,
  Mode,
  Syscall,
  TE_MODE_INHERITED,
  TE_PID_MODES,
} from './generated/layout.js';
import { mapFd, mapFdOver, type Mapping } from './mmap.js';
import type {
  CallStore,
  CaptureMode,
  CapturePolicy,
  DataAttach,
  EventTransport,
  WorkerConfig,
} from './protocol.js';
import { newProcesses, parentPids, withDescendants } from './processes.js';

const EPERM = 1;
const EAGAIN = 11;
const LOAD_ATTEMPTS = 5;
const BPF_ANY = 0;
const BPF_MAP_TYPE_RINGBUF = 27;
const BPF_MAP_TYPE_TASK_STORAGE = 29;
const BPF_PROG_TYPE_TRACEPOINT = 5;
const BPF_FUNC_TASK_STORAGE_GET = 156;
const BPF_FUNC_GET_CURRENT_TASK_BTF = 158;
const BPF_FUNC_TASK_PT_REGS = 175;
const BTF_KIND_TYPEDEF = 8;

/** The tracepoints the socket-layer data programs attach to (see {@link DataAttach}). */
const SOCKET_LAYER_TRACEPOINTS = ['sock_send_length', 'sock_recv_length'];
/** The socket-layer data programs. */
const SOCKET_LAYER_PROGRAMS = new Set(['socket_send', 'socket_recv']);
/** The syscall exits they take over (mmsg, accept, connect and close stay). */
const SOCKET_LAYER_REPLACES = new Set(
  ['read', 'write', 'readv', 'writev', 'recvfrom', 'sendto', 'recvmsg', 'sendmsg', 'sendfile'].map(
    (s) => `exit_${s}`,
  ),
);

/** Capture mode → enum te_mode bits. */
export const MODE_BITS: Record<CaptureMode, number> = {
  ingress: Mode.TE_MODE_INGRESS,
  egress: Mode.TE_MODE_EGRESS,
  ingress_and_egress: Mode.TE_MODE_INGRESS | Mode.TE_MODE_EGRESS,
};

function fail(code: ErrorCodeValue, what: string, lib: Libbpf): never {
  const err = lib.errno();
  if (err === EPERM) {
    throw new TracerError(
      ErrorCode.NoPrivilege,
      `${what}: operation not permitted (run as root, or with CAP_BPF + CAP_PERFMON)`,
    );
  }
  const reason = lib
    .recentLog()
    .filter((l) => /error|fail|invalid|unknown|not/i.test(l))
    .slice(-3)
    .join(' | ');
  throw new TracerError(code, `${what} (errno ${err})${reason ? `: ${reason}` : ''}`);
}

/** A loaded and attached tracer object. */
export class LoadedObject {
  readonly lib: Libbpf;
  readonly programs: string[] = [];
  readonly ncpus: number;
  private readonly obj: unknown;
  private readonly links: unknown[] = [];
  private readonly fds: Record<
    'events' | 'cgroups' | 'disabled' | 'counters' | 'probes' | 'bss',
    number
  >;
  /** te_pid_modes, mapped: one byte per tgid. */
  private readonly pidModesMap: Mapping;
  private readonly pidModes: Uint8Array;
  private appliedPids = new Set<number>();
  private appliedCgroups = new Set<bigint>();
  private settings = { captureAllMode: 0, cgroupsEnabled: 0, disabledAny: 0 };

  /** The transport in use. */
  readonly transport: EventTransport;
  /** Where calls wait from sys_enter to sys_exit: the thread's task storage, or a hash. */
  readonly callStore: CallStore;
  /** Where the data programs attach (see {@link DataAttach}). */
  readonly dataAttach: DataAttach;

  constructor(private readonly config: WorkerConfig) {
    const lib = (this.lib = loadLibbpf());
    this.transport =
      config.transport === 'auto'
        ? lib.probeMapType(BPF_MAP_TYPE_RINGBUF) === 1
          ? 'ringbuf'
          : 'perfbuf'
        : config.transport;
    const objectPath = config.objects[this.transport];
    if (!existsSync(objectPath)) {
      throw new TracerError(
        ErrorCode.NoBpfObject,
        `BPF object ${objectPath} not found: run pnpm build`,
      );
    }
    this.ncpus = lib.numPossibleCpus();
    this.callStore =
      this.transport === 'perfbuf'
        ? 'hash'
        : config.callStore !== 'auto'
          ? config.callStore
          : lib.probeMapType(BPF_MAP_TYPE_TASK_STORAGE) === 1 &&
              lib.probeHelper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_TASK_STORAGE_GET) === 1 &&
              lib.probeHelper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_GET_CURRENT_TASK_BTF) === 1
            ? lib.probeHelper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_TASK_PT_REGS) === 1
              ? 'registers'
              : 'task-storage'
            : 'hash';
    // BTF tracepoints attach against the kernel's own BTF (a BTFHub file can't stand in).
    const socketLayer =
      config.dataAttach !== 'syscalls' &&
      this.transport === 'ringbuf' &&
      this.callStore === 'registers' &&
      !config.btfCustomPath &&
      lib.btfHasTypes(
        SOCKET_LAYER_TRACEPOINTS.map((t) => `btf_trace_${t}`),
        BTF_KIND_TYPEDEF,
      );
    if (config.dataAttach === 'socket-layer' && !socketLayer)
      throw new TracerError(
        ErrorCode.BpfLoad,
        `data at the socket layer needs the ring buffer, bpf_task_pt_regs (5.15+) and the tracepoints ${SOCKET_LAYER_TRACEPOINTS.join(', ')} (6.3+) in the kernel's own BTF`,
      );
    this.dataAttach =
      config.dataAttach === 'auto'
        ? socketLayer
          ? 'socket-layer'
          : 'syscalls'
        : config.dataAttach;
    // The verifier gives up with EAGAIN when a signal is pending; loading blocks signals, and a
    // fresh object is tried a few times before the failure is reported.
    let obj: unknown;
    for (let attempt = 1; ; attempt++) {
      const o = lib.objectOpenFile(objectPath, config.btfCustomPath);
      if (!o) fail(ErrorCode.BpfLoad, `cannot open ${objectPath}`, lib);
      try {
        if (this.transport === 'ringbuf') {
          lib.mapSetMaxEntries(this.map(o, 'events'), config.ringBufferBytes);
          this.setCallStore(o);
        }
        lib.mapSetMaxEntries(this.map(o, 'scratch'), this.ncpus);
        if (lib.objectLoad(o) === 0) {
          obj = o;
          break;
        }
        const errno = lib.errno();
        if (errno !== EAGAIN || attempt >= LOAD_ATTEMPTS)
          fail(ErrorCode.BpfLoad, 'the kernel rejected the BPF programs', lib);
      } catch (err) {
        lib.objectClose(o); // the error was read from libbpf first
        throw err;
      }
      lib.objectClose(o);
    }
    this.obj = obj;
    // Nothing of a half set-up object outlives an error: links, the pid table's mapping, the
    // programs and maps (a caller may try again in this process).
    try {
      const bss = this.sectionMap(obj, '.bss');
      const pids = this.sectionMap(obj, '.data.pids');
      // Over libbpf's own copy of the section where it has one of this size (it keeps one for
      // every data section; newer versions map the map there themselves, which this repeats).
      const copy = lib.mapInitialValue(pids);
      this.pidModesMap =
        copy && copy.size === TE_PID_MODES
          ? mapFdOver(copy.ptr, lib.mapFd(pids), TE_PID_MODES, true)
          : mapFd(lib.mapFd(pids), TE_PID_MODES, 0, true);
      this.pidModes = new Uint8Array(this.pidModesMap.buffer);
      this.fds = {
        events: lib.mapFd(this.map(obj, 'events')),
        cgroups: lib.mapFd(this.map(obj, 'capture_cgroups')),
        disabled: lib.mapFd(this.map(obj, 'disabled_conns')),
        counters: lib.mapFd(this.map(obj, 'counters')),
        probes: lib.mapFd(this.map(obj, 'probe_stats')),
        bss: lib.mapFd(bss),
      };
      this.writeSettings();
      for (let prog = lib.nextProgram(obj, null); prog; prog = lib.nextProgram(obj, prog)) {
        const name = lib.programName(prog);
        if (name === 'te_layout_anchor' || this.skipped(name)) continue;
        const link = lib.programAttach(prog);
        if (!link) fail(ErrorCode.BpfAttach, `cannot attach ${name}`, lib);
        this.links.push(link);
        this.programs.push(name);
      }
    } catch (err) {
      this.closeNow();
      throw err;
    }
  }

  /** The ring buffer's map fd. */
  get eventsFd(): number {
    return this.fds.events;
  }

  /**
   * Programs not loaded: with the arguments read from registers at sys_exit, every sys_enter
   * program but close's (whose fd is gone by its exit).
   */
  private skipped(name: string): boolean {
    if (SOCKET_LAYER_PROGRAMS.has(name)) return this.dataAttach !== 'socket-layer';
    if (this.dataAttach === 'socket-layer' && SOCKET_LAYER_REPLACES.has(name)) return true;
    return this.callStore === 'registers' && name.startsWith('enter_') && name !== 'enter_close';
  }

  /** Ring buffer build: registers or task storage when the kernel has them (5.15+, 5.11+),
   * unless told otherwise; without task storage the map is not created, and the verifier never
   * sees the branches not taken. */
  private setCallStore(o: unknown): void {
    const lib = this.lib;
    const useTask = this.callStore !== 'hash';
    const atExit = this.callStore === 'registers';
    const features = this.sectionMap(o, '.rodata.features');
    let failed =
      lib.mapSetInitialValue(features, Buffer.from([useTask ? 1 : 0, atExit ? 1 : 0])) !== 0 ||
      (!useTask && lib.mapSetAutocreate(this.map(o, 'pending_task'), false) !== 0);
    for (let prog = lib.nextProgram(o, null); prog; prog = lib.nextProgram(o, prog))
      if (this.skipped(lib.programName(prog)) && lib.programSetAutoload(prog, false) !== 0)
        failed = true;
    if (failed) fail(ErrorCode.BpfLoad, 'cannot set the object up for this kernel', lib);
  }

  /** The map libbpf made for a data section (named `<object prefix><section>`). */
  private sectionMap(obj: unknown, section: string): unknown {
    for (let m = this.lib.nextMap(obj, null); m; m = this.lib.nextMap(obj, m))
      if (this.lib.mapName(m).endsWith(section)) return m;
    throw new TracerError(ErrorCode.BpfLoad, `BPF object has no ${section} section`);
  }

  private map(obj: unknown, name: string): unknown {
    const m = this.lib.findMap(obj, name);
    if (!m) throw new TracerError(ErrorCode.BpfLoad, `BPF object has no map '${name}'`);
    return m;
  }

  /** Rewrites te_cfg (the whole .bss). */
  private writeSettings(): void {
    const v = Buffer.alloc(BSS_SIZE);
    v.writeUInt32LE(process.pid, CONFIG_OFFSETS.self_tgid);
    v.writeUInt8(this.settings.captureAllMode, CONFIG_OFFSETS.capture_all_mode);
    v.writeUInt8(this.settings.cgroupsEnabled, CONFIG_OFFSETS.cgroups_enabled);
    v.writeUInt8(this.settings.disabledAny, CONFIG_OFFSETS.disabled_any);
    v.writeBigUInt64LE(BigInt(this.config.maxCaptureBytes), CONFIG_OFFSETS.max_capture_bytes);
    const wakeupBytes = this.config.drainIntervalMs > 0 ? this.config.ringBufferBytes / 4 : 0;
    v.writeBigUInt64LE(BigInt(wakeupBytes), CONFIG_OFFSETS.wakeup_bytes);
    if (this.lib.mapUpdate(this.fds.bss, Buffer.alloc(4), v, BPF_ANY) !== 0)
      fail(ErrorCode.BpfLoad, 'cannot write the tracer settings', this.lib);
  }

  /**
   * Makes the kernel's policy maps match `policy`: selected processes with their living
   * descendants (later children are added in the kernel at fork), cgroups, capture-all.
   */
  applyPolicy(policy: CapturePolicy): {
    pids: number[];
    missing: number[];
    cgroups: string[];
    missingCgroups: string[];
  } {
    const parents = parentPids();
    const wanted = new Map<number, { mode: number; inherited: boolean }>();
    const missing: number[] = [];
    for (const sel of policy.processes) {
      if (!parents.has(sel.pid)) {
        missing.push(sel.pid);
        continue;
      }
      for (const pid of withDescendants([sel.pid], parents)) {
        if (pid === process.pid) continue; // never capture the tracer itself
        wanted.set(pid, { mode: MODE_BITS[sel.mode], inherited: pid !== sel.pid });
      }
    }
    // One byte per pid in the kernel's te_pid_modes (mapped): deselected ones first, including
    // children the kernel added at fork since the last policy, then the wanted ones. A child
    // the kernel added is a living process (its byte is cleared when it exits), so only living
    // processes are looked at, not the whole 4 MiB table (milliseconds of the event loop per
    // policy): those read from /proc above, then those forked since, once the deselected
    // parents' bytes are cleared (no child of theirs can be marked after that): a newcomer
    // keeps its mark only when its parent is still wanted.
    const modes = this.pidModes;
    for (const pid of this.appliedPids) if (!wanted.has(pid) && pid < TE_PID_MODES) modes[pid] = 0;
    for (const pid of parents.keys()) {
      if (pid >= TE_PID_MODES) continue;
      if (modes[pid]! & TE_MODE_INHERITED && !wanted.has(pid)) modes[pid] = 0;
    }
    const born = newProcesses(parents);
    const keptBorn = new Set<number>();
    // Parents first: a newcomer's parent may be a newcomer too.
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, ppid] of born)
        if (!keptBorn.has(pid) && (wanted.has(ppid) || keptBorn.has(ppid))) {
          keptBorn.add(pid);
          grew = true;
        }
    }
    for (const pid of born.keys()) {
      if (pid >= TE_PID_MODES || keptBorn.has(pid)) continue;
      if (modes[pid]! & TE_MODE_INHERITED) modes[pid] = 0;
    }
    for (const [pid, sel] of wanted)
      if (pid < TE_PID_MODES) modes[pid] = sel.mode | (sel.inherited ? TE_MODE_INHERITED : 0);
    this.appliedPids = new Set(wanted.keys());
    const value = Buffer.alloc(4);

    // A cgroup gone by now (its container exited since the policy was made) is skipped and
    // reported, as a process gone is: a policy that changes live can't be an error for it.
    const cgroups = new Map<bigint, number>();
    const missingCgroups: string[] = [];
    for (const sel of policy.cgroups ?? []) {
      let id: bigint;
      try {
        id = cgroupId(sel.cgroup);
      } catch {
        missingCgroups.push(String(sel.cgroup));
        continue;
      }
      cgroups.set(id, MODE_BITS[sel.mode]);
    }
    const ckey = Buffer.alloc(8);
    for (const id of this.appliedCgroups) {
      if (cgroups.has(id)) continue;
      ckey.writeBigUInt64LE(id);
      this.lib.mapDelete(this.fds.cgroups, ckey);
    }
    for (const [id, mode] of cgroups) {
      ckey.writeBigUInt64LE(id);
      value.fill(0);
      value.writeUInt8(mode, 0);
      this.lib.mapUpdate(this.fds.cgroups, ckey, value, BPF_ANY);
    }
    this.appliedCgroups = new Set(cgroups.keys());
    this.settings = {
      ...this.settings,
      captureAllMode: policy.all ? MODE_BITS[policy.all] : 0,
      cgroupsEnabled: cgroups.size > 0 ? 1 : 0,
    };
    this.writeSettings();
    return {
      pids: [...wanted.keys()],
      missing,
      cgroups: [...cgroups.keys()].map(String),
      missingCgroups,
    };
  }

  /** Stops copying one connection (the kernel still advances its offsets). */
  disable(tgid: number, fd: number, gen: number): void {
    const key = Buffer.alloc(CONN_KEY_OFFSETS.sizeof);
    key.writeUInt32LE(tgid, CONN_KEY_OFFSETS.tgid);
    key.writeInt32LE(fd, CONN_KEY_OFFSETS.fd);
    key.writeBigUInt64LE(BigInt(gen), CONN_KEY_OFFSETS.gen);
    this.lib.mapUpdate(this.fds.disabled, key, Buffer.from([1]), BPF_ANY);
    if (!this.settings.disabledAny) {
      // The kernel consults disabled_conns only from now on (a lookup per data event saved).
      this.settings = { ...this.settings, disabledAny: 1 };
      this.writeSettings();
    }
  }

  private sumPerCpu(fd: number, n: number): number[] {
    const key = Buffer.alloc(4);
    const values = Buffer.alloc(8 * this.ncpus);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      key.writeUInt32LE(i);
      let sum = 0;
      if (this.lib.mapLookup(fd, key, values) === 0) {
        for (let c = 0; c < this.ncpus; c++) sum += Number(values.readBigUInt64LE(8 * c));
      }
      out.push(sum);
    }
    return out;
  }

  /** Kernel counters (enum te_counter), summed over CPUs. */
  counters(): number[] {
    return this.sumPerCpu(this.fds.counters, Counter.TE_CNT__MAX);
  }

  /** Probe stats: [syscall * 2] entries, [syscall * 2 + 1] exits, summed over CPUs. */
  probes(): number[] {
    return this.sumPerCpu(this.fds.probes, Syscall.TE_SYS__MAX * 2);
  }

  /**
   * Detaches every probe and closes, at once: for an error while setting up, in the constructor
   * (the pid table may not be mapped yet) or right after it.
   */
  closeNow(): void {
    for (const link of this.links) this.lib.linkDestroy(link);
    this.links.length = 0;
    (this.pidModesMap as Mapping | undefined)?.unmap();
    this.lib.objectClose(this.obj);
  }

  /** Detaches every probe (in parallel: each waits for an RCU grace period) and closes. */
  async close(): Promise<void> {
    await Promise.all(this.links.map((link) => this.lib.linkDestroyAsync(link)));
    this.pidModesMap.unmap();
    this.lib.objectClose(this.obj);
  }
}
