/**
 * The reference tracer's pipeline: kernel events → reassembly → HTTP/1 → spans → exporter,
 * with stats logging and a clean stop that flushes everything already captured.
 */
import { existsSync } from 'node:fs';
import {
  Subject,
  lastValueFrom,
  defaultIfEmpty,
  map,
  of,
  shareReplay,
  takeUntil,
  Observable,
} from 'rxjs';
import {
  ErrorCode,
  FlowControl,
  Stats,
  TracerError,
  clockFromOffset,
  createMonotonicClock,
  reassemble,
  skipOwnConnections,
  stats$,
  watchOwnSockets,
  type KernelEvent,
  type OwnSockets,
  type MonotonicClock,
} from '@traceable-ebpf/core';
import type { TracerConfig } from './config.js';
import type { Logger } from './logger.js';
import {
  bpfSource,
  inferRoles,
  checkPrivileges,
  cgroupId,
  findBtf,
  readRecordingInfo,
  releaseFreedMemory,
  replaySource,
  type CaptureMode,
  type CapturePolicy,
} from '@traceable-ebpf/bpf-source';
import { parseHttp } from '@traceable-ebpf/parsers';
import { exportSpans, toSpans } from '@traceable-ebpf/exporters';
import { startHealthServer } from './health.js';
import { createExporter, loggedConfig } from './exporter-choice.js';
import {
  MirrorPolicy,
  cgroupRoots,
  enrichPods,
  podCapturePolicy,
  watchCluster,
  defaultNodeName,
  type ClusterLog,
  type ClusterState,
} from '@traceable-ebpf/k8s-enricher';

/** What {@link startTracer} needs. */
export interface TracerOptions {
  readonly config: TracerConfig;
  readonly logger: Logger;
  readonly pids: readonly number[];
  readonly cgroups?: readonly string[];
  readonly all?: boolean;
  /** Also write the raw kernel events here. */
  readonly record?: string;
  /** Read events from this recording instead of the kernel. */
  readonly replay?: string;
  readonly mode?: CaptureMode;
  readonly exporter?: 'otlp' | 'console' | 'jsonl' | 'module';
  readonly output?: string;
  /** The config file's directory: where `exporter.module` is taken from. Default: the working directory. */
  readonly configDir?: string;
}

/** A running tracer. */
export interface RunningTracer {
  /** Resolves when the pipeline has drained and the exporter shut down. */
  readonly done: Promise<void>;
  /** Detaches the probes, exports what was captured, shuts the exporter down. */
  stop(): Promise<void>;
  readonly stats: Stats;
}

/**
 * Starts capturing. `tracer ready` is logged once the source is capturing: live, when every
 * probe is attached and the initial capture policy is in the kernel (a request started after
 * the line is reported); for a replay, once the pipeline is set up.
 */
export async function startTracer(opts: TracerOptions): Promise<RunningTracer> {
  const { config, logger } = opts;
  // A stop's deadline for delivery: from the stop, or (a replay that ended by itself) from now.
  let stopAt: number | undefined;
  const closeBy = () => (stopAt ?? Date.now()) + config.shutdown_timeout * 1000;
  const stats = new Stats();
  const stop$ = new Subject<void>();
  const disable$ = new Subject<string>();
  let source: Observable<KernelEvent>;
  const flow = new FlowControl();
  // One clock for the live pipeline and the recording, so replays reproduce span times exactly.
  let clock: MonotonicClock = createMonotonicClock();
  let exporterInfo: Awaited<ReturnType<typeof createExporter>>;
  // The tracer's own client sockets (live capture): their peers' side is not captured.
  let ownSockets: OwnSockets | undefined;
  // Kubernetes mode (live): the node's pods, namespaces and Services as watched.
  let cluster: Observable<ClusterState> | undefined;
  // What the health endpoints report: ready from `tracer ready` until a stop begins.
  const health = { ready: false, stopping: false, failed: false };
  const logReady = () => {
    health.ready = true;
    // Start-up's freed memory (compilers' zones, the BPF object's load) back to the kernel
    // before traffic comes, so the first second of load does not add to it.
    releaseFreedMemory();
    logger.info('tracer ready');
  };
  const healthServer = config.health.enabled
    ? startHealthServer({
        ...(config.health.address ? { address: config.health.address } : {}),
        port: config.health.port,
        state: {
          ready: () => health.ready && !health.stopping && !health.failed,
          live: () => !health.failed && !health.stopping,
        },
      })
    : undefined;
  // A health port that can't be had stops the tracer with its one line.
  healthServer?.catch(() => undefined);
  const failOnHealthError = <T>(o: Observable<T>): Observable<T> =>
    healthServer
      ? new Observable<T>((subscriber) => {
          const s = o.subscribe(subscriber);
          healthServer.catch((err: unknown) => subscriber.error(err));
          return s;
        })
      : o;
  if (opts.replay) {
    // A recording instead of the kernel: no privileges, and the recording machine's clock.
    const info = readRecordingInfo(opts.replay);
    clock = clockFromOffset(BigInt(info.epochOffsetNs));
    exporterInfo = await createExporter(opts, stats, closeBy);
    logger.info(
      {
        config: loggedConfig(config),
        exporter: exporterInfo.kind,
        replay: opts.replay,
        recorded: info.created,
        kernel: info.kernel,
      },
      'effective configuration',
    );
    // A file can wait: it is read as fast as the exporter delivers.
    source = replaySource(opts.replay, { flow }).pipe(takeUntil(stop$));
    logReady();
  } else {
    const pids = [...new Set([...opts.pids, ...config.pids])];
    const cgroups = [...new Set([...(opts.cgroups ?? []), ...config.cgroups.map(String)])];
    const all = opts.all === true || config.capture_all;
    if (pids.length === 0 && cgroups.length === 0 && !all && !config.k8s_enabled) {
      throw new TracerError(
        ErrorCode.Usage,
        'no process selected: give --pid PID, --cgroup PATH or --all (or pids:, cgroups:, capture_all:, k8s_enabled: in the config)',
      );
    }
    // Kubernetes mode: the selectors are checked before anything starts (a bad one is one line).
    const mirror = config.k8s_enabled
      ? new MirrorPolicy({
          mirrorAllNamespaces: config.daemon_set_mirror_all_namespaces,
          defaultMode: opts.mode ?? config.mode,
          matchSelectors: config.daemon_set_mirroring.match_selectors,
        })
      : undefined;
    for (const pid of pids) {
      if (!existsSync(`${config.proc_fs_path}/${pid}`))
        throw new TracerError(ErrorCode.NoProcess, `no process with pid ${pid}`);
    }
    // Selected by hand: one that doesn't exist is the user's mistake, one line (a pod's cgroup
    // gone later is only skipped).
    for (const cgroup of cgroups) cgroupId(cgroup);
    // The commonest failures first, before anything is logged: the user sees one line.
    checkPrivileges();
    findBtf(undefined, config.btf_dir);
    // Before the exporter can open a connection: every one of them must be known.
    ownSockets = watchOwnSockets();
    try {
      exporterInfo = await createExporter(opts, stats, closeBy);
    } catch (err) {
      ownSockets.close();
      throw err;
    }
    logger.info(
      { config: loggedConfig(config), exporter: exporterInfo.kind, pids },
      'effective configuration',
    );
    const mode = opts.mode ?? config.mode;
    // `tracer ready` promises capture: both the probes and the first policy must be in the
    // kernel (the policy lands tens of milliseconds after the probes: it walks /proc).
    let probesAttached = false;
    let policyInKernel = false;
    let readyLogged = false;
    const logReadyOnceCapturing = () => {
      if (readyLogged || !probesAttached || !policyInKernel) return;
      readyLogged = true;
      logReady();
    };
    const fixed = {
      processes: pids.map((pid) => ({ pid, mode })),
      cgroups: cgroups.map((cgroup) => ({ cgroup, mode })),
      ...(all ? { all: mode } : {}),
    };
    let policy$: Observable<CapturePolicy> = of(fixed);
    if (mirror) {
      const log: ClusterLog = (level, message, fields) => logger[level](fields ?? {}, message);
      // One watch for the policy and the enrichment; the latest state replayed to each.
      cluster = watchCluster({ log }).pipe(shareReplay({ bufferSize: 1, refCount: true }));
      // The mirrored pods' containers join the fixed selection, live.
      policy$ = cluster.pipe(
        podCapturePolicy({ policy: mirror, cgroupRoots: cgroupRoots(config.cgroup_fs_path), log }),
        map((pods) => ({ ...fixed, cgroups: [...fixed.cgroups, ...pods.cgroups] })),
      );
    }
    source = bpfSource({
      policy$,
      ringBufferBytes: config.perfmap_queue_size,
      transport: config.event_transport,
      ...(config.btf_dir ? { btfDir: config.btf_dir } : {}),
      maxCaptureBytes: config.max_syscall_capture_bytes,
      ...(opts.record ? { recordPath: opts.record } : {}),
      clock,
      disable$,
      stats,
      stopOn: stop$,
      onReady: (info) => {
        logger.info(
          {
            os: info.os,
            kernel: info.kernel,
            arch: info.arch,
            btf: info.btfSource,
            transport: info.transport,
            callStore: info.callStore,
            dataAttach: info.dataAttach,
            libbpf: info.libbpfVersion,
            probes: info.programs.length,
          },
          'system info',
        );
        probesAttached = true;
        logReadyOnceCapturing();
      },
      onPolicyApplied: ({ pids: selected, missing, cgroups: cgroupIds, missingCgroups }) => {
        logger.info({ pids: selected, cgroups: cgroupIds, all }, 'capture policy applied');
        if (missing.length) logger.warn({ pids: missing }, 'selected processes not found');
        if (missingCgroups.length)
          logger.warn({ cgroups: missingCgroups }, 'selected cgroups not found (gone since)');
        policyInKernel = true;
        logReadyOnceCapturing();
      },
    }).pipe(
      // No feedback loop: a collector on this node is captured (with --all, say), but its side
      // of the tracer's own export connections is not, or each export would become spans.
      skipOwnConnections({
        sockets: ownSockets,
        stats,
        onOwnConnection: (id) => disable$.next(id),
      }),
      // Connections found already open: accepted or connected, from the listening sockets.
      inferRoles({
        procRoot: config.proc_fs_path,
        stats,
        onOutsideMode: (id) => disable$.next(id),
      }),
    );
  }
  const { exporter } = exporterInfo;
  let exportErrors = 0;
  const pipeline = failOnHealthError(source).pipe(
    reassemble({ stats }),
    // Connections that turn out not to be HTTP/1 stop being copied in the kernel.
    parseHttp({
      stats,
      // Bodies go into spans only with capture_bodies: otherwise none is kept (sizes stay exact).
      maxBodyBytes: config.capture_bodies ? config.max_body_size : 0,
      maxHeaderBytes: config.max_header_size,
      responseTimeoutMs: config.response_timeout * 1000,
      http2: config.http2_capture_enabled,
      onUnsupported: (id) => disable$.next(id),
    }),
    // Kubernetes mode: pod attributes on each exchange (otherwise a pass-through).
    enrichPods({
      ...(cluster ? { cluster } : {}),
      procFsPath: config.proc_fs_path,
      podLabels: config.pod_labels,
      stats,
    }),
    toSpans({
      redactHeaders: config.redact_headers,
      captureBodies: config.capture_bodies,
      procFsPath: config.proc_fs_path,
      ...(config.service_name ? { serviceName: config.service_name } : {}),
      // In Kubernetes mode the host is the node (the tracer's own host name is its pod's).
      resourceAttributes: {
        ...(config.environment ? { 'deployment.environment.name': config.environment } : {}),
        ...(config.k8s_enabled && !opts.replay ? { 'host.name': defaultNodeName() } : {}),
      },
      clock,
    }),
    exportSpans(exporter, {
      stats,
      drainTimeoutMs: config.shutdown_timeout * 1000,
      // A replay ends with its file and then waits for the collector; the deadline applies
      // once the tracer is told to stop.
      ...(opts.replay ? { flow, stop: stop$ } : {}),
      onExportError: (err, n) => {
        // One line per 100 failures at most: never one per span.
        if (exportErrors++ % 100 === 0)
          logger.warn(
            { spans: n, failures: exportErrors },
            `span export failed: ${err?.message ?? 'unknown error'}`,
          );
      },
    }),
    defaultIfEmpty(undefined),
  );

  const logStats = () => {
    logger.info(stats.snapshot(), 'stats');
    logger.info(stats.probeSnapshot(), 'probe stat');
  };
  const statsLog =
    config.stats_interval > 0
      ? stats$(stats, config.stats_interval * 1000).subscribe(logStats)
      : undefined;

  const done = lastValueFrom(pipeline)
    .then(
      async (summary) => {
        if (summary && summary.undelivered > 0)
          logger.warn(
            { spans: summary.undelivered, deadlineSeconds: config.shutdown_timeout },
            'spans not delivered by the stop deadline (counted in SpansDroppedAtShutdown)',
          );
        statsLog?.unsubscribe();
        logStats();
        await exporter.forceFlush?.();
        await exporter.shutdown();
      },
      async (err: unknown) => {
        health.failed = true;
        statsLog?.unsubscribe();
        await exporter.shutdown().catch(() => undefined);
        throw err;
      },
    )
    .finally(async () => {
      ownSockets?.close();
      await healthServer?.then((h) => h.close()).catch(() => undefined);
    });
  return {
    done,
    stats,
    stop() {
      stopAt ??= Date.now();
      health.stopping = true;
      stop$.next();
      return done;
    },
  };
}
