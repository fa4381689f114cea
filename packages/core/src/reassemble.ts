import { Observable, type OperatorFunction } from 'rxjs';
import type { ConnectionOpenEvent, Direction, KernelEvent, SocketDataEvent } from './events.js';
import type { ConnectionEvent, GapReason } from './connection-events.js';
import { Stats } from './stats.js';

/** Options of {@link reassemble}. */
export interface ReassembleOptions {
  /** Out-of-order events held per connection direction before the missing bytes are declared lost. Default 64. */
  readonly maxPendingEvents?: number;
  /** Bytes held out of order across all connections; past it the largest holder gives up. Default 64 MiB. */
  readonly maxPendingBytes?: number;
  /** How long out-of-order events wait for the bytes before them. Default 200 ms. */
  readonly reorderTimeoutMs?: number;
  /** Connections with no event for this long are closed as `idle`. Default 10 minutes. */
  readonly idleTimeoutMs?: number;
  /** Connections tracked at once; past it the least recently active is evicted. Default 65536. */
  readonly maxConnections?: number;
  /** Where the counters go. Default: a new set. */
  readonly stats?: Stats;
}

interface DirectionState {
  /** Stream offset of the next byte expected. */
  next: number;
  /** Events ahead of `next`, sorted by offset. */
  pending: SocketDataEvent[];
  pendingBytes: number;
  /** When the oldest pending event arrived (ms, Date.now()). */
  pendingSince: number;
}

interface ConnState {
  readonly tgid: number;
  /** Last activity (ms, the sweep's clock): for idleness. */
  lastSeen: number;
  /** Order of last activity: for evicting the least recently active. */
  lastSeq: number;
  readonly dirs: Record<Direction, DirectionState>;
}

const newDirection = (): DirectionState => ({
  next: 0,
  pending: [],
  pendingBytes: 0,
  pendingSince: 0,
});

/**
 * Orders each connection's bytes by the offsets the kernel assigned, per direction, and emits
 * contiguous data with explicit gap markers (lost events, truncated copies). Memory is bounded:
 * out-of-order bytes per direction and in total, and the number of connections.
 *
 * @example
 * ```ts
 * import { Stats, reassemble } from '@traceable-ebpf/core';
 * import { replaySource } from '@traceable-ebpf/bpf-source';
 *
 * const stats = new Stats();
 * replaySource('session.rec')
 *   .pipe(reassemble({ stats }))
 *   .subscribe((ev) => {
 *     if (ev.kind === 'gap') console.log(ev.conn, ev.direction, `${ev.length} B missing: ${ev.reason}`);
 *   });
 * ```
 */
export function reassemble(
  options: ReassembleOptions = {},
): OperatorFunction<KernelEvent, ConnectionEvent> {
  const maxPendingEvents = options.maxPendingEvents ?? 64;
  const maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
  const reorderTimeoutMs = options.reorderTimeoutMs ?? 200;
  const idleTimeoutMs = options.idleTimeoutMs ?? 10 * 60 * 1000;
  const maxConnections = options.maxConnections ?? 65536;
  const stats = options.stats ?? new Stats();

  return (source) =>
    new Observable<ConnectionEvent>((subscriber) => {
      const conns = new Map<string, ConnState>();
      let totalPending = 0;
      // Activity times only serve idleness (minutes) and eviction order: a clock read on each
      // sweep is precise enough, and Date.now() per event showed in profiles.
      let now = Date.now();
      let seq = 0;

      const emitGap = (
        conn: string,
        tgid: number,
        direction: Direction,
        offset: number,
        length: number,
        reason: GapReason,
        tsNs: number,
      ) => {
        stats.inc('ReassemblyGaps');
        stats.inc('ReassemblyGapBytes', length);
        subscriber.next({ kind: 'gap', conn, tgid, direction, offset, length, reason, tsNs });
      };

      /** Emits an in-order event (trimming bytes already seen) and advances `next`. */
      const deliver = (ev: SocketDataEvent, d: DirectionState) => {
        const end = ev.offset + ev.size;
        if (end <= d.next) {
          stats.inc('ReassemblyDuplicateEvents');
          return;
        }
        const skip = d.next - ev.offset; // > 0 only when events overlap
        const copied = ev.data.length;
        if (skip === 0 && copied > 0) {
          // The usual case: the kernel event is already a stream event (one object less per event).
          subscriber.next(ev);
        } else if (skip < copied) {
          const data = skip > 0 ? ev.data.subarray(skip) : ev.data;
          subscriber.next({
            kind: 'data',
            conn: ev.conn,
            tgid: ev.tgid,
            direction: ev.direction,
            offset: d.next,
            data,
            tsNs: ev.tsNs,
          });
        }
        const copiedEnd = ev.offset + copied;
        if (copiedEnd < end) {
          const from = Math.max(copiedEnd, d.next);
          emitGap(
            ev.conn,
            ev.tgid,
            ev.direction,
            from,
            end - from,
            ev.syscall === 'sendfile' ? 'sendfile' : 'truncated',
            ev.tsNs,
          );
        }
        d.next = end;
      };

      /** Delivers pending events that have become contiguous; with `force`, skips the hole before the first. */
      const drain = (d: DirectionState, force: GapReason | undefined) => {
        while (d.pending.length > 0) {
          const head = d.pending[0]!;
          if (head.offset > d.next) {
            if (!force) break;
            emitGap(
              head.conn,
              head.tgid,
              head.direction,
              d.next,
              head.offset - d.next,
              force,
              head.tsNs,
            );
            d.next = head.offset;
          }
          d.pending.shift();
          d.pendingBytes -= head.data.length;
          totalPending -= head.data.length;
          deliver(head, d);
        }
        d.pendingSince = d.pending.length > 0 ? Date.now() : 0;
      };

      const track = (ev: KernelEvent): ConnState => {
        let st = conns.get(ev.conn);
        if (!st) {
          if (conns.size >= maxConnections) evictOldest();
          st = {
            tgid: ev.tgid,
            lastSeen: now,
            lastSeq: ++seq,
            dirs: { send: newDirection(), recv: newDirection() },
          };
          conns.set(ev.conn, st);
        } else {
          st.lastSeen = now;
          st.lastSeq = ++seq;
        }
        return st;
      };

      const finish = (
        conn: string,
        st: ConnState,
        reason: 'closed' | 'idle' | 'evicted' | 'end',
        tsNs: number,
        finalOffsets?: Record<Direction, number>,
      ) => {
        for (const dir of ['send', 'recv'] as const) {
          const d = st.dirs[dir];
          drain(d, 'lost');
          const final = finalOffsets?.[dir];
          if (final !== undefined && final > d.next) {
            emitGap(conn, st.tgid, dir, d.next, final - d.next, 'lost', tsNs);
            d.next = final;
          }
        }
        conns.delete(conn);
        subscriber.next({ kind: 'close', conn, tgid: st.tgid, tsNs, reason });
      };

      /** At the connection bound: the least recently active goes (a scan, but only then). */
      const evictOldest = () => {
        let oldest: [string, ConnState] | undefined;
        for (const entry of conns)
          if (!oldest || entry[1].lastSeq < oldest[1].lastSeq) oldest = entry;
        if (!oldest) return;
        stats.inc('ConnectionsEvicted');
        finish(oldest[0], oldest[1], 'evicted', 0);
      };

      const onData = (ev: SocketDataEvent) => {
        let st = conns.get(ev.conn);
        if (!st) {
          stats.inc('ReassemblyOrphanEvents');
          subscriber.next(orphanOpen(ev));
          st = track(ev);
        } else {
          st.lastSeen = now;
          st.lastSeq = ++seq;
        }
        const send = ev.direction === 'send';
        const d = send ? st.dirs.send : st.dirs.recv;
        // Bytes moving the other way mean the peer answered (or asked): whatever the held
        // direction still misses is lost, not late. Without this, a response could overtake the
        // request it answers while that request waits for missing bytes.
        const other = send ? st.dirs.recv : st.dirs.send;
        if (other.pending.length > 0) drain(other, 'lost');
        if (ev.offset <= d.next) {
          deliver(ev, d);
          drain(d, undefined);
          return;
        }
        // Ahead of the stream: hold it until the bytes before it arrive (or we give up).
        let i = d.pending.length;
        while (i > 0 && d.pending[i - 1]!.offset > ev.offset) i--;
        d.pending.splice(i, 0, ev);
        d.pendingBytes += ev.data.length;
        totalPending += ev.data.length;
        if (d.pending.length === 1) d.pendingSince = Date.now();
        if (d.pending.length > maxPendingEvents) drain(d, 'overflow');
        if (totalPending > maxPendingBytes) relieveMemory();
      };

      const relieveMemory = () => {
        let largest: DirectionState | undefined;
        for (const st of conns.values()) {
          for (const d of [st.dirs.send, st.dirs.recv])
            if (!largest || d.pendingBytes > largest.pendingBytes) largest = d;
        }
        if (largest) drain(largest, 'overflow');
      };

      const sweep = () => {
        now = Date.now();
        for (const [conn, st] of [...conns]) {
          if (now - st.lastSeen >= idleTimeoutMs) {
            stats.inc('ConnectionsEvicted');
            finish(conn, st, 'idle', 0);
            continue;
          }
          for (const d of [st.dirs.send, st.dirs.recv]) {
            if (d.pending.length > 0 && now - d.pendingSince >= reorderTimeoutMs) drain(d, 'lost');
          }
        }
      };
      const timer = setInterval(sweep, Math.max(10, Math.min(reorderTimeoutMs, idleTimeoutMs) / 2));
      timer.unref();

      const subscription = source.subscribe({
        next(ev) {
          switch (ev.kind) {
            case 'open': {
              const prev = conns.get(ev.conn);
              if (prev) finish(ev.conn, prev, 'evicted', ev.tsNs);
              track(ev);
              subscriber.next(ev);
              break;
            }
            case 'data':
              onData(ev);
              break;
            case 'close': {
              const st = conns.get(ev.conn);
              if (st)
                finish(ev.conn, st, 'closed', ev.tsNs, { send: ev.sentBytes, recv: ev.recvBytes });
              break;
            }
          }
        },
        error(err) {
          subscriber.error(err);
        },
        complete() {
          for (const [conn, st] of [...conns]) finish(conn, st, 'end', 0);
          subscriber.complete();
        },
      });
      return () => {
        clearInterval(timer);
        subscription.unsubscribe();
        conns.clear();
      };
    });
}

/** An open event for a connection whose real one was never seen: role and addresses unknown. */
function orphanOpen(ev: SocketDataEvent): ConnectionOpenEvent {
  return {
    kind: 'open',
    conn: ev.conn,
    tgid: ev.tgid,
    fd: ev.fd,
    tid: ev.tid,
    tsNs: ev.tsNs,
    role: 'unknown',
    midStream: true,
    family: 4,
    local: { address: '0.0.0.0', port: 0 },
    remote: { address: '0.0.0.0', port: 0 },
    tls: false,
    comm: '',
  };
}
