import { Observable } from 'rxjs';

/**
 * Named counters. Every place that can drop data increments one; the tracer logs them every
 * `stats_interval` and serves them as metrics. Names follow the product the project models.
 */

/** The counters every stage may move, with what each one counts. */
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

/** A counter name. */
export type CounterName = keyof typeof COUNTERS;

/** A set of named counters and high-water marks, and probe stats per syscall. */
export class Stats {
  // Every counter a property from the start: one object shape, plain property increments (a
  // Map's get and set per increment showed in pipeline profiles).
  private readonly values = Object.fromEntries(Object.keys(COUNTERS).map((k) => [k, 0])) as Record<
    CounterName,
    number
  >;
  private readonly probes = new Map<string, readonly [entries: number, exits: number]>();

  /** Sets the probe stats of one syscall: calls entered and exited by captured processes. */
  setProbe(syscall: string, entries: number, exits: number): void {
    this.probes.set(syscall, [entries, exits]);
  }

  /** Probe stats as `{ syscall: [entries, exits] }`. */
  probeSnapshot(): Record<string, readonly [number, number]> {
    return Object.fromEntries(this.probes);
  }

  /** Adds `n` (default 1) to a counter. */
  inc(name: CounterName, n = 1): void {
    this.values[name] += n;
  }

  /** Sets a counter to an absolute value (for counters the kernel keeps). */
  set(name: CounterName, value: number): void {
    this.values[name] = value;
  }

  /** Raises a high-water mark to `value` if it is larger. */
  max(name: CounterName, value: number): void {
    if (value > this.values[name]) this.values[name] = value;
  }

  /** The current value of a counter (0 if never moved). */
  get(name: CounterName): number {
    return this.values[name] ?? 0;
  }

  /** All counters, every known name included, as a plain object. */
  snapshot(): Record<CounterName, number> {
    return { ...this.values };
  }
}

/** One reading of a Stats set. */
export interface StatsSnapshot {
  readonly counters: Record<CounterName, number>;
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
