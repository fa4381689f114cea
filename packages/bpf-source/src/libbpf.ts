/**
 * The slice of libbpf (libbpf.so.1, ≥ 1.0) the loader uses, bound through koffi. libbpf's own
 * log lines are captured (formatted with libc's vsnprintf) so a failure can name its reason.
 */
import koffi from 'koffi';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

/** Bound libbpf functions. Pointers are koffi externals. */
export interface Libbpf {
  readonly version: string;
  /** Opens an object; `btfCustomPath`: the kernel's BTF when it has none of its own. */
  objectOpenFile(path: string, btfCustomPath?: string): unknown;
  /** Loads (verifies) the programs with this thread's signals blocked: the verifier gives up
   * with EAGAIN when a signal is pending, and a sampling profiler signals every few ms. */
  objectLoad(obj: unknown): number;
  objectClose(obj: unknown): void;
  findMap(obj: unknown, name: string): unknown;
  /** Iterates an object's maps (prev null: the first). */
  nextMap(obj: unknown, prev: unknown): unknown;
  mapName(map: unknown): string;
  nextProgram(obj: unknown, prev: unknown): unknown;
  programName(prog: unknown): string;
  programAttach(prog: unknown): unknown;
  /** Whether the program is loaded with the object (before load; default true). */
  programSetAutoload(prog: unknown, autoload: boolean): number;
  linkDestroy(link: unknown): number;
  /** Detaches on libuv's thread pool: each detach waits for an RCU grace period, so run them in parallel. */
  linkDestroyAsync(link: unknown): Promise<number>;
  mapFd(map: unknown): number;
  mapSetMaxEntries(map: unknown, n: number): number;
  /**
   * Where libbpf keeps a data section's contents in this process, and their size: its own
   * anonymous copy until someone maps the map over it (see `mapFdOver`).
   */
  mapInitialValue(map: unknown): { ptr: unknown; size: number } | undefined;
  /** Replaces a data section's initial contents (before load; `value` must be its whole size). */
  mapSetInitialValue(map: unknown, value: Buffer): number;
  /** Whether load creates this map (false: references to it must be dead code). */
  mapSetAutocreate(map: unknown, create: boolean): number;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): number;
  mapDelete(fd: number, key: Buffer): number;
  mapLookup(fd: number, key: Buffer, value: Buffer): number;
  numPossibleCpus(): number;
  /** 1 if the kernel supports this map type (libbpf_probe_bpf_map_type), 0 if not, < 0 on error. */
  probeMapType(type: number): number;
  /** 1 if programs of `progType` may call helper `helperId`, 0 if not, < 0 on error. */
  probeHelper(progType: number, helperId: number): number;
  /** A perf buffer reader: `onSample` gets each record's pointer and size (called from consume). */
  perfBufferNew(
    mapFd: number,
    pageCount: number,
    onSample: (data: unknown, size: number) => void,
  ): { pb: unknown; free(): void };
  perfBufferEpollFd(pb: unknown): number;
  perfBufferConsume(pb: unknown): number;
  /**
   * Whether the kernel's own BTF has a type of BTF kind `kind` (8: typedef, as
   * `btf_trace_<tracepoint>`: a BTF tracepoint exists exactly when its typedef does) for every
   * one of `names`. False when the kernel has no BTF of its own: BTF tracepoints attach only
   * against it.
   */
  btfHasTypes(names: readonly string[], kind: number): boolean;
  /** -errno of a NULL-returning call (libbpf 1.x sets errno). */
  errno(): number;
  /** libbpf's recent log lines (warnings and errors). */
  recentLog(): string[];
}

const LOG_LINES = 200;

/** Loads libbpf.so.1 and binds what the loader needs; a clear error if it is missing. */
export function loadLibbpf(): Libbpf {
  let lib: ReturnType<typeof koffi.load>;
  let libc: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load('libbpf.so.1');
    libc = koffi.load('libc.so.6');
  } catch {
    throw new TracerError(
      ErrorCode.NoLibbpf,
      'libbpf.so.1 not found: install libbpf1 (apt-get install libbpf1)',
    );
  }
  const log: string[] = [];
  const sigmask = libc.func('int pthread_sigmask(int how, void *set, _Out_ uint8_t *old)');
  const SIG_BLOCK = 0;
  const SIG_SETMASK = 2;
  const SIGSET_BYTES = 128; // glibc's sigset_t
  const vsnprintf = libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t n, void *fmt, void *ap)');
  const PrintFn = koffi.proto('int te_libbpf_print_fn(int level, void *fmt, void *ap)');
  const setPrint = lib.func('void *libbpf_set_print(te_libbpf_print_fn *fn)');
  const printCb = koffi.register((level: number, fmt: unknown, ap: unknown) => {
    if (level > 1) return 0; // 0 warn, 1 info, 2 debug
    const buf = Buffer.alloc(1024);
    const n = vsnprintf(buf, buf.length, fmt, ap) as number;
    for (const line of buf
      .subarray(0, Math.max(0, Math.min(n, buf.length - 1)))
      .toString()
      .split('\n')) {
      if (line.trim()) log.push(line.trimEnd());
    }
    if (log.length > LOG_LINES) log.splice(0, log.length - LOG_LINES);
    return 0;
  }, koffi.pointer(PrintFn));
  setPrint(printCb);

  const major = lib.func('uint32_t libbpf_major_version()');
  const minor = lib.func('uint32_t libbpf_minor_version()');
  // The fields of struct bpf_object_open_opts up to btf_custom_path (sz tells libbpf how many).
  const OpenOpts = koffi.struct('te_bpf_object_open_opts', {
    sz: 'size_t',
    object_name: 'const char *',
    relaxed_maps: 'bool',
    pin_root_path: 'const char *',
    attach_prog_fd_stub: 'uint32_t',
    kconfig: 'const char *',
    btf_custom_path: 'const char *',
  });
  const openFile = lib.func(
    'void *bpf_object__open_file(const char *path, const te_bpf_object_open_opts *opts)',
  );
  const load = lib.func('int bpf_object__load(void *obj)');
  const close = lib.func('void bpf_object__close(void *obj)');
  const findMap = lib.func('void *bpf_object__find_map_by_name(void *obj, const char *name)');
  const nextMap = lib.func('void *bpf_object__next_map(void *obj, void *prev)');
  const mapName = lib.func('const char *bpf_map__name(void *map)');
  const nextProg = lib.func('void *bpf_object__next_program(void *obj, void *prev)');
  const progName = lib.func('const char *bpf_program__name(void *prog)');
  const attach = lib.func('void *bpf_program__attach(void *prog)');
  const setAutoload = lib.func('int bpf_program__set_autoload(void *prog, bool autoload)');
  const linkDestroy = lib.func('int bpf_link__destroy(void *link)');
  const mapFd = lib.func('int bpf_map__fd(void *map)');
  const setMax = lib.func('int bpf_map__set_max_entries(void *map, uint32_t n)');
  const setInitial = lib.func(
    'int bpf_map__set_initial_value(void *map, const void *data, size_t size)',
  );
  const initialValue = lib.func('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)');
  const setAutocreate = lib.func('int bpf_map__set_autocreate(void *map, bool autocreate)');
  const probeHelper = lib.func(
    'int libbpf_probe_bpf_helper(int prog_type, int helper_id, const void *opts)',
  );
  const update = lib.func(
    'int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)',
  );
  const del = lib.func('int bpf_map_delete_elem(int fd, void *key)');
  const lookup = lib.func('int bpf_map_lookup_elem(int fd, void *key, _Out_ void *value)');
  const ncpus = lib.func('int libbpf_num_possible_cpus()');
  const probeMap = lib.func('int libbpf_probe_bpf_map_type(int map_type, const void *opts)');
  const PerfSample = koffi.proto(
    'void te_perf_buffer_sample_fn(void *ctx, int cpu, void *data, uint32_t size)',
  );
  const pbNew = lib.func(
    'void *perf_buffer__new(int map_fd, size_t page_cnt, te_perf_buffer_sample_fn *sample_cb, void *lost_cb, void *ctx, const void *opts)',
  );
  const pbFree = lib.func('void perf_buffer__free(void *pb)');
  const btfVmlinux = lib.func('void *btf__load_vmlinux_btf()');
  const btfFind = lib.func(
    'int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)',
  );
  const btfFree = lib.func('void btf__free(void *btf)');
  const pbEpoll = lib.func('int perf_buffer__epoll_fd(void *pb)');
  const pbConsume = lib.func('int perf_buffer__consume(void *pb)');

  return {
    version: `${major()}.${minor()}`,
    objectOpenFile: (path, btfCustomPath) =>
      openFile(
        path,
        btfCustomPath ? { sz: koffi.sizeof(OpenOpts), btf_custom_path: btfCustomPath } : null,
      ),
    objectLoad(obj) {
      const all = Buffer.alloc(SIGSET_BYTES, 0xff);
      const old = Buffer.alloc(SIGSET_BYTES);
      const blocked = sigmask(SIG_BLOCK, all, old) === 0;
      try {
        return load(obj) as number;
      } finally {
        if (blocked) sigmask(SIG_SETMASK, old, null);
      }
    },
    objectClose: (obj) => close(obj),
    findMap: (obj, name) => findMap(obj, name),
    nextMap: (obj, prev) => nextMap(obj, prev),
    mapName: (map) => mapName(map) as string,
    nextProgram: (obj, prev) => nextProg(obj, prev),
    programName: (prog) => progName(prog) as string,
    programAttach: (prog) => attach(prog),
    programSetAutoload: (prog, autoload) => setAutoload(prog, autoload) as number,
    linkDestroy: (link) => linkDestroy(link) as number,
    linkDestroyAsync: (link) =>
      new Promise((resolve) =>
        (linkDestroy as unknown as { async: (...a: unknown[]) => void }).async(
          link,
          (_err: unknown, r: number) => resolve(r),
        ),
      ),
    mapFd: (map) => mapFd(map) as number,
    mapSetMaxEntries: (map, n) => setMax(map, n) as number,
    mapInitialValue(map) {
      const size = [0];
      const ptr = initialValue(map, size);
      return ptr ? { ptr, size: Number(size[0]) } : undefined;
    },
    mapSetInitialValue: (map, value) => setInitial(map, value, value.length) as number,
    mapSetAutocreate: (map, create) => setAutocreate(map, create) as number,
    mapUpdate: (fd, key, value, flags) => update(fd, key, value, flags) as number,
    mapDelete: (fd, key) => del(fd, key) as number,
    mapLookup: (fd, key, value) => lookup(fd, key, value) as number,
    numPossibleCpus: () => ncpus() as number,
    probeMapType: (type) => probeMap(type, null) as number,
    probeHelper: (progType, helperId) => probeHelper(progType, helperId, null) as number,
    btfHasTypes(names, kind) {
      const btf = btfVmlinux();
      if (!btf) return false;
      try {
        return names.every((name) => (btfFind(btf, name, kind) as number) > 0);
      } finally {
        btfFree(btf);
      }
    },
    perfBufferNew(fd, pageCount, onSample) {
      const cb = koffi.register(
        (_ctx: unknown, _cpu: number, data: unknown, size: number) => onSample(data, size),
        koffi.pointer(PerfSample),
      );
      const pb = pbNew(fd, pageCount, cb, null, null, null);
      return {
        pb,
        free() {
          if (pb) pbFree(pb);
          koffi.unregister(cb);
        },
      };
    },
    perfBufferEpollFd: (pb) => pbEpoll(pb) as number,
    perfBufferConsume: (pb) => pbConsume(pb) as number,
    errno: () => koffi.errno(),
    recentLog: () => [...log],
  };
}
