/**
 * The tracer's configuration file (ebpf-tracer-config.yaml), validated with zod. Keys follow the
 * product the project models. Unknown keys and bad values are one error line naming the key.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

const level = z.enum(['trace', 'debug', 'info', 'warn', 'error']);
const mode = z.enum(['ingress', 'egress', 'ingress_and_egress']);
/** One selector or a list of them (the product's values give either). */
const selectorList = z
  .union([z.string().min(1), z.array(z.string().min(1))])
  .transform((v) => (typeof v === 'string' ? [v] : v));

/** The schema of ebpf-tracer-config.yaml. */
export const configSchema = z
  .object({
    /** Shorthand for logging.level. */
    log_level: level.optional(),
    logging: z
      .object({
        level: level.default('info'),
        encoding: z.enum(['json', 'console']).default('json'),
        /** `stdout`, `stderr` or a file path. The first entry is used. */
        output_paths: z.array(z.string().min(1)).min(1).default(['stderr']),
        error_output_paths: z.array(z.string().min(1)).min(1).default(['stderr']),
      })
      .strict()
      .prefault({}),
    /** How events leave the kernel: ring buffer (5.8+), perf buffers (older kernels), or auto. */
    event_transport: z.enum(['auto', 'ringbuf', 'perfbuf']).default('auto'),
    /** Directory of BTF files (BTFHub layout) for kernels without /sys/kernel/btf/vmlinux. */
    btf_dir: z.string().min(1).optional(),
    /** Where the host's /proc is mounted (a DaemonSet mounts it elsewhere). */
    proc_fs_path: z.string().min(1).default('/proc'),
    /** Ring buffer size in bytes: a power of two, at least 4 KiB (default 8 MiB). */
    perfmap_queue_size: z
      .number()
      .int()
      .min(4096)
      .refine((n) => (n & (n - 1)) === 0, 'must be a power of two')
      .default(8 * 1024 * 1024),
    /**
     * Which connections of a selected process are captured. Default: both, and in Kubernetes
     * mode `ingress` (the product's default for pods whose annotations choose none).
     */
    mode: mode.optional(),
    /** Processes to capture (with their descendants), besides --pid. */
    pids: z.array(z.number().int().positive()).default([]),
    /** cgroup v2 directories (or ids) whose processes are captured, besides --cgroup. */
    cgroups: z.array(z.union([z.string().min(1), z.number().int().positive()])).default([]),
    /** Capture every process on the machine (the tracer excepted), besides --all. */
    capture_all: z.boolean().default(false),
    /**
     * Kubernetes mode: watch this node's pods, capture the ones the mirroring policy selects (by
     * their containers' cgroups) and add pod attributes to their spans.
     */
    k8s_enabled: z.boolean().default(false),
    /** Where the host's cgroup v2 tree is mounted (hybrid hosts: also looked for under `unified/`). */
    cgroup_fs_path: z.string().min(1).default('/sys/fs/cgroup'),
    /** Mirror the pods of every namespace (a namespace's `traceableai-mirror` label still wins). */
    daemon_set_mirror_all_namespaces: z.boolean().default(false),
    daemon_set_mirroring: z
      .object({
        /** Pods matching any entry are mirrored; within an entry every selector must match. */
        match_selectors: z
          .array(
            z
              .object({
                /** Pod field selectors, e.g. `metadata.namespace=testgoapp`. */
                field_selectors: selectorList.optional(),
                /** Pod label selectors, e.g. `app=web,tier in (api)`. */
                label_selectors: selectorList.optional(),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .prefault({}),
    /** Pod label keys copied onto spans as `k8s.pod.label.<key>`. */
    pod_labels: z.array(z.string().min(1)).default([]),
    /**
     * Health endpoints for Kubernetes probes: `/readyz` (200 once `tracer ready` is logged, 503
     * before and while stopping) and `/healthz` (200 while the pipeline runs).
     */
    health: z
      .object({
        enabled: z.boolean().default(false),
        /** Default: every address (IPv6 and IPv4 where the host has IPv6). */
        address: z.string().min(1).optional(),
        port: z.number().int().min(0).max(65535).default(8099),
      })
      .strict()
      .prefault({}),
    /**
     * Bytes copied per syscall, in 16 KiB events; a larger call has its first (this − 16 KiB)
     * and its last 16 KiB copied, and reports its full size.
     */
    max_syscall_capture_bytes: z
      .number()
      .int()
      .min(16384)
      .max(131072)
      .refine((n) => n % 16384 === 0, 'must be a multiple of 16384')
      .default(65536),
    /** Body bytes kept per message when `capture_bodies` is on (the full size is always reported). */
    max_body_size: z
      .number()
      .int()
      .min(0)
      .default(64 * 1024),
    /** Bytes of request target, header and trailer lines kept per message; the rest is counted. */
    max_header_size: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024),
    /** Seconds a request waits for its response before it is reported without one; 0: until the connection ends. */
    response_timeout: z.number().min(0).default(30),
    /** Parse HTTP/2 (and gRPC) connections; off: they are left alone and stop being copied. */
    http2_capture_enabled: z.boolean().default(true),
    /** Add captured bodies to spans. */
    capture_bodies: z.boolean().default(false),
    /** Header names whose values are redacted. */
    redact_headers: z
      .array(z.string().min(1))
      .default(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']),
    /** Seconds between `stats` log lines; 0 turns them off. */
    stats_interval: z.number().min(0).default(60),
    /**
     * Seconds a stop (SIGINT/SIGTERM) may spend delivering what was captured; spans still
     * undelivered then are counted and logged.
     */
    shutdown_timeout: z.number().min(0).max(300).default(5),
    /** service.name of exported spans (default: the pod's service, else the executable's name). */
    service_name: z.string().min(1).optional(),
    /** The deployment environment spans say they come from (`deployment.environment.name`). */
    environment: z.string().min(1).optional(),
    exporter: z
      .object({
        /**
         * Default: module when `module` is given, else otlp when an OTLP endpoint is
         * configured, else console.
         */
        type: z.enum(['otlp', 'console', 'jsonl', 'module']).optional(),
        /** File for jsonl (default stdout). */
        output: z.string().min(1).optional(),
        /**
         * type module: the exporter plugin, a path (from the config file's directory) or a
         * package name (looked up from there, then from the tracer's own directory).
         */
        module: z.string().min(1).optional(),
        /** type module: handed to the plugin's factory as they are. */
        options: z.record(z.string(), z.unknown()).optional(),
        otlp: z
          .object({
            /** Full traces URL; default from OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT. */
            endpoint: z.url().optional(),
            protocol: z.enum(['http/protobuf', 'http/json']).optional(),
            headers: z.record(z.string(), z.string()).default({}),
            /** Request body compression; default OTEL_EXPORTER_OTLP_COMPRESSION, else none. */
            compression: z.enum(['gzip', 'none']).optional(),
            /** Per-request timeout in ms; default OTEL_EXPORTER_OTLP_TIMEOUT, else 10000. */
            timeout_ms: z.number().int().positive().optional(),
            /** PEM file of the CA(s) to trust; default OTEL_EXPORTER_OTLP_CERTIFICATE. */
            ca_file: z.string().min(1).optional(),
            /** PEM client certificate and key for mutual TLS; default the CLIENT_* variables. */
            client_certificate_file: z.string().min(1).optional(),
            client_key_file: z.string().min(1).optional(),
            /** Encoded bytes waiting for the collector; past it new spans are dropped, counted. */
            max_queue_bytes: z
              .number()
              .int()
              .min(1 << 20)
              .default(256 << 20),
            /** Spans per request. */
            max_batch_spans: z.number().int().min(1).default(4096),
            /**
             * Encoded bytes per request (a larger single span still goes alone). 1 MiB: the
             * bodies in flight and kept for reuse are most of the exporter's memory under load
             * (4 MiB requests cost 8-15 MiB more peak RSS in the nginx benchmark, no CPU per
             * span that showed above the noise); collectors accept 20 MiB by default.
             */
            max_batch_bytes: z
              .number()
              .int()
              .min(4096)
              .default(1 << 20),
            /** Most time a span waits for its batch to fill, in ms. */
            batch_delay_ms: z.number().int().min(0).default(200),
            /** Requests in flight at once. */
            max_in_flight: z.number().int().min(1).max(64).default(4),
            /** `traceable` (the project's exporter) or `official` (OpenTelemetry's, for comparison). */
            implementation: z.enum(['traceable', 'official']).default('traceable'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({})
      .superRefine((e, ctx) => {
        if (e.type === 'module' && e.module === undefined)
          ctx.addIssue({ code: 'custom', path: ['module'], message: 'required with type module' });
        if (e.options !== undefined && e.module === undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['options'],
            message: 'goes with exporter.module (the plugin it is for)',
          });
      }),
  })
  .strict()
  .transform((c) => ({
    ...c,
    mode: c.mode ?? (c.k8s_enabled ? ('ingress' as const) : ('ingress_and_egress' as const)),
  }));

/** A validated configuration, defaults filled in. */
export type TracerConfig = z.infer<typeof configSchema>;

/** Validates a parsed configuration object; throws a one-line TracerError naming the bad key. */
export function parseConfig(input: unknown, source = 'config'): TracerConfig {
  const result = configSchema.safeParse(input ?? {});
  if (result.success) {
    const cfg = result.data;
    if (cfg.log_level) cfg.logging.level = cfg.log_level;
    return cfg;
  }
  const issue = result.error.issues[0]!;
  let key = issue.path.join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    key = [...issue.path, issue.keys[0]].join('.');
    message = 'unknown key';
  }
  throw new TracerError(ErrorCode.Config, `${source}: ${key ? `'${key}': ` : ''}${message}`);
}

/** Reads and validates a YAML configuration file. */
export function loadConfig(path: string): TracerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TracerError(
      ErrorCode.Config,
      `cannot read config ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new TracerError(
      ErrorCode.Config,
      `${path}: invalid YAML: ${String((err as Error).message).split('\n')[0]}`,
    );
  }
  return parseConfig(doc, path);
}
