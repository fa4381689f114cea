/**
 * Roles of connections the kernel found already open (accepted or connected before capture
 * began, or before their process was selected): the kernel reads their tuple from the socket but
 * can't tell an accepted socket from a connected one. A TCP socket whose local address and port
 * match a listening socket in its process's network namespace was accepted (server side); any
 * other was connected (client side). The listening sockets come from /proc/<pid>/net/tcp and
 * tcp6, read at most once per namespace per `cacheMs`.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { Observable, type OperatorFunction } from 'rxjs';
import type { CaptureMode, ConnectionOpenEvent, KernelEvent, Stats } from '@traceable-ebpf/core';
import { formatAddress } from './decode.js';

/** Options of {@link inferRoles}. */
export interface InferRolesOptions {
  /** Where procfs is mounted (a DaemonSet mounts the host's elsewhere). Default `/proc`. */
  readonly procRoot?: string;
  /** How long one namespace's listening sockets are reused. Default 1000 ms. */
  readonly cacheMs?: number;
  /**
   * Counts `RolesFromListeners`, `RolesUnresolved`, `ConnectionsOutsideMode` and
   * `EventsOutsideMode`.
   */
  readonly stats?: Stats;
  /**
   * Called with the id of a connection whose inferred role its process's capture mode excludes
   * (an ingress-only process's outgoing connection, say): pass it to the source's `disable$` so
   * the kernel stops copying it. Its events are dropped here either way.
   */
  readonly onOutsideMode?: (conn: string) => void;
}

/** A listening socket: address as the kernel prints it in /proc/net/tcp*, and port. */
interface Listener {
  readonly address: string;
  readonly port: number;
}

const TCP_LISTEN = '0A';
const AF_INET = 2;
const AF_INET6 = 10;
const IPV4_ANY = '0.0.0.0';
const IPV6_ANY = '::';

/** A /proc/net/tcp* address (hex, each 32-bit word in host order) as the decoder formats it. */
export function procAddress(hex: string): string {
  const bytes = new Uint8Array(16);
  const words = hex.match(/.{8}/g) ?? [];
  words.forEach((w, i) => {
    const v = parseInt(w, 16);
    bytes.set([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24], i * 4); // little-endian
  });
  return formatAddress(words.length === 1 ? AF_INET : AF_INET6, bytes);
}

/** The listening sockets in one /proc/net/tcp or tcp6 text. */
export function parseListeners(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== TCP_LISTEN) continue;
    const [addr, port] = f[1]!.split(':');
    if (!addr || !port) continue;
    out.push({ address: procAddress(addr), port: parseInt(port, 16) });
  }
  return out;
}

/** Connections remembered as dropped for their mode at once (oldest forgotten first). */
const MAX_OUTSIDE = 65536;

/** Whether a capture mode (absent: not known, so everything) covers a connection's role. */
export function modeCovers(mode: CaptureMode | undefined, role: 'server' | 'client'): boolean {
  if (!mode || mode === 'ingress_and_egress') return true;
  return mode === (role === 'server' ? 'ingress' : 'egress');
}

/** Whether `open`'s local end is a listening socket's (so the connection was accepted). */
export function isAccepted(open: ConnectionOpenEvent, listeners: readonly Listener[]): boolean {
  const { address, port } = open.local;
  return listeners.some(
    (l) =>
      l.port === port &&
      (l.address === address ||
        l.address === IPV6_ANY || // dual stack: IPv6 and IPv4-mapped
        (l.address === IPV4_ANY && !address.includes(':'))),
  );
}

/**
 * Sets the role of connections the kernel reports as `unknown` from the listening sockets of
 * their network namespace, then applies the process's capture mode the kernel couldn't: a
 * connection the mode excludes is dropped with its later events (see `onOutsideMode`).
 * Connections whose process is gone (or whose /proc can't be read) stay `unknown`; the protocol
 * parsers infer those from the first bytes. Other events pass through untouched. Use it on a
 * live source only: a replayed recording's /proc is gone.
 *
 * @example
 * ```ts
 * import { Subject } from 'rxjs';
 * import { Stats } from '@traceable-ebpf/core';
 * import { bpfSource, inferRoles } from '@traceable-ebpf/bpf-source';
 *
 * // Server-side capture of a process that already had connections open.
 * const stats = new Stats();
 * const disable$ = new Subject<string>();
 * bpfSource({ pids: [1234], mode: 'ingress', disable$, stats })
 *   .pipe(inferRoles({ stats, onOutsideMode: (conn) => disable$.next(conn) }))
 *   .subscribe((ev) => {
 *     if (ev.kind === 'open') console.log(ev.conn, ev.role);
 *   });
 * ```
 */
export function inferRoles(
  options: InferRolesOptions = {},
): OperatorFunction<KernelEvent, KernelEvent> {
  const proc = options.procRoot ?? '/proc';
  const cacheMs = options.cacheMs ?? 1000;
  const stats = options.stats;
  return (source) =>
    new Observable<KernelEvent>((subscriber) => {
      const byNamespace = new Map<string, { at: number; listeners: Listener[] }>();
      // Connections dropped for their mode, until their close (bounded: a lost close can't leak).
      const outside = new Set<string>();

      const listenersOf = (tgid: number): Listener[] | undefined => {
        let ns: string;
        try {
          ns = readlinkSync(`${proc}/${tgid}/ns/net`);
        } catch {
          return undefined;
        }
        const now = Date.now();
        const hit = byNamespace.get(ns);
        if (hit && now - hit.at < cacheMs) return hit.listeners;
        const listeners: Listener[] = [];
        let read = false;
        for (const file of ['tcp', 'tcp6']) {
          try {
            listeners.push(
              ...parseListeners(readFileSync(`${proc}/${tgid}/net/${file}`, 'latin1')),
            );
            read = true;
          } catch {
            // tcp6 is missing without IPv6; both missing: the process is gone
          }
        }
        if (!read) return undefined;
        if (byNamespace.size > 1024) byNamespace.clear(); // bounded: namespaces come and go
        byNamespace.set(ns, { at: now, listeners });
        return listeners;
      };

      return source.subscribe({
        next(ev) {
          if (outside.size > 0 && outside.has(ev.conn)) {
            stats?.inc('EventsOutsideMode');
            if (ev.kind === 'close') outside.delete(ev.conn);
            return;
          }
          if (ev.kind !== 'open' || ev.role !== 'unknown') {
            subscriber.next(ev);
            return;
          }
          const listeners = listenersOf(ev.tgid);
          if (!listeners) {
            stats?.inc('RolesUnresolved');
            subscriber.next(ev);
            return;
          }
          stats?.inc('RolesFromListeners');
          const role = isAccepted(ev, listeners) ? 'server' : 'client';
          if (!modeCovers(ev.mode, role)) {
            stats?.inc('ConnectionsOutsideMode');
            if (outside.size >= MAX_OUTSIDE) outside.delete(outside.values().next().value!);
            outside.add(ev.conn);
            options.onOutsideMode?.(ev.conn);
            return;
          }
          subscriber.next({ ...ev, role });
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
