/**
 * No feedback loop: with every process captured and a collector on the same node, the kernel
 * skips the tracer's own sockets, but the collector's side of each export connection is another
 * process's and would be captured, so each export would become spans to export. This stage drops
 * the connections whose remote end is one of the tracer's own sockets.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Endpoint, KernelEvent } from './events.js';
import type { OwnEndpoints } from './own-sockets.js';
import type { Stats } from './stats.js';

/** Options of {@link skipOwnConnections}. */
export interface SkipOwnConnectionsOptions {
  /** The process's own sockets (see `watchOwnSockets`). */
  readonly sockets: OwnEndpoints;
  /** Counts `OwnConnectionsSkipped` (once per connection) and `OwnConnectionEventsSkipped`. */
  readonly stats?: Stats;
  /**
   * Called once with the id of each connection found to be the tracer's own traffic: pass it to
   * the source's `disable$` so the kernel stops copying it. Its events are dropped here either way.
   */
  readonly onOwnConnection?: (conn: string) => void;
  /** Connections followed at once, each set (oldest forgotten first). Default 65536. */
  readonly maxConnections?: number;
}

/** Adds to an insertion-ordered map, forgetting the oldest entry past `max`. */
function setBounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  if (map.size >= max && !map.has(key)) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/**
 * What happens to one event, from the stage's two maps: `drop` it, `pass` it, `check` the remote
 * endpoint first (an open event, or the first data event of a connection not own at open), or
 * end a skipped connection (`close-skipped`).
 */
function ownDecision(
  ev: KernelEvent,
  skipped: ReadonlyMap<string, boolean>,
  unchecked: ReadonlyMap<string, unknown>,
): 'drop' | 'pass' | 'check' | 'close-skipped' {
  if (skipped.has(ev.conn)) return ev.kind === 'close' ? 'close-skipped' : 'drop';
  if (ev.kind === 'open') return 'check';
  if (ev.kind === 'data' && unchecked.has(ev.conn)) return 'check';
  return 'pass';
}

/**
 * Drops every event of a connection whose remote endpoint is one of the tracer's own sockets.
 * Decided on the open event; a connection not own then is checked once more at its first data
 * event (the registry learns a socket at its `connect`, before any byte is sent, but the peer's
 * open event can in principle reach the pipeline first), then no longer. A connection found
 * out at its first data event had its open passed on, so its close is passed on too (later
 * stages free their state; no byte of it reaches them). Other events pass untouched; events of
 * connections whose open was never seen can't be told apart and pass.
 *
 * @example
 * ```ts
 * import { Subject, of } from 'rxjs';
 * import { Stats, reassemble, skipOwnConnections, watchOwnSockets } from '@traceable-ebpf/core';
 * import { bpfSource } from '@traceable-ebpf/bpf-source';
 *
 * // Every process is captured: a collector on this host must not see its side of our exports.
 * const stats = new Stats();
 * const disable$ = new Subject<string>();
 * bpfSource({ policy$: of({ processes: [], all: 'ingress_and_egress' }), disable$, stats })
 *   .pipe(
 *     skipOwnConnections({
 *       sockets: watchOwnSockets(),
 *       stats,
 *       onOwnConnection: (conn) => disable$.next(conn),
 *     }),
 *     reassemble({ stats }),
 *   )
 *   .subscribe();
 * ```
 */
export function skipOwnConnections(
  options: SkipOwnConnectionsOptions,
): OperatorFunction<KernelEvent, KernelEvent> {
  const { sockets, stats } = options;
  const max = options.maxConnections ?? 65536;
  return (source) =>
    new Observable<KernelEvent>((subscriber) => {
      // Connections found to be own traffic, until their close, with whether their open event
      // was passed on before they were found out (then their close is passed on too).
      const skipped = new Map<string, boolean>();
      // Connections not own at open whose first data event is still to be checked.
      const unchecked = new Map<string, readonly [remote: Endpoint, localPort: number]>();

      const skip = (conn: string, openPassed: boolean) => {
        unchecked.delete(conn);
        setBounded(skipped, conn, openPassed, max);
        stats?.inc('OwnConnectionsSkipped');
        stats?.inc('OwnConnectionEventsSkipped');
        options.onOwnConnection?.(conn);
      };

      const sub = source.subscribe({
        next(ev) {
          switch (ownDecision(ev, skipped, unchecked)) {
            case 'drop':
              stats?.inc('OwnConnectionEventsSkipped');
              return;
            case 'close-skipped': {
              const openPassed = skipped.get(ev.conn)!;
              skipped.delete(ev.conn);
              if (openPassed) return subscriber.next(ev);
              stats?.inc('OwnConnectionEventsSkipped');
              return;
            }
            case 'check': {
              if (ev.kind === 'open') {
                if (sockets.has(ev.remote, ev.local.port)) return skip(ev.conn, false);
                setBounded(unchecked, ev.conn, [ev.remote, ev.local.port] as const, max);
                return subscriber.next(ev);
              }
              const [remote, localPort] = unchecked.get(ev.conn)!;
              if (sockets.has(remote, localPort)) return skip(ev.conn, true);
              unchecked.delete(ev.conn);
              return subscriber.next(ev);
            }
            case 'pass':
              if (ev.kind === 'close') unchecked.delete(ev.conn);
              return subscriber.next(ev);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        skipped.clear();
        unchecked.clear();
      };
    });
}
