/**
 * The tracer process's own TCP client sockets, by local address and port: what a collector on
 * the same node sees as the remote end of each export connection. Fed by Node's
 * diagnostics_channel, so every client socket counts whatever library made it (the OTLP
 * exporter, a custom exporter, a Kubernetes client).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { Endpoint } from './events.js';

/** Options of {@link watchOwnSockets}. */
export interface OwnSocketsOptions {
  /**
   * How long a closed socket is still reported as own: the kernel's events of the peer's side
   * reach the pipeline later than the socket closes here. Default 10 000 ms.
   */
  readonly forgetAfterMs?: number;
  /** Sockets remembered at once, open and recently closed (oldest closed forgotten first). Default 4096. */
  readonly maxSockets?: number;
  /** Milliseconds of a monotonic clock. Default `performance.now`. */
  readonly now?: () => number;
}

/** Endpoints of the process's own sockets, asked by the stage that drops their peers' traffic. */
export interface OwnEndpoints {
  /**
   * Whether `endpoint` is the local end of one of the process's own sockets (open or recently
   * closed) — with `peerPort`, of one whose remote port is `peerPort`. A connection's far end
   * is the process's own socket when its remote end is the socket's local end and its local
   * port the socket's remote port: Linux lets connections to different peers share a local
   * port, so the local end alone could match another client's connection. (The port survives
   * a destination NAT that keeps it, as a Kubernetes Service with port = targetPort does.)
   */
  has(endpoint: Endpoint, peerPort?: number): boolean;
}

/** A running registry of the process's own client sockets. */
export interface OwnSockets extends OwnEndpoints {
  /**
   * Follows one more socket (one Node's channels don't publish, such as a TLS socket made with
   * `tls.connect` outside an HTTP request). Following a socket twice is harmless.
   */
  track(socket: Socket): void;
  /** Sockets remembered now, open and recently closed. */
  readonly size: number;
  /** Stops listening to the channels and forgets every socket. */
  close(): void;
}

/** The channel Node publishes every client socket made with `net.connect` on. */
const NET_CLIENT_SOCKET = 'net.client.socket';
/** The channel Node publishes every `http`/`https` client request on (TLS sockets included). */
const HTTP_CLIENT_REQUEST = 'http.client.request.start';

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** An address with IPv4-mapped IPv6 (`::ffff:127.0.0.1`) written as IPv4 (`127.0.0.1`). */
export function normaliseAddress(address: string): string {
  return IPV4_MAPPED.exec(address)?.[1] ?? address.toLowerCase();
}

/** One key per endpoint, the same for an IPv4 address and its IPv4-mapped IPv6 form. */
export function endpointKey(endpoint: Endpoint): string {
  return `${normaliseAddress(endpoint.address)}|${endpoint.port}`;
}

/**
 * Starts following the process's own TCP client sockets: each one's local address and port from
 * its `connect` until a little after its `close` (`forgetAfterMs`), at most `maxSockets` at once.
 * Sockets come from the `net.client.socket` channel (every `net.connect`, so Node's HTTP agent
 * and undici's fetch) and `http.client.request.start` (HTTPS requests' TLS sockets). The channels
 * are per thread: sockets a worker thread makes are not seen.
 */
export function watchOwnSockets(options: OwnSocketsOptions = {}): OwnSockets {
  const forgetAfterMs = options.forgetAfterMs ?? 10_000;
  const maxSockets = options.maxSockets ?? 4096;
  const now = options.now ?? (() => performance.now());
  // Local endpoints of connected sockets, with the remote port of each socket on it (Linux lets
  // two connections to different peers share a local port).
  const open = new Map<string, number[]>();
  // Local endpoints of closed sockets, with when and the remote port, oldest first.
  const closed = new Map<string, { readonly at: number; readonly peerPort: number }>();
  const tracked = new WeakSet<Socket>();
  let closedDown = false;

  const forgetExpired = () => {
    const t = now();
    for (const [key, { at }] of closed) {
      if (t - at <= forgetAfterMs) break;
      closed.delete(key);
    }
  };
  const keepBounded = () => {
    while (open.size + closed.size > maxSockets) {
      const oldest = closed.keys().next();
      if (!oldest.done) closed.delete(oldest.value);
      else open.delete(open.keys().next().value!);
    }
  };
  const connected = (key: string, peerPort: number) => {
    forgetExpired();
    closed.delete(key);
    const ports = open.get(key);
    if (ports) ports.push(peerPort);
    else open.set(key, [peerPort]);
    keepBounded();
  };
  const released = (key: string, peerPort: number) => {
    const ports = open.get(key);
    if (ports === undefined) return; // forgotten at the bound
    const i = ports.indexOf(peerPort);
    if (i >= 0) ports.splice(i, 1);
    if (ports.length > 0) return;
    open.delete(key);
    closed.delete(key); // re-inserted last: the newest closed
    closed.set(key, { at: now(), peerPort });
    forgetExpired();
  };

  const track = (socket: Socket) => {
    if (closedDown || tracked.has(socket)) return;
    tracked.add(socket);
    const onConnect = () => {
      if (closedDown || socket.localAddress === undefined || socket.localPort === undefined) return;
      // Read now: a closed socket no longer knows its ends.
      const key = endpointKey({ address: socket.localAddress, port: socket.localPort });
      const peerPort = socket.remotePort ?? -1;
      connected(key, peerPort);
      socket.once('close', () => {
        if (!closedDown) released(key, peerPort);
      });
    };
    if (socket.localPort !== undefined && !socket.connecting && !socket.destroyed) onConnect();
    else socket.once('connect', onConnect);
  };

  const onNetSocket = (message: unknown) => {
    const socket = (message as { socket?: Socket }).socket;
    if (socket) track(socket);
  };
  const onHttpRequest = (message: unknown) => {
    const request = (message as { request?: ClientRequest }).request;
    if (!request) return;
    // Set already unless the agent hands the socket over later (a queued request).
    if (request.socket) track(request.socket);
    else request.once('socket', track);
  };
  diagnosticsChannel.subscribe(NET_CLIENT_SOCKET, onNetSocket);
  diagnosticsChannel.subscribe(HTTP_CLIENT_REQUEST, onHttpRequest);

  return {
    has(endpoint, peerPort) {
      const key = endpointKey(endpoint);
      const ports = open.get(key);
      if (ports && (peerPort === undefined || ports.includes(peerPort))) return true;
      if (!closed.has(key)) return false;
      forgetExpired();
      const c = closed.get(key);
      return c !== undefined && (peerPort === undefined || c.peerPort === peerPort);
    },
    track,
    get size() {
      return open.size + closed.size;
    },
    close() {
      if (closedDown) return;
      closedDown = true;
      diagnosticsChannel.unsubscribe(NET_CLIENT_SOCKET, onNetSocket);
      diagnosticsChannel.unsubscribe(HTTP_CLIENT_REQUEST, onHttpRequest);
      open.clear();
      closed.clear();
    },
  };
}
