/**
 * Kernel events as user space sees them, after decoding: the contract between the event source
 * (bpf-source, or a replay) and every later stage.
 */

/** Who opened the connection, from the captured process's side. */
export type Role = 'server' | 'client' | 'unknown';

/**
 * Which of a process's connections are captured: `ingress` the ones it accepted (server side),
 * `egress` the ones it connected (client side), or both.
 */
export type CaptureMode = 'ingress' | 'egress' | 'ingress_and_egress';

/** Data the captured process sent, or received. */
export type Direction = 'send' | 'recv';

/** One end of a TCP connection. */
export interface Endpoint {
  /** IPv4 dotted quad or IPv6 text form. */
  readonly address: string;
  /** TCP port. */
  readonly port: number;
}

/** Fields every kernel event carries. */
export interface EventBase {
  /** Connection id `tgid:fd:generation`: unique even when an fd number is reused. */
  readonly conn: string;
  /** Process id (thread group id) of the process that owns the socket. */
  readonly tgid: number;
  /** The socket's file descriptor in that process. */
  readonly fd: number;
  /** Kernel CLOCK_MONOTONIC time of the event, in nanoseconds. */
  readonly tsNs: number;
}

/** A connection began to be tracked (accepted, connected, or first seen already open). */
export interface ConnectionOpenEvent extends EventBase {
  /** Discriminant of {@link KernelEvent}. */
  readonly kind: 'open';
  /** Thread that made the syscall (accept, connect, or the first one seen). */
  readonly tid: number;
  /** Accepted (`server`), connected (`client`), or not known (found already open). */
  readonly role: Role;
  /**
   * The capture mode of the process when the kernel saw the connection. The kernel applies it
   * to connections whose role it knows; for an `unknown` role user space applies it once the
   * role is inferred. Absent when not known (replays of older sources, TLS).
   */
  readonly mode?: CaptureMode;
  /**
   * The connection was already open when capture began (or its open was never seen): its first
   * bytes may fall mid-message, so parsers look for the next message start. Stays set when a
   * later stage infers the role.
   */
  readonly midStream?: boolean;
  /** IP version of the connection. */
  readonly family: 4 | 6;
  /** The captured process's end. */
  readonly local: Endpoint;
  /** The peer's end. */
  readonly remote: Endpoint;
  /** Bytes are TLS plaintext taken from a TLS library, not socket bytes. */
  readonly tls: boolean;
  /** The process's name (comm) when the connection was seen; empty if unknown. */
  readonly comm: string;
}

/** Bytes one syscall moved. `data.length < size` when the kernel copied only the start. */
export interface SocketDataEvent extends EventBase {
  /** Discriminant of {@link KernelEvent}. */
  readonly kind: 'data';
  /** Thread that made the syscall. */
  readonly tid: number;
  /** Sent or received by the captured process. */
  readonly direction: Direction;
  /** Position of `data[0]` in this connection's byte stream in `direction`. */
  readonly offset: number;
  /** Bytes the syscall moved. */
  readonly size: number;
  /** The bytes the kernel copied: the first `data.length` of `size`. */
  readonly data: Uint8Array;
  /** The syscall, for diagnostics (`read`, `writev`, …). */
  readonly syscall: string;
}

/** The process closed the connection. */
export interface ConnectionCloseEvent extends EventBase {
  /** Discriminant of {@link KernelEvent}. */
  readonly kind: 'close';
  /** Bytes the process sent on the connection (the send offset reached). */
  readonly sentBytes: number;
  /** Bytes the process received on it (the receive offset reached). */
  readonly recvBytes: number;
}

/** What an event source (the kernel, or a replayed recording) emits. */
export type KernelEvent = ConnectionOpenEvent | SocketDataEvent | ConnectionCloseEvent;

/** Builds the connection id string used as `conn` on every event. */
export function connectionId(tgid: number, fd: number, generation: number): string {
  return `${tgid}:${fd}:${generation}`;
}
