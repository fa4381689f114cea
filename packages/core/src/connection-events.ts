import type { ConnectionOpenEvent, Direction } from './events.js';

/** Why bytes of a stream are missing. */
export type GapReason =
  /** Events never arrived (ring buffer full, or joined late). */
  | 'lost'
  /** The kernel copied only the first part of a large syscall. */
  | 'truncated'
  /** Reassembly gave up waiting for out-of-order bytes (memory or reorder-window bound). */
  | 'overflow'
  /** Sent with sendfile: the kernel reports the size, never the bytes (a file's contents). */
  | 'sendfile';

/** Contiguous bytes of one direction of a connection, in stream order. */
export interface StreamDataEvent {
  /** Discriminant of {@link ConnectionEvent}. */
  readonly kind: 'data';
  /** Connection id (`tgid:fd:generation`). */
  readonly conn: string;
  /** Process id of the connection's process. */
  readonly tgid: number;
  /** Sent or received by the captured process. */
  readonly direction: Direction;
  /** Position of `data[0]` in this direction's byte stream. */
  readonly offset: number;
  /** The bytes, contiguous with the previous data or gap event of this direction. */
  readonly data: Uint8Array;
  /** Kernel time of the syscall that moved the first byte (ns, CLOCK_MONOTONIC). */
  readonly tsNs: number;
}

/** A run of bytes that will never be seen; parsers must resynchronise after it. */
export interface StreamGapEvent {
  /** Discriminant of {@link ConnectionEvent}. */
  readonly kind: 'gap';
  /** Connection id (`tgid:fd:generation`). */
  readonly conn: string;
  /** Process id of the connection's process. */
  readonly tgid: number;
  /** The direction with missing bytes. */
  readonly direction: Direction;
  /** Stream position of the first missing byte. */
  readonly offset: number;
  /** How many bytes are missing. */
  readonly length: number;
  /** Why they are missing. */
  readonly reason: GapReason;
  /** Kernel time (ns, CLOCK_MONOTONIC) of the event that revealed the gap. */
  readonly tsNs: number;
}

/** The connection ended (closed by the process, or evicted for idleness or the bound). */
export interface StreamCloseEvent {
  /** Discriminant of {@link ConnectionEvent}. */
  readonly kind: 'close';
  /** Connection id (`tgid:fd:generation`). */
  readonly conn: string;
  /** Process id of the connection's process. */
  readonly tgid: number;
  /** Kernel time (ns, CLOCK_MONOTONIC) of the event that ended it; 0 when none did. */
  readonly tsNs: number;
  /**
   * `closed` by the process, `idle` (no event for the idle timeout), `evicted` (the oldest
   * connection, to stay within the connection bound), or `end` (the source completed).
   */
  readonly reason: 'closed' | 'idle' | 'evicted' | 'end';
}

/** What `reassemble()` emits: per-connection ordered streams with explicit gaps. */
export type ConnectionEvent =
  | ConnectionOpenEvent
  | StreamDataEvent
  | StreamGapEvent
  | StreamCloseEvent;
