/**
 * The built-in counters: names that follow the product the project models, what each counts, and
 * which of them are gauges.
 */

/** The built-in counters every stage may move, with what each one counts. */
export const COUNTERS = {
  /** Connection open and close events received from the kernel. A running total, in events. */
  ControlEventReceived: 'connection open/close events received from the kernel',
  /** Data events (captured socket bytes) received from the kernel. A running total, in events. */
  DataEventReceived: 'data events received from the kernel',
  /**
   * Events the kernel dropped because the ring buffer was full. A running total, in events, counted
   * in the kernel.
   */
  EventLost: 'events the kernel dropped because the ring buffer was full',
  /**
   * Bytes a syscall moved beyond what one kernel event copies: moved by the process, not captured.
   * A running total, in bytes, counted in the kernel.
   */
  BytesTruncated: 'bytes a syscall moved beyond what one kernel event copies',
  /**
   * Connections the kernel could not track because its connection map was full. A running total, in
   * connections, counted in the kernel.
   */
  ConnTableFull: 'connections the kernel could not track (conns map full)',
  /**
   * Kernel copies of user memory that failed. A running total, in copies, counted in the kernel.
   */
  KernelCopyFailed: 'kernel copies of user memory that failed',
  /**
   * Bytes sent with `sendfile`: their size is reported, their contents are not captured. A running
   * total, in bytes, counted in the kernel.
   */
  SendfileBytes: 'bytes sent with sendfile (sizes reported, contents not captured)',
  /**
   * Bytes on connections whose copying was disabled (protocols no parser reads). A running total,
   * in bytes, counted in the kernel.
   */
  BytesOnDisabledConnections:
    'bytes on connections whose copying was disabled (unparsed protocols)',
  /**
   * Messages of a `sendmmsg` or `recvmmsg` call past the 64 the kernel reports per call. A running
   * total, in messages, counted in the kernel.
   */
  MmsgMessagesUnaccounted: 'sendmmsg/recvmmsg messages past the 64 the kernel reports per call',
  /**
   * Connections found already open whose role (server or client) came from the listening sockets in
   * `/proc`. A running total, in connections.
   */
  RolesFromListeners:
    'connections found already open whose role came from the listening sockets in /proc',
  /**
   * Connections found already open whose process's `/proc` entry was gone, so their role stays
   * unknown. A running total, in connections.
   */
  RolesUnresolved: 'connections found already open whose /proc was gone (role left unknown)',
  /**
   * Connections found already open whose inferred role the capture mode excludes; they are dropped.
   * A running total, in connections.
   */
  ConnectionsOutsideMode:
    'connections found already open whose inferred role the capture mode excludes (dropped)',
  /**
   * Events of the connections counted by `ConnectionsOutsideMode`, dropped before their copying was
   * disabled. A running total, in events.
   */
  EventsOutsideMode: 'events of those connections, dropped before copying was disabled',
  /**
   * Socket calls whose arguments the kernel could not keep from the call's entry to its exit; their
   * bytes are missed. A running total, in calls, counted in the kernel.
   */
  CallsUntracked:
    'socket calls whose arguments the kernel could not keep from entry to exit (bytes missed)',
  /** Connections the kernel was told to stop copying. A running total, in connections. */
  ConnectionsDisabled: 'connections the kernel was told to stop copying',
  /**
   * Stream gaps that fell inside a message body of known length; the message is kept. A running
   * total, in gaps.
   */
  GapsAbsorbedInBodies:
    'stream gaps that fell inside a message body of known length (message kept)',
  /**
   * Stream gaps before a connection's protocol was known; the connection is followed from there as
   * if joined mid-stream. A running total, in gaps.
   */
  GapsBeforeParsing:
    "stream gaps before a connection's protocol was known (followed from there as if joined mid-stream)",
  /** HTTP requests parsed. A running total, in requests. */
  TotalRequestsParsed: 'HTTP requests parsed',
  /** HTTP responses parsed. A running total, in responses. */
  TotalResponsesParsed: 'HTTP responses parsed',
  /**
   * Requests that failed to parse: bad bytes, or cut short by the end of the stream. A running
   * total, in requests.
   */
  ReqParsingErrors:
    'requests that failed to parse (bad bytes, or cut short by the end of the stream)',
  /**
   * Responses that failed to parse: bad bytes, or cut short by the end of the stream. A running
   * total, in responses.
   */
  ResParsingErrors:
    'responses that failed to parse (bad bytes, or cut short by the end of the stream)',
  /**
   * Spans handed to the exporter and accepted. A running total, in spans (export requests are
   * counted by `ExportRequests`).
   */
  TotalRequestsSent: 'spans handed to the exporter and accepted',
  /** Events dropped because a queue was full. A running total, in events. */
  TotalEventsDroppedAtEventQueueLimit: 'events dropped because a queue was full',
  /**
   * Stream bytes the parsers skipped: unparsable, of an unknown protocol, or after a gap. A running
   * total, in bytes (not events).
   */
  TotalEventsDroppedAtParsing:
    'stream bytes skipped by parsers (unparsable, unknown protocol, after gaps)',
  /**
   * The largest batch of events seen from the kernel at once. A gauge (high-water mark), in events.
   */
  KprobeEventMaxQueueSizeTillNow: 'largest event batch seen from the kernel (high-water mark)',
  /**
   * Times the source stopped reading the kernel's buffer because the pipeline had
   * `maxBytesInFlight` of batches unhandled (it reads on once the pipeline catches up; meanwhile
   * the buffer fills, and what it can't hold is EventLost). Counted by the worker as it pauses,
   * read as batches arrive. A running total, in pauses.
   */
  KernelReadPauses: "times reading the kernel's buffer paused for the pipeline to catch up",
  /**
   * The most bytes of kernel event batches handed to the pipeline and not yet handled, seen as
   * each batch arrives: the source's `maxBytesInFlight` plus at most one batch. A gauge
   * (high-water mark), in bytes.
   */
  KernelBatchBytesInFlightMaxTillNow:
    'most bytes of kernel event batches in flight to the pipeline (high-water mark)',
  /**
   * The most bytes of records waiting in the kernel's ring buffer when the worker began reading
   * it: how close the buffer came to full (past its size, records are EventLost). Ring buffer
   * transport only (a perf buffer doesn't say). A gauge (high-water mark), in bytes.
   */
  KernelRingBytesMaxTillNow:
    "most bytes waiting in the kernel's ring buffer when it was read (high-water mark)",
  /** Gaps marked in connection streams. A running total, in gaps. */
  ReassemblyGaps: 'gaps marked in connection streams',
  /**
   * Bytes missing from connection streams (the lengths of the gaps `ReassemblyGaps` counts). A
   * running total, in bytes.
   */
  ReassemblyGapBytes: 'bytes missing from connection streams',
  /** Data events whose bytes were already seen. A running total, in events. */
  ReassemblyDuplicateEvents: 'data events whose bytes were already seen',
  /** Data events for a connection whose open event was not seen. A running total, in events. */
  ReassemblyOrphanEvents: 'data events for a connection whose open event was not seen',
  /**
   * Connections evicted by the bound on the number of connections followed, or for idleness. A
   * running total, in connections.
   */
  ConnectionsEvicted: 'connections evicted by the connection-count bound or idleness',
  /** Responses that had no request to pair with. A running total, in responses. */
  ResponsesWithoutRequest: 'responses that had no request to pair with',
  /**
   * Requests reported without a response: the connection ended, none came within the response
   * timeout, or too many requests were waiting (see {@link ApiExchange.unanswered}). A running
   * total, in requests.
   */
  RequestsWithoutResponse:
    'requests reported without a response (connection ended, response timeout, or too many waiting)',
  /**
   * Responses that came after their request was reported as timed out; they are dropped. A running
   * total, in responses.
   */
  ResponsesAfterTimeout: 'responses that came after their request was reported as timed out',
  /**
   * Bodies not kept (their sizes are) because unfinished exchanges held the stage's whole body
   * budget. A running total, in bodies.
   */
  BodiesNotKeptAtMemoryLimit:
    'bodies not kept (sizes kept) because unfinished exchanges held the stage body budget',
  /**
   * HTTP/2 connections no longer followed: bytes lost, bad framing, or HPACK state lost. A running
   * total, in connections.
   */
  Http2ConnectionsAbandoned:
    'HTTP/2 connections no longer followed (bytes lost, bad framing, or HPACK state lost)',
  /**
   * HTTP/2 streams reported before they ended because their connection had too many open. A running
   * total, in streams.
   */
  Http2StreamsEvicted: 'HTTP/2 streams reported early because a connection had too many open',
  /**
   * Gaps on HTTP/2 connections after which frame boundaries were found again; HPACK decoding turns
   * lenient from there. A running total, in gaps.
   */
  Http2GapsResynced:
    'gaps on HTTP/2 connections after which frame boundaries were found again (HPACK turned lenient)',
  /**
   * Messages whose target, header or trailer bytes went past `max_header_size`. A running total, in
   * messages.
   */
  HeadersTruncated: 'messages whose target, header or trailer bytes went past max_header_size',
  /**
   * Connections joined mid-stream in whose first MiB no HTTP/1 message start was found. A running
   * total, in connections.
   */
  MidStreamConnectionsUnsynced:
    'connections joined mid-stream where no HTTP/1 message start was found in the first MiB',
  /** Spans dropped because the export queue was full. A running total, in spans. */
  SpansDroppedAtExportQueue: 'spans dropped because the export queue was full',
  /** Spans an exporter failed to send. A running total, in spans. */
  SpansExportFailed: 'spans an exporter failed to send',
  /** Export requests sent to the collector, retries included. A running total, in requests. */
  ExportRequests: 'export requests sent to the collector (retries included)',
  /**
   * Export requests retried after a connection error, a timeout, or a 429, 502, 503 or 504 from the
   * collector. A running total, in requests.
   */
  ExportRetries:
    'export requests retried (connection error, timeout, 429, 502, 503 or 504 from the collector)',
  /**
   * Spans in export requests that were retried, counted once per retry. A running total, in spans.
   */
  SpansRetried: 'spans in export requests that were retried (once per retry)',
  /**
   * Spans dropped because the collector refused them: a 4xx other than 429, or another answer not
   * to retry. A running total, in spans.
   */
  SpansRejectedByCollector:
    'spans dropped because the collector refused them (a 4xx other than 429, or another answer not to retry)',
  /** Spans the collector reported as rejected in a partial success. A running total, in spans. */
  SpansPartiallyRejected: 'spans the collector reported as rejected in a partial success',
  /** Spans still undelivered when the stop deadline passed. A running total, in spans. */
  SpansDroppedAtShutdown: 'spans still undelivered when the stop deadline passed',
  /** Spans waiting for export or in flight. A gauge (the value now), in spans. */
  ExportQueueSpans: 'spans waiting for export or in flight (now)',
  /**
   * Encoded bytes of the spans waiting for export or in flight. A gauge (the value now), in bytes.
   */
  ExportQueueBytes: 'encoded bytes waiting for export or in flight (now)',
  /** The most encoded bytes the export queue has held. A gauge (high-water mark), in bytes. */
  ExportQueueMaxBytesTillNow: 'most encoded bytes the export queue held (high-water mark)',
  /** How long the last successful export request took. A gauge, in milliseconds. */
  ExportLatencyMsLast: 'milliseconds the last successful export request took',
  /**
   * How long the slowest successful export request took. A gauge (high-water mark), in
   * milliseconds.
   */
  ExportLatencyMsMax: 'milliseconds the slowest successful export request took (high-water mark)',
  /**
   * Exchanges (Kubernetes mode) whose process maps to no known pod: it was gone before its cgroup
   * was read, it runs outside any pod, or its pod is not listed yet. A running total, in exchanges.
   */
  ExchangesWithoutPod:
    'exchanges (Kubernetes mode) whose process maps to no known pod: gone before its cgroup was read, outside any pod, or its pod not listed yet',
  /**
   * Connections whose peer is one of the tracer's own sockets (its exports reaching a collector on
   * this node); they are not captured. A running total, in connections.
   */
  OwnConnectionsSkipped:
    "connections whose peer is one of the tracer's own sockets (its exports reaching a collector on this node): not captured",
  /**
   * Kernel events of the connections counted by `OwnConnectionsSkipped`, dropped before their
   * copying stopped. A running total, in events.
   */
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
export const BUILT_IN_GAUGES: ReadonlySet<CounterName> = new Set<CounterName>([
  'KprobeEventMaxQueueSizeTillNow',
  'KernelBatchBytesInFlightMaxTillNow',
  'KernelRingBytesMaxTillNow',
  'ExportQueueSpans',
  'ExportQueueBytes',
  'ExportQueueMaxBytesTillNow',
  'ExportLatencyMsLast',
  'ExportLatencyMsMax',
]);
