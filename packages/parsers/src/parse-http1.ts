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
import { LlhttpRuntime } from './llhttp.js';
import { Http1MessageParser, detect, type FeedStatus, type Http1Message } from './http1-message.js';
import { Http1Stitcher } from './http1-stitch.js';

/** Options of {@link parseHttp1}. */
export interface ParseHttp1Options {
  /** Body bytes kept per message; the full size is always counted. Default 64 KiB. */
  readonly maxBodyBytes?: number;
  /** Header bytes kept per message. Default 64 KiB. */
  readonly maxHeaderBytes?: number;
  /** Unanswered requests kept per connection. Default 256. */
  readonly maxPendingRequests?: number;
  /** Where the counters go. Default: a new set. */
  readonly stats?: Stats;
  /**
   * Called when a connection turns out not to carry HTTP/1 (or switched protocols), so the
   * source can stop copying it.
   */
  readonly onUnsupported?: (conn: string) => void;
}

interface ConnState {
  open: ConnectionOpenEvent;
  role: Role;
  /** 'active' parses; 'unsupported' and 'upgraded' drop the rest of the connection. */
  state: 'active' | 'unsupported' | 'upgraded';
  requests?: Http1MessageParser;
  responses?: Http1MessageParser;
  stitcher: Http1Stitcher;
  /** First bytes per direction, held until detection decides (at most DETECT_BYTES). */
  head: Record<Direction, Uint8Array>;
  /** What exchanges report of the connection: built once its role is settled. */
  info?: ConnectionInfo;
}

const EMPTY = new Uint8Array(0);

/** The direction requests travel in, seen from the captured process. */
const requestDirection = (role: Role): Direction => (role === 'client' ? 'send' : 'recv');

/**
 * Parses HTTP/1.x out of reassembled connection streams and pairs requests with responses into
 * {@link ApiExchange}s. The role of a connection opened before capture began is inferred from its
 * first bytes in either direction. Never throws on bad bytes: it counts and resynchronises.
 */
export function parseHttp1(
  options: ParseHttp1Options = {},
): OperatorFunction<ConnectionEvent, ApiExchange> {
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const maxHeaderBytes = options.maxHeaderBytes ?? 64 * 1024;
  const stats = options.stats ?? new Stats();

  return (source) =>
    new Observable<ApiExchange>((subscriber) => {
      const runtime = new LlhttpRuntime();
      const conns = new Map<string, ConnState>();

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

      const emit = (ex: ApiExchange | undefined) => {
        if (!ex) return;
        if (!ex.response) stats.inc('RequestsWithoutResponse');
        subscriber.next(ex);
      };

      const startParsing = (c: ConnState, role: Role) => {
        c.role = role;
        c.info = undefined; // the role may have just been inferred
        const onRequest = (m: Http1Message) => {
          stats.inc('TotalRequestsParsed');
          emit(c.stitcher.addRequest(m));
        };
        const onResponse = (m: Http1Message) => {
          stats.inc('TotalResponsesParsed');
          const r = c.stitcher.addResponse(m);
          if (r.status === 'paired') emit(r.exchange);
          else if (r.status === 'orphan') stats.inc('ResponsesWithoutRequest');
        };
        c.requests = new Http1MessageParser(runtime, 'request', {
          maxBodyBytes,
          maxHeaderBytes,
          onMessage: onRequest,
        });
        c.responses = new Http1MessageParser(runtime, 'response', {
          maxBodyBytes,
          maxHeaderBytes,
          onMessage: onResponse,
          requestMethod: () => c.stitcher.nextMethod(),
        });
      };

      const stopParsing = (c: ConnState, state: 'unsupported' | 'upgraded') => {
        c.state = state;
        c.requests?.destroy();
        c.responses?.destroy();
        c.requests = c.responses = undefined;
        options.onUnsupported?.(c.open.conn);
      };

      /**
       * Before parsing starts: detection on the first bytes of either direction decides the
       * protocol and, for connections opened before capture, the role. Returns the bytes to parse
       * (held prefix included) once parsing can start, else undefined.
       */
      const begin = (
        c: ConnState,
        direction: Direction,
        data: Uint8Array,
      ): Uint8Array | undefined => {
        const held = c.head[direction];
        const bytes = held.length ? Buffer.concat([held, data]) : data;
        let role = c.role;
        let verdict: 'yes' | 'no' | 'more';
        if (role === 'unknown') {
          const asRequest = detect('request', bytes);
          const asResponse = detect('response', bytes);
          if (asRequest === 'yes') role = direction === 'recv' ? 'server' : 'client';
          else if (asResponse === 'yes') role = direction === 'recv' ? 'client' : 'server';
          verdict =
            role !== 'unknown'
              ? 'yes'
              : asRequest === 'more' || asResponse === 'more'
                ? 'more'
                : 'no';
          if (verdict === 'no') {
            // Joined mid-message: wait for a recognisable start rather than give up the connection.
            c.head[direction] = EMPTY;
            stats.inc('TotalEventsDroppedAtParsing', bytes.length);
            return undefined;
          }
        } else {
          verdict = detect(direction === requestDirection(role) ? 'request' : 'response', bytes);
        }
        if (verdict === 'more') {
          c.head[direction] = bytes.slice();
          return undefined;
        }
        c.head = { send: EMPTY, recv: EMPTY };
        if (verdict === 'no') {
          stats.inc('TotalEventsDroppedAtParsing', bytes.length);
          stopParsing(c, 'unsupported');
          return undefined;
        }
        startParsing(c, role);
        return bytes;
      };

      const onFeed = (c: ConnState, parser: Http1MessageParser, r: FeedStatus, length: number) => {
        if (r.skipped > 0) stats.inc('TotalEventsDroppedAtParsing', r.skipped);
        if (r.status === 'invalid') {
          stats.inc(parser.type === 'request' ? 'ReqParsingErrors' : 'ResParsingErrors');
          c.stitcher.partial = true;
          if (r.lostMessage) messageLost(c, parser);
        } else if (r.status === 'upgrade') {
          stats.inc('TotalEventsDroppedAtParsing', length - r.consumed);
          // The exchange that asked for the upgrade is reported when its 101 response arrives.
          if (parser.type === 'response') stopParsing(c, 'upgraded');
        }
      };

      /** A message in progress was lost: keep request/response pairing aligned. */
      const messageLost = (c: ConnState, parser: Http1MessageParser) => {
        emit(parser.type === 'request' ? c.stitcher.requestLost() : c.stitcher.responseLost());
      };

      const close = (id: string, tsNs: number) => {
        const c = conns.get(id);
        if (!c) return;
        c.requests?.finish(tsNs);
        c.responses?.finish(tsNs);
        for (const ex of c.stitcher.drain()) emit(ex);
        c.requests?.destroy();
        c.responses?.destroy();
        conns.delete(id);
      };

      const subscription = source.subscribe({
        next(ev) {
          switch (ev.kind) {
            case 'open': {
              close(ev.conn, ev.tsNs);
              const c: ConnState = {
                open: ev,
                role: ev.role,
                state: 'active',
                stitcher: new Http1Stitcher(() => info(c), options.maxPendingRequests),
                head: { send: EMPTY, recv: EMPTY },
              };
              conns.set(ev.conn, c);
              break;
            }
            case 'data': {
              const c = conns.get(ev.conn);
              if (!c) return;
              if (c.state !== 'active') {
                stats.inc('TotalEventsDroppedAtParsing', ev.data.length);
                return;
              }
              let data: Uint8Array | undefined = ev.data;
              if (!c.requests) data = begin(c, ev.direction, ev.data);
              if (!data) return;
              const parser = ev.direction === requestDirection(c.role) ? c.requests! : c.responses!;
              onFeed(c, parser, parser.feed(data, ev.tsNs), data.length);
              break;
            }
            case 'gap': {
              const c = conns.get(ev.conn);
              if (!c || !c.requests) return;
              const parser = ev.direction === requestDirection(c.role) ? c.requests : c.responses!;
              const outcome = parser.skip(ev.length);
              if (outcome === 'absorbed') stats.inc('GapsAbsorbedInBodies');
              else c.stitcher.partial = true;
              if (outcome === 'lost-message') messageLost(c, parser);
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
        subscription.unsubscribe();
        for (const c of conns.values()) {
          c.requests?.destroy();
          c.responses?.destroy();
        }
        conns.clear();
      };
    });
}
