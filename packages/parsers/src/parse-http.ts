/**
 * The parser stage: reassembled connection streams in, API exchanges out. It keeps the
 * connection table, holds a connection's first bytes until a registered {@link Protocol}
 * recognises them, and hands the connection to that protocol's parser (or, after an `Upgrade`,
 * to another's). What no protocol recognises is counted and dropped, and the source is told.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import {
  Stats,
  type ApiExchange,
  type ConnectionEvent,
  type ConnectionInfo,
  type ConnectionOpenEvent,
  type Direction,
  type Role,
} from '@traceable-ebpf/core';
import type {
  ConnectionParser,
  Detection,
  ParserContext,
  ParserOutcome,
  Protocol,
  ProtocolUpgrade,
} from './protocol.js';
import type { BodyBudget } from './shared/body-budget.js';
import { otherDirection } from './shared/directions.js';
import { MID_STREAM_SEARCH_BYTES, carryTail, withCarry } from './shared/carried-search.js';
import { http1Protocol } from './http1/protocol.js';
import { http2Protocol } from './http2/protocol.js';

/** Options of {@link parseHttp}. */
export interface ParseHttpOptions {
  /**
   * The protocols detected, asked in this order (the first that does not say `no` decides).
   * Default: HTTP/2, then HTTP/1.
   */
  readonly protocols?: readonly Protocol[];
  /**
   * `false` leaves HTTP/2 out of the protocols (connections starting with the client preface
   * are then not followed, nor upgraded to `h2c`). Default true.
   */
  readonly http2?: boolean;
  /** Body bytes kept per message; the full size is always counted. Default 64 KiB. */
  readonly maxBodyBytes?: number;
  /** Header bytes kept per message. Default 64 KiB. */
  readonly maxHeaderBytes?: number;
  /** Unanswered requests kept per connection. Default 256. */
  readonly maxPendingRequests?: number;
  /**
   * Body bytes kept by unfinished exchanges (HTTP/1 requests waiting for responses, open HTTP/2
   * streams), across all connections; past it bodies are not kept (sizes are), counted as
   * `BodiesNotKeptAtMemoryLimit`. Default 64 MiB.
   */
  readonly maxPendingBodyBytes?: number;
  /**
   * A request unanswered for this long is reported without a response (`unanswered: 'timeout'`);
   * a response arriving later is dropped and counted. Default 30 000 ms; 0: only when the
   * connection ends.
   */
  readonly responseTimeoutMs?: number;
  /** Where the counters go. Default: a new set. */
  readonly stats?: Stats;
  /**
   * Called when a connection turns out to carry no protocol the stage parses (or switched to
   * one), so the source can stop copying it.
   */
  readonly onUnsupported?: (conn: string) => void;
}

/** Options of {@link parseHttp1}. @deprecated Use {@link ParseHttpOptions}. */
export type ParseHttp1Options = ParseHttpOptions;

interface ConnState {
  readonly open: ConnectionOpenEvent;
  role: Role;
  /** Parsing, or stopped: the rest of the connection is counted and dropped. */
  stopped: boolean;
  /** The protocol following it, once detected. */
  protocol?: Protocol;
  parser?: ConnectionParser;
  /** First bytes per direction, held until detection decides (a few KiB at most). */
  head: Record<Direction, Uint8Array>;
  /** Opened before capture (its first bytes may be mid-message), or lost bytes before parsing. */
  midStream: boolean;
  /** Bytes of this direction were lost before parsing, on a connection seen from its start. */
  lostBefore?: Direction;
  /** Bytes passed over while no protocol recognised a connection joined mid-stream. */
  searched: number;
  /** What exchanges report of the connection: built once its role is settled. */
  info?: ConnectionInfo;
}

const EMPTY = new Uint8Array(0);

/**
 * Parses HTTP/1.x and HTTP/2 (with gRPC) out of reassembled connection streams into
 * {@link ApiExchange}s, detecting each connection's protocol from its first bytes; the role of a
 * connection opened before capture began is inferred from them too. Never throws on bad bytes:
 * it counts and resynchronises, or stops following the connection.
 *
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { reassemble, Stats, type ConnectionEvent } from '@traceable-ebpf/core';
 * import { parseHttp } from '@traceable-ebpf/parsers';
 *
 * declare const events: ConnectionEvent[];
 * const stats = new Stats();
 * from(events)
 *   .pipe(reassemble({ stats }), parseHttp({ stats, maxBodyBytes: 4096 }))
 *   .subscribe((ex) => console.log(ex.request.method, ex.request.target, ex.response?.status));
 * ```
 */
export function parseHttp(
  options: ParseHttpOptions = {},
): OperatorFunction<ConnectionEvent, ApiExchange> {
  const responseTimeoutMs = options.responseTimeoutMs ?? 30_000;
  const stats = options.stats ?? new Stats();
  const protocols = (options.protocols ?? [http2Protocol(), http1Protocol()]).filter(
    (p) => options.http2 !== false || p.name !== 'http2',
  );
  const upgradeTarget = (token: string) =>
    protocols.find((p) => p.upgraded && p.upgradeTokens?.includes(token));

  return (source) =>
    new Observable<ApiExchange>((subscriber) => {
      const conns = new Map<string, ConnState>();
      const budget: BodyBudget = {
        held: 0,
        max: options.maxPendingBodyBytes ?? 64 * 1024 * 1024,
        onDrop: () => stats.inc('BodiesNotKeptAtMemoryLimit'),
      };
      const ctx: ParserContext = {
        stats,
        maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
        maxHeaderBytes: options.maxHeaderBytes ?? 64 * 1024,
        maxPendingRequests: options.maxPendingRequests ?? 256,
        budget,
        emit: (ex) => {
          if (!ex) return;
          if (!ex.response) stats.inc('RequestsWithoutResponse');
          subscriber.next(ex);
        },
        upgradesTo: (token) => upgradeTarget(token) !== undefined,
      };

      const info = (c: ConnState): ConnectionInfo =>
        (c.info ??= {
          id: c.open.conn,
          tgid: c.open.tgid,
          fd: c.open.fd,
          role: c.role,
          family: c.open.family,
          local: c.open.local,
          remote: c.open.remote,
          tls: c.open.tls,
          comm: c.open.comm,
        });

      /** Bytes held for detection: dropped (counted) when the connection stops or ends. */
      const dropHeld = (c: ConnState) => {
        const held = c.head.send.length + c.head.recv.length;
        if (held > 0) stats.inc('TotalEventsDroppedAtParsing', held);
        c.head = { send: EMPTY, recv: EMPTY };
      };

      /** Stops following a connection: the rest of its bytes are counted and dropped. */
      const stop = (c: ConnState) => {
        dropHeld(c);
        c.stopped = true;
        options.onUnsupported?.(c.open.conn);
      };

      /** Acts on what a parser asked; false when it no longer parses the connection. */
      const act = (c: ConnState, outcome: ParserOutcome, tsNs: number): boolean => {
        if (!outcome) return true;
        if ('upgrade' in outcome) return upgrade(c, outcome.upgrade, tsNs);
        stop(c); // the parser stays: it reports what it still holds when the connection ends
        return false;
      };

      /** Hands a connection over to the protocol its `Upgrade` agreed on. */
      const upgrade = (c: ConnState, up: ProtocolUpgrade, tsNs: number): boolean => {
        c.parser!.close(tsNs);
        const target = upgradeTarget(up.token)!;
        const role = c.role as 'client' | 'server';
        const parser = target.upgraded!(
          up,
          { role, connection: () => info(c), midStream: false },
          ctx,
        );
        c.protocol = target;
        c.parser = parser;
        for (const p of up.pending)
          if (c.stopped) stats.inc('TotalEventsDroppedAtParsing', p.bytes.length);
          else act(c, parser.feed(p.direction, p.bytes, p.tsNs), p.tsNs);
        return !c.stopped;
      };

      /** A protocol recognised the connection in `bytes` seen in `direction`: it parses from here. */
      const begin = (
        c: ConnState,
        protocol: Protocol,
        d: Extract<Detection, { verdict: 'yes' }>,
        direction: Direction,
        bytes: Uint8Array,
        tsNs: number,
      ) => {
        const otherHeld = c.head[otherDirection(direction)];
        c.head = { send: EMPTY, recv: EMPTY };
        const skipped = d.at + (d.other === 'drop' ? otherHeld.length : 0);
        if (skipped > 0) stats.inc('TotalEventsDroppedAtParsing', skipped);
        c.role = d.role;
        c.info = undefined; // the role may have just been inferred
        const parser = protocol.create(
          {
            role: d.role,
            connection: () => info(c),
            midStream: d.fromStart ? false : c.midStream,
            ...(d.synced ? { synced: d.synced } : {}),
            ...(c.lostBefore ? { lostBefore: c.lostBefore } : {}),
          },
          ctx,
        );
        c.protocol = protocol;
        c.parser = parser;
        if (d.other === 'feed' && otherHeld.length > 0)
          if (!act(c, parser.feed(otherDirection(direction), otherHeld, tsNs), tsNs)) return;
        act(c, parser.feed(direction, bytes.subarray(d.at), tsNs), tsNs);
      };

      /** Asks the protocols, in order, about a connection's first bytes in `direction`. */
      const detect = (c: ConnState, direction: Direction, data: Uint8Array, tsNs: number) => {
        const bytes = withCarry(c.head[direction], data);
        const input = { direction, bytes, data, role: c.role, midStream: c.midStream };
        for (const protocol of protocols) {
          const d = protocol.detect(input);
          if (d.verdict === 'no') continue;
          if (d.verdict === 'more') c.head[direction] = bytes.slice();
          else begin(c, protocol, d, direction, bytes, tsNs);
          return;
        }
        if (!c.midStream) {
          // Seen from its start, and no protocol's start: not one the stage parses.
          c.head[direction] = EMPTY;
          stats.inc('TotalEventsDroppedAtParsing', bytes.length);
          stop(c);
          return;
        }
        // Joined mid-stream: a message start may come later; a tail is kept to search again.
        const tail = carryTail(bytes);
        c.head[direction] = tail.carry;
        stats.inc('TotalEventsDroppedAtParsing', tail.skipped);
        c.searched += tail.skipped;
        if (c.searched <= MID_STREAM_SEARCH_BYTES) return;
        stats.inc('MidStreamConnectionsUnsynced');
        stop(c);
      };

      /**
       * A connection joined mid-stream whose parser has found no message start yet: another
       * protocol may claim it from this event. True when one did.
       */
      const join = (c: ConnState, direction: Direction, data: Uint8Array, tsNs: number) => {
        const input = { direction, bytes: data, data, role: c.role, midStream: true };
        for (const protocol of protocols) {
          if (protocol === c.protocol || !protocol.join) continue;
          const d = protocol.join(input);
          if (d.verdict !== 'yes') continue;
          c.parser!.abandon();
          begin(c, protocol, d, direction, data, tsNs);
          return true;
        }
        return false;
      };

      /**
       * Bytes of a direction were lost before parsing started: what was held is dropped, never
       * joined to what follows the gap. A connection seen from its start is followed from here
       * as if joined mid-stream, its parser told which direction lost its start.
       */
      const lostBeforeParsing = (c: ConnState, direction: Direction) => {
        stats.inc('GapsBeforeParsing');
        const held = c.head[direction];
        if (held.length > 0) {
          stats.inc('TotalEventsDroppedAtParsing', held.length);
          c.head = { ...c.head, [direction]: EMPTY };
        }
        // Joined mid-stream (or lost before, which makes it so): the start was never going to
        // be seen, nothing more to flag.
        if (c.midStream) return;
        c.midStream = true;
        c.lostBefore = direction;
      };

      const close = (id: string, tsNs: number) => {
        const c = conns.get(id);
        if (!c) return;
        c.parser?.close(tsNs);
        dropHeld(c);
        conns.delete(id);
      };

      // Requests unanswered for the timeout are reported (their places stay for late answers).
      const timer =
        responseTimeoutMs > 0
          ? setInterval(
              () => {
                const now = Date.now();
                for (const c of conns.values()) c.parser?.expire(now, responseTimeoutMs);
              },
              Math.max(10, Math.min(1000, responseTimeoutMs / 2)),
            )
          : undefined;
      timer?.unref();

      const subscription = source.subscribe({
        next(ev) {
          switch (ev.kind) {
            case 'open':
              close(ev.conn, ev.tsNs);
              conns.set(ev.conn, {
                open: ev,
                role: ev.role,
                stopped: false,
                head: { send: EMPTY, recv: EMPTY },
                midStream: ev.midStream === true || ev.role === 'unknown',
                searched: 0,
              });
              break;
            case 'data': {
              const c = conns.get(ev.conn);
              if (!c) return;
              const parser = c.parser;
              if (c.stopped) stats.inc('TotalEventsDroppedAtParsing', ev.data.length);
              else if (parser === undefined) detect(c, ev.direction, ev.data, ev.tsNs);
              else if (!parser.tentative || !join(c, ev.direction, ev.data, ev.tsNs)) {
                const outcome = parser.feed(ev.direction, ev.data, ev.tsNs);
                if (outcome !== undefined) act(c, outcome, ev.tsNs);
              }
              break;
            }
            case 'gap': {
              const c = conns.get(ev.conn);
              if (!c || c.stopped) return;
              if (c.parser) c.parser.gap(ev.direction, ev.length, ev.tsNs);
              else lostBeforeParsing(c, ev.direction);
              break;
            }
            case 'close':
              close(ev.conn, ev.tsNs);
              break;
          }
        },
        error: (err) => subscriber.error(err),
        complete() {
          for (const id of [...conns.keys()]) close(id, 0);
          subscriber.complete();
        },
      });
      return () => {
        if (timer) clearInterval(timer);
        subscription.unsubscribe();
        for (const c of conns.values()) c.parser?.dispose();
        conns.clear();
      };
    });
}

/**
 * The parser stage under its earlier name: the same as {@link parseHttp}, which parses HTTP/2
 * too.
 * @deprecated Use {@link parseHttp}; this alias goes in the next release.
 */
export const parseHttp1: (
  options?: ParseHttp1Options,
) => OperatorFunction<ConnectionEvent, ApiExchange> = parseHttp;
