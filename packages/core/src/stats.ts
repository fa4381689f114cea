import { Observable } from 'rxjs';
import { ErrorCode, TracerError } from './errors.js';

/**
 * Named counters: the built-in ones below, whose names follow the product the project models,
 * and any a stage registers for itself. Every place that can drop data increments one; the
 * tracer logs them every `stats_interval` and serves them as metrics.
 */

/** The built-in counters every stage may move, with what each one counts. */
export const COUNTERS = {
  ControlEventReceived: 'connection open/close events received from the kernel',
  DataEventReceived: 'data events received from the kernel',
  EventLost: 'events the kernel dropped because the ring buffer was full',
  BytesTruncated: 'bytes a syscall moved beyond what one kernel event copies',
  ConnTableFull: 'connections the kernel could not track (conns map full)',
  KernelCopyFailed: 'kernel copies of user memory that failed',
  SendfileBytes: 'bytes sent with sendfile (sizes reported, contents not captured)',
  BytesOnDisabledConnections:
    'bytes on connections whose copying was disabled (unparsed protocols)',
  MmsgMessagesUnaccounted: 'sendmmsg/recvmmsg messages past the 64 the kernel reports per call',
  RolesFromListeners:
    'connections found already open whose role came from the listening sockets in /proc',
  RolesUnresolved: 'connections found already open whose /proc was gone (role left unknown)',
  ConnectionsOutsideMode:
    'connections found already open whose inferred role the capture mode excludes (dropped)',
  EventsOutsideMode: 'events of those connections, dropped before copying was disabled',
  CallsUntracked:
    'socket calls whose arguments the kernel could not keep from entry to exit (bytes missed)',
  ConnectionsDisabled: 'connections the kernel was told to stop copying',
  GapsAbsorbedInBodies:
    'stream gaps that fell inside a message body of known length (message kept)',
  GapsBeforeParsing:
    "stream gaps before a connection's protocol was known (followed from there as if joined mid-stream)",
  TotalRequestsParsed: 'HTTP requests parsed',
  TotalResponsesParsed: 'HTTP responses parsed',
  ReqParsingErrors:
    'requests that failed to parse (bad bytes, or cut short by the end of the stream)',
  ResParsingErrors:
    'responses that failed to parse (bad bytes, or cut short by the end of the stream)',
  TotalRequestsSent: 'spans handed to the exporter and accepted',
  TotalEventsDroppedAtEventQueueLimit: 'events dropped because a queue was full',
  TotalEventsDroppedAtParsing:
    'stream bytes skipped by parsers (unparsable, unknown protocol, after gaps)',
  KprobeEventMaxQueueSizeTillNow: 'largest event batch seen from the kernel (high-water mark)',
  ReassemblyGaps: 'gaps marked in connection streams',
  ReassemblyGapBytes: 'bytes missing from connection streams',
  ReassemblyDuplicateEvents: 'data events whose bytes were already seen',
  ReassemblyOrphanEvents: 'data events for a connection whose open event was not seen',
  ConnectionsEvicted: 'connections evicted by the connection-count bound or idleness',
  ResponsesWithoutRequest: 'responses that had no request to pair with',
  RequestsWithoutResponse:
    'requests reported without a response (connection ended, response timeout, or too many waiting)',
  ResponsesAfterTimeout: 'responses that came after their request was reported as timed out',
  BodiesNotKeptAtMemoryLimit:
    'bodies not kept (sizes kept) because unfinished exchanges held the stage body budget',
  Http2ConnectionsAbandoned:
    'HTTP/2 connections no longer followed (bytes lost, bad framing, or HPACK state lost)',
  Http2StreamsEvicted: 'HTTP/2 streams reported early because a connection had too many open',
  Http2GapsResynced:
    'gaps on HTTP/2 connections after which frame boundaries were found again (HPACK turned lenient)',
  HeadersTruncated: 'messages whose target, header or trailer bytes went past max_header_size',
  MidStreamConnectionsUnsynced:
    'connections joined mid-stream where no HTTP/1 message start was found in the first MiB',
  SpansDroppedAtExportQueue: 'spans dropped because the export queue was full',
  SpansExportFailed: 'spans an exporter failed to send',
  ExportRequests: 'export requests sent to the collector (retries included)',
  ExportRetries:
    'export requests retried (connection error, timeout, 429, 502, 503 or 504 from the collector)',
  SpansRetried: 'spans in export requests that were retried (once per retry)',
  SpansRejectedByCollector:
    'spans dropped because the collector refused them (a 4xx other than 429, or another answer not to retry)',
  SpansPartiallyRejected: 'spans the collector reported as rejected in a partial success',
  SpansDroppedAtShutdown: 'spans still undelivered when the stop deadline passed',
  ExportQueueSpans: 'spans waiting for export or in flight (now)',
  ExportQueueBytes: 'encoded bytes waiting for export or in flight (now)',
  ExportQueueMaxBytesTillNow: 'most encoded bytes the export queue held (high-water mark)',
  ExportLatencyMsLast: 'milliseconds the last successful export request took',
  ExportLatencyMsMax: 'milliseconds the slowest successful export request took (high-water mark)',
  ExchangesWithoutPod:
    'exchanges (Kubernetes mode) whose process maps to no known pod: gone before its cgroup was read, outside any pod, or its pod not listed yet',
  OwnConnectionsSkipped:
    "connections whose peer is one of the tracer's own sockets (its exports reaching a collector on this node): not captured",
  OwnConnectionEventsSkipped: 'kernel events of those connections, dropped before copying stopped',
} as const;

/** A built-in counter's name. */
export type CounterName = keyof typeof COUNTERS;

/**
 * What a counter's value means: `counter` a running total that only grows (events, bytes,
 * drops); `gauge` a value read now, or a high-water mark (queue sizes, latencies, the largest
 * batch seen).
 */
export type CounterKind = 'counter' | 'gauge';

/** The built-in counters that are gauges; every other built-in one is a running total. */
const BUILT_IN_GAUGES: ReadonlySet<CounterName> = new Set<CounterName>([
  'KprobeEventMaxQueueSizeTillNow',
  'ExportQueueSpans',
  'ExportQueueBytes',
  'ExportQueueMaxBytesTillNow',
  'ExportLatencyMsLast',
  'ExportLatencyMsMax',
]);

/** What a stage says about a counter it registers ({@link Stats.register}). */
export interface CounterSpec {
  /** What it counts, in a few words for the person reading the stats (Prometheus help text). */
  readonly description: string;
  /** Default `counter`. */
  readonly kind?: CounterKind;
}

/** One counter of a Stats set, built in or registered ({@link Stats.counters}). */
export interface CounterInfo {
  readonly name: string;
  readonly description: string;
  readonly kind: CounterKind;
  /** One of {@link COUNTERS}, rather than registered by a stage. */
  readonly builtIn: boolean;
}

/** A registered counter: moved through this handle, read in {@link Stats.snapshot} by its name. */
export interface Counter extends CounterInfo {
  /** Adds `n` (default 1). */
  inc(n?: number): void;
  /** Sets an absolute value. */
  set(value: number): void;
  /** Raises a high-water mark to `value` if it is larger. */
  max(value: number): void;
  /** The current value (0 if never moved). */
  get(): number;
}

/** A registered counter: one small object, its value a plain field. */
class RegisteredCounter implements Counter {
  readonly builtIn = false;
  private value = 0;
  constructor(
    readonly name: string,
    readonly description: string,
    readonly kind: CounterKind,
  ) {}
  inc(n = 1): void {
    this.value += n;
  }
  set(value: number): void {
    this.value = value;
  }
  max(value: number): void {
    if (value > this.value) this.value = value;
  }
  get(): number {
    return this.value;
  }
}

/** Names a stage may register: a letter, then letters, digits or `_` (valid Prometheus names). */
const COUNTER_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Every counter's values by name: built-in names always there, registered ones when registered. */
export type CounterValues = Record<CounterName, number> & { readonly [name: string]: number };

/**
 * A set of named counters and high-water marks, and probe stats per syscall: the built-in
 * {@link COUNTERS}, moved by name (`inc`, `set`, `max`), and the counters stages register
 * ({@link Stats.register}), moved through their handles.
 */
export class Stats {
  // Every built-in counter a property from the start: one object shape, plain property
  // increments (a Map's get and set per increment showed in pipeline profiles). Registered
  // counters are objects of their own, so they never change this object's shape.
  private readonly values = Object.fromEntries(Object.keys(COUNTERS).map((k) => [k, 0])) as Record<
    CounterName,
    number
  >;
  private readonly registered = new Map<string, RegisteredCounter>();
  private readonly probes = new Map<string, readonly [entries: number, exits: number]>();

  /**
   * Registers a counter of a stage's own and returns its handle. Registering the same name
   * with the same description and kind again returns the same handle (two instances of a stage
   * on one Stats count together); a built-in name, a name registered with another description
   * or kind, or a name that is not a letter then letters, digits or `_`, throws a
   * {@link TracerError} (`E_COUNTER`).
   *
   * @example
   * ```ts
   * const stats = new Stats();
   * const parsed = stats.register('RedisCommandsParsed', { description: 'Redis commands parsed' });
   * parsed.inc();
   * stats.snapshot().RedisCommandsParsed; // 1
   * ```
   */
  register(name: string, spec: CounterSpec): Counter {
    const kind = spec.kind ?? 'counter';
    const fail = (why: string) => {
      throw new TracerError(ErrorCode.Counter, `counter ${JSON.stringify(name)}: ${why}`);
    };
    if (typeof name !== 'string' || !COUNTER_NAME.test(name))
      fail('not a valid name (a letter, then letters, digits or _)');
    if (typeof spec.description !== 'string' || spec.description.trim() === '')
      fail('needs a description');
    if (kind !== 'counter' && kind !== 'gauge')
      fail(`kind ${JSON.stringify(kind)} is neither counter nor gauge`);
    if (Object.hasOwn(COUNTERS, name))
      fail(`the name is built in (${COUNTERS[name as CounterName]}): move it with Stats.inc`);
    const known = this.registered.get(name);
    if (known) {
      if (known.description !== spec.description)
        fail(`already registered as ${JSON.stringify(known.description)}: one name, one meaning`);
      if (known.kind !== kind) fail(`already registered as a ${known.kind}, not a ${kind}`);
      return known;
    }
    const counter = new RegisteredCounter(name, spec.description, kind);
    this.registered.set(name, counter);
    return counter;
  }

  /**
   * Every counter with its description and kind, built-in ones first, then registered ones in
   * the order they came: the help text to serve next to {@link Stats.snapshot}'s values.
   *
   * @example
   * ```ts
   * const values = stats.snapshot();
   * for (const { name, description, kind } of stats.counters())
   *   console.log(`# HELP ${name} ${description}\n# TYPE ${name} ${kind}\n${name} ${values[name]}`);
   * ```
   */
  counters(): CounterInfo[] {
    const builtIn = (Object.keys(COUNTERS) as CounterName[]).map((name) => ({
      name,
      description: COUNTERS[name],
      kind: BUILT_IN_GAUGES.has(name) ? ('gauge' as const) : ('counter' as const),
      builtIn: true,
    }));
    const registered = [...this.registered.values()].map(({ name, description, kind }) => ({
      name,
      description,
      kind,
      builtIn: false,
    }));
    return [...builtIn, ...registered];
  }

  /** Sets the probe stats of one syscall: calls entered and exited by captured processes. */
  setProbe(syscall: string, entries: number, exits: number): void {
    this.probes.set(syscall, [entries, exits]);
  }

  /** Probe stats as `{ syscall: [entries, exits] }`. */
  probeSnapshot(): Record<string, readonly [number, number]> {
    return Object.fromEntries(this.probes);
  }

  /** Adds `n` (default 1) to a built-in counter. */
  inc(name: CounterName, n = 1): void {
    this.values[name] += n;
  }

  /** Sets a built-in counter to an absolute value (for counters the kernel keeps). */
  set(name: CounterName, value: number): void {
    this.values[name] = value;
  }

  /** Raises a built-in high-water mark to `value` if it is larger. */
  max(name: CounterName, value: number): void {
    if (value > this.values[name]) this.values[name] = value;
  }

  /** The current value of a built-in counter (0 if never moved). */
  get(name: CounterName): number {
    return this.values[name] ?? 0;
  }

  /** All counters as a plain object: every built-in name, then every registered one. */
  snapshot(): CounterValues {
    const out: Record<string, number> = { ...this.values };
    for (const c of this.registered.values()) out[c.name] = c.get();
    return out as CounterValues;
  }
}

/** One reading of a Stats set. */
export interface StatsSnapshot {
  readonly counters: CounterValues;
  readonly probes: Record<string, readonly [number, number]>;
}

/** The counters and probe stats every `intervalMs`, as an Observable (cold; one timer per subscriber, running until unsubscribed). */
export function stats$(stats: Stats, intervalMs: number): Observable<StatsSnapshot> {
  return new Observable<StatsSnapshot>((subscriber) => {
    const timer = setInterval(
      () => subscriber.next({ counters: stats.snapshot(), probes: stats.probeSnapshot() }),
      intervalMs,
    );
    // Not unref'd: a subscriber waiting for a snapshot must get one; unsubscribing stops it.
    return () => clearInterval(timer);
  });
}
