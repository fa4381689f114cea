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
  readonly kind: 'data';
  readonly conn: string;
  readonly tgid: number;
  readonly direction: Direction;
  readonly offset: number;
  readonly data: Uint8Array;
  /** Kernel time of the syscall that moved the first byte (ns, CLOCK_MONOTONIC). */
  readonly tsNs: number;
}

/** A run of bytes that will never be seen; parsers must resynchronise after it. */
export interface StreamGapEvent {
  readonly kind: 'gap';
  readonly conn: string;
  readonly tgid: number;
  readonly direction: Direction;
  readonly offset: number;
  readonly length: number;
  readonly reason: GapReason;
  readonly tsNs: number;
}

/** The connection ended (closed by the process, or evicted for idleness or the bound). */
export interface StreamCloseEvent {
  readonly kind: 'close';
  readonly conn: string;
  readonly tgid: number;
  readonly tsNs: number;
  readonly reason: 'closed' | 'idle' | 'evicted' | 'end';
}

/** What `reassemble()` emits: per-connection ordered streams with explicit gaps. */
export type ConnectionEvent =
  | ConnectionOpenEvent
  | StreamDataEvent
  | StreamGapEvent
  | StreamCloseEvent;
