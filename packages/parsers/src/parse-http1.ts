import { Observable, type OperatorFunction } from 'rxjs';
import {
  Stats,
  type ApiExchange,
  type ConnectionEvent,
  type ConnectionInfo,
  type ConnectionOpenEvent,
  type Direction,
  type HttpRequest,
  type HttpResponse,
  type Role,
} from '@traceable-ebpf/core';
import { LlhttpRuntime } from './http1/llhttp.js';
import { Http1MessageParser, type FeedStatus, type Http1Message } from './http1/message-parser.js';
import { detect, locateStart } from './http1/start-line.js';
import { Http1Stitcher } from './http1/stitcher.js';
import type { BodyBudget } from './shared/body-budget.js';
import { firstHeader, namesToken } from './shared/headers.js';
import {
  MID_STREAM_SEARCH_BYTES,
  SEARCH_CARRY_BYTES,
  carryTail,
  withCarry,
} from './shared/carried-search.js';
import {
  Http2Connection,
  type Http2ConnectionOptions,
  detectPreface,
  looksLikeFrames,
  looksLikeServerSettings,
  messagesInFrames,
} from './http2/connection.js';

/** Options of {@link parseHttp1}. */
export interface ParseHttp1Options {
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
   * Also parse HTTP/2 connections that start with the client preface (prior knowledge, h2c):
   * frames, HPACK, one exchange per stream, gRPC. Default true.
   */
  readonly http2?: boolean;
  /**
   * A request unanswered for this long is reported without a response (`unanswered: 'timeout'`);
   * a response arriving later is dropped and counted. Default 30 000 ms; 0: only when the
   * connection ends.
   */
  readonly responseTimeoutMs?: number;
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
  /** First bytes per direction, held until detection decides (a few KiB at most). */
  head: Record<Direction, Uint8Array>;
  /**
   * Opened before capture (its first bytes may be mid-message), or bytes were lost before
   * parsing started: each parser starts by looking for the next message start.
   */
  midStream: boolean;
  /** Joined mid-stream and no message start found yet. */
  searching: boolean;
  /** Bytes passed over while searching; past MID_STREAM_SEARCH_BYTES it is not HTTP/1. */
  searched: number;
  /** What exchanges report of the connection: built once its role is settled. */
  info?: ConnectionInfo;
  /** The connection speaks HTTP/2 (it started with the client preface, or upgraded). */
  h2?: Http2Connection;
  /** The last request parsed (the one an `upgrade` status is about). */
  lastRequest?: HttpRequest;
  /** A request asked to switch protocols: the request direction waits for the answer. */
  upgrade?: PendingUpgrade;
}

/** A request that asked to switch protocols (`Upgrade`, or CONNECT), waiting for its answer. */
interface PendingUpgrade {
  readonly request: HttpRequest | undefined;
  /** Request-direction bytes that came after it, held until the answer (bounded). */
  held: Array<{ readonly bytes: Uint8Array; readonly tsNs: number }>;
  bytes: number;
  /** Set by a 101 agreeing to `h2c`: the connection switches to HTTP/2. */
  answer?: 'h2c';
  /** The upgrading request, taken out of the HTTP/1 pairing to become stream 1's. */
  h2cRequest?: HttpRequest;
}

/** Request-direction bytes held while an upgrade waits for its answer. */
const UPGRADE_HELD_BYTES = 64 * 1024;

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
  const responseTimeoutMs = options.responseTimeoutMs ?? 30_000;
  const http2 = options.http2 ?? true;
  const stats = options.stats ?? new Stats();

  return (source) =>
    new Observable<ApiExchange>((subscriber) => {
      // One instance per side: a response can settle an upgrade and let the request parser go on
      // (bytes held for the answer) from inside the response parser's callback.
      const runtimes = { request: new LlhttpRuntime(), response: new LlhttpRuntime() };
      const conns = new Map<string, ConnState>();
      const budget: BodyBudget = {
        held: 0,
        max: options.maxPendingBodyBytes ?? 64 * 1024 * 1024,
        onDrop: () => stats.inc('BodiesNotKeptAtMemoryLimit'),
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

      const emit = (ex: ApiExchange | undefined) => {
        if (!ex) return;
        if (!ex.response) stats.inc('RequestsWithoutResponse');
        subscriber.next(ex);
      };

      /**
       * Starts both parsers. On a connection joined mid-stream, a parser starts by looking for
       * the next message start, unless it is `syncedDirection`'s (whose start was found).
       */
      const startParsing = (c: ConnState, role: Role, syncedDirection?: Direction) => {
        c.role = role;
        c.info = undefined; // the role may have just been inferred
        c.searching = c.midStream && syncedDirection === undefined;
        // A request parser delivers requests, a response parser responses.
        const onRequest = (m: Http1Message, truncated: boolean) => {
          stats.inc('TotalRequestsParsed');
          if (truncated) stats.inc('HeadersTruncated');
          c.lastRequest = m as HttpRequest;
          emit(c.stitcher.addRequest(m as HttpRequest));
        };
        const onResponse = (m: Http1Message, truncated: boolean) => {
          stats.inc('TotalResponsesParsed');
          if (truncated) stats.inc('HeadersTruncated');
          const up = c.upgrade;
          if (up && !up.answer && c.stitcher.next() === up.request) {
            const status = (m as HttpResponse).status;
            if (
              status === 101 &&
              http2 &&
              namesToken(up.request?.headers, 'upgrade', 'h2c') &&
              namesToken(m.headers, 'upgrade', 'h2c')
            ) {
              // Switching to HTTP/2: the request is answered on stream 1.
              up.answer = 'h2c';
              up.h2cRequest = c.stitcher.take();
              return;
            }
            // Refused: the held requests are parsed before this response's successors pair.
            const tunnel = up.request?.method === 'CONNECT' && status >= 200 && status < 300;
            if (status >= 200 && !tunnel) resumeRequests(c, up);
          }
          const r = c.stitcher.addResponse(m as HttpResponse);
          if (r.status === 'paired') emit(r.exchange);
          else if (r.status === 'orphan') stats.inc('ResponsesWithoutRequest');
          else if (r.status === 'late') stats.inc('ResponsesAfterTimeout');
        };
        const reqDir = requestDirection(role);
        c.requests = new Http1MessageParser(runtimes.request, 'request', {
          maxBodyBytes,
          maxHeaderBytes,
          onMessage: onRequest,
          midStream: c.midStream && syncedDirection !== reqDir,
        });
        c.responses = new Http1MessageParser(runtimes.response, 'response', {
          maxBodyBytes,
          maxHeaderBytes,
          onMessage: onResponse,
          requestMethod: () => c.stitcher.nextMethod(),
          midStream: c.midStream && (syncedDirection === undefined || syncedDirection === reqDir),
        });
      };

      /** The HTTP/1 parsers are done with (the connection ended, switched, or is not HTTP/1). */
      const dropHttp1Parsers = (c: ConnState) => {
        c.requests?.destroy();
        c.responses?.destroy();
        c.requests = c.responses = undefined;
      };

      /** Bytes held for detection or a start search: dropped when the connection stops or ends. */
      const dropHeld = (c: ConnState) => {
        const held =
          c.head.send.length +
          c.head.recv.length +
          (c.requests?.carried ?? 0) +
          (c.responses?.carried ?? 0);
        if (held > 0) stats.inc('TotalEventsDroppedAtParsing', held);
        c.head = { send: EMPTY, recv: EMPTY };
      };

      const startHttp2 = (
        c: ConnState,
        role: 'server' | 'client',
        midStream = false,
        upgrade?: Http2ConnectionOptions['upgrade'],
      ) => {
        c.role = role;
        c.info = undefined;
        c.h2 = new Http2Connection({
          role,
          midStream,
          ...(upgrade ? { upgrade } : {}),
          connection: () => info(c),
          maxBodyBytes,
          maxHeaderBytes,
          stats,
          budget,
          onExchange: (ex) => {
            stats.inc('TotalRequestsParsed');
            if (ex.response) stats.inc('TotalResponsesParsed');
            emit(ex);
          },
        });
      };

      const skippedHttp2 = (n: number) => stats.inc('TotalEventsDroppedAtParsing', n);

      /** The HTTP/2 connection can't be followed: what is open is reported, the rest dropped. */
      const http2Lost = (c: ConnState, tsNs: number) => {
        stats.inc('Http2ConnectionsAbandoned');
        c.h2?.close(tsNs);
        c.h2 = undefined;
        stopParsing(c, 'unsupported');
      };

      /**
       * A connection joined mid-stream: an event that is a whole run of HTTP/2 frames switches
       * it to HTTP/2 (lenient HPACK). An unknown role comes from the frames (which way requests
       * or responses go); until they tell, the event is not taken. True when it switched.
       */
      const joinHttp2 = (c: ConnState, direction: Direction, bytes: Uint8Array, tsNs: number) => {
        if (!looksLikeFrames(bytes)) return false;
        if (c.role === 'unknown') {
          const carries = messagesInFrames(bytes);
          if (!carries) return false;
          const requestsReceived = (carries === 'requests') === (direction === 'recv');
          c.role = requestsReceived ? 'server' : 'client';
        }
        dropHeld(c); // bytes kept for the HTTP/1 search: counted, gone
        dropHttp1Parsers(c);
        c.searching = false;
        startHttp2(c, c.role, true);
        if (c.h2!.feed(direction, bytes, tsNs)) http2Lost(c, tsNs);
        return true;
      };

      /**
       * HTTP/2 detection on a connection's first bytes: the client preface in the request
       * direction starts HTTP/2 (`started`); a prefix of it, or a server's first SETTINGS frame
       * waiting for the client's preface, is held (`held`); anything else is HTTP/1's to judge.
       */
      const detectHttp2 = (
        c: ConnState,
        direction: Direction,
        bytes: Uint8Array,
        tsNs: number,
      ): 'started' | 'held' | 'http1' => {
        const reqDir = c.role === 'unknown' ? undefined : requestDirection(c.role);
        if (reqDir === undefined || direction === reqDir) {
          const v = detectPreface(bytes);
          if (v === 'more') return 'held';
          if (v === 'yes') {
            const other = direction === 'send' ? 'recv' : 'send';
            const early = c.head[other];
            c.head = { send: EMPTY, recv: EMPTY };
            startHttp2(c, direction === 'send' ? 'client' : 'server');
            const problem =
              (early.length ? c.h2!.feed(other, early, tsNs) : undefined) ??
              c.h2!.feed(direction, bytes, tsNs);
            if (problem) http2Lost(c, tsNs);
            return 'started';
          }
          return 'http1';
        }
        if (bytes.length <= SEARCH_CARRY_BYTES && looksLikeServerSettings(bytes) !== 'no')
          return 'held';
        return 'http1';
      };

      const stopParsing = (c: ConnState, state: 'unsupported' | 'upgraded') => {
        dropHeld(c);
        c.state = state;
        dropHttp1Parsers(c);
        options.onUnsupported?.(c.open.conn);
      };

      /** Joined mid-stream, nothing recognisable yet: gives up on non-HTTP/1 after a budget. */
      const searchedPast = (c: ConnState, skipped: number) => {
        c.searched += skipped;
        if (c.searched <= MID_STREAM_SEARCH_BYTES) return;
        stats.inc('MidStreamConnectionsUnsynced');
        stopParsing(c, 'unsupported');
      };

      /**
       * Before parsing starts: detection on the first bytes decides the protocol and, for a
       * connection whose role is unknown, the role. A connection joined mid-stream is searched
       * for the next message start in either direction. Returns the bytes to parse once parsing
       * can start, else undefined.
       */
      const begin = (
        c: ConnState,
        direction: Direction,
        data: Uint8Array,
        tsNs: number,
      ): Uint8Array | undefined => {
        // Joined mid-stream: an event of whole HTTP/2 frames (held bytes would misalign it).
        if (http2 && c.midStream && joinHttp2(c, direction, data, tsNs)) return undefined;
        const bytes = withCarry(c.head[direction], data);
        if (http2) {
          const h2 = detectHttp2(c, direction, bytes, tsNs);
          if (h2 === 'started') return undefined;
          if (h2 === 'held') {
            c.head[direction] = bytes.slice();
            return undefined;
          }
        }
        const role = c.role;
        if (c.midStream && role !== 'unknown') {
          // The role is known (from /proc): each parser finds its next message start itself.
          startParsing(c, role);
          return bytes;
        }
        if (role === 'unknown') {
          const found = locateStart(direction, bytes);
          if (!found) {
            const tail = carryTail(bytes);
            c.head[direction] = tail.carry;
            stats.inc('TotalEventsDroppedAtParsing', tail.skipped);
            searchedPast(c, tail.skipped);
            return undefined;
          }
          const other = direction === 'send' ? 'recv' : 'send';
          stats.inc('TotalEventsDroppedAtParsing', found.at + c.head[other].length);
          c.head = { send: EMPTY, recv: EMPTY };
          startParsing(c, found.role, direction);
          return bytes.subarray(found.at);
        }
        const verdict = detect(
          direction === requestDirection(role) ? 'request' : 'response',
          bytes,
        );
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

      /** Feeds one direction's HTTP/1 parser and acts on what it says. */
      const feedHttp1 = (c: ConnState, direction: Direction, data: Uint8Array, tsNs: number) => {
        const parser = direction === requestDirection(c.role) ? c.requests! : c.responses!;
        if (c.upgrade && parser === c.requests) return holdForUpgrade(c.upgrade, data, tsNs);
        const r = parser.feed(data, tsNs);
        onFeed(c, parser, r);
        if (r.status === 'upgrade') {
          const rest = data.subarray(data.length - r.rest);
          if (parser.type === 'request') {
            // Wait for the answer: a refusal goes on in HTTP/1, h2c in HTTP/2.
            c.upgrade = { request: c.lastRequest, held: [], bytes: 0 };
            holdForUpgrade(c.upgrade, rest, tsNs);
          } else if (c.upgrade?.answer === 'h2c') {
            switchToH2c(c, rest, tsNs);
          } else {
            // The exchange that asked for the upgrade was reported with its 101 response.
            stats.inc('TotalEventsDroppedAtParsing', rest.length);
            stopParsing(c, 'upgraded');
          }
        }
      };

      /** The upgrade was refused: the request parser goes on, with what was held first. */
      const resumeRequests = (c: ConnState, up: PendingUpgrade) => {
        c.upgrade = undefined;
        c.requests!.resumeAfterUpgrade();
        const reqDir = requestDirection(c.role);
        for (const h of up.held) if (c.requests) feedHttp1(c, reqDir, h.bytes, h.tsNs);
      };

      const holdForUpgrade = (up: PendingUpgrade, bytes: Uint8Array, tsNs: number) => {
        if (bytes.length === 0) return;
        if (up.bytes + bytes.length > UPGRADE_HELD_BYTES) {
          stats.inc('TotalEventsDroppedAtParsing', bytes.length);
          return;
        }
        up.held.push({ bytes: bytes.slice(), tsNs });
        up.bytes += bytes.length;
      };

      /**
       * The server agreed to `Upgrade: h2c` (101): the connection goes on in HTTP/2, the client's
       * preface first, with the upgrading request as stream 1's (RFC 7540 §3.2).
       */
      const switchToH2c = (c: ConnState, responseRest: Uint8Array, tsNs: number) => {
        const up = c.upgrade!;
        c.upgrade = undefined;
        dropHttp1Parsers(c);
        const request = up.h2cRequest;
        const settings = request && firstHeader(request.headers, 'http2-settings');
        startHttp2(
          c,
          c.role as 'client' | 'server',
          false,
          request
            ? {
                request,
                ...(settings ? { settings: Buffer.from(settings, 'base64url') } : {}),
              }
            : undefined,
        );
        const reqDir = requestDirection(c.role);
        const resDir: Direction = reqDir === 'send' ? 'recv' : 'send';
        let problem: string | undefined;
        for (const h of up.held) problem ??= c.h2!.feed(reqDir, h.bytes, h.tsNs);
        if (responseRest.length) problem ??= c.h2!.feed(resDir, responseRest, tsNs);
        if (problem) http2Lost(c, tsNs);
      };

      const onFeed = (c: ConnState, parser: Http1MessageParser, r: FeedStatus) => {
        if (r.skipped > 0) stats.inc('TotalEventsDroppedAtParsing', r.skipped);
        if (c.searching) {
          if (parser.synced) c.searching = false;
          else searchedPast(c, r.skipped);
        }
        if (r.status === 'invalid') {
          stats.inc(parser.type === 'request' ? 'ReqParsingErrors' : 'ResParsingErrors');
          c.stitcher.partial = true;
          if (r.lostMessage) messageLost(c, parser);
        }
      };

      /**
       * Bytes of a direction were lost before parsing started (its first message, or bytes held
       * for detection): what was held is dropped, never joined to what follows the gap. On a
       * connection seen from its start, it is followed from here as if joined mid-stream, a
       * lost first request holds its place (its response pairs with nothing), and exchanges are
       * partial.
       */
      const lostBeforeParsing = (c: ConnState, direction: Direction) => {
        stats.inc('GapsBeforeParsing');
        const held = c.head[direction];
        if (held.length > 0) {
          stats.inc('TotalEventsDroppedAtParsing', held.length);
          c.head = { ...c.head, [direction]: EMPTY };
        }
        // Joined mid-stream (or lost before, which makes it so): the stream's start was never
        // going to be seen, nothing more to flag. So a lost first request is queued once.
        if (c.midStream) return;
        c.midStream = true;
        c.stitcher.partial = true;
        if (c.role !== 'unknown' && direction === requestDirection(c.role))
          emit(c.stitcher.requestLost());
      };

      /** A message in progress was lost: keep request/response pairing aligned. */
      const messageLost = (c: ConnState, parser: Http1MessageParser) => {
        emit(parser.type === 'request' ? c.stitcher.requestLost() : c.stitcher.responseLost());
      };

      const close = (id: string, tsNs: number) => {
        const c = conns.get(id);
        if (!c) return;
        c.h2?.close(tsNs);
        // A message the stream ended in the middle of is lost: counted, and a lost response
        // leaves its request unanswered.
        if (c.requests?.finish(tsNs)) stats.inc('ReqParsingErrors');
        if (c.responses?.finish(tsNs)) {
          stats.inc('ResParsingErrors');
          emit(c.stitcher.responseLost());
        }
        dropHeld(c);
        for (const ex of c.stitcher.drain()) emit(ex);
        dropHttp1Parsers(c);
        conns.delete(id);
      };

      // Requests unanswered for the timeout are reported (their places stay for late answers).
      const timer =
        responseTimeoutMs > 0
          ? setInterval(
              () => {
                const now = Date.now();
                for (const c of conns.values())
                  if (c.h2) c.h2.expire(now, responseTimeoutMs);
                  else if (c.stitcher.pending > 0)
                    for (const ex of c.stitcher.expire(now, responseTimeoutMs)) emit(ex);
              },
              Math.max(10, Math.min(1000, responseTimeoutMs / 2)),
            )
          : undefined;
      timer?.unref();

      const subscription = source.subscribe({
        next(ev) {
          switch (ev.kind) {
            case 'open': {
              close(ev.conn, ev.tsNs);
              const c: ConnState = {
                open: ev,
                role: ev.role,
                state: 'active',
                stitcher: new Http1Stitcher(() => info(c), options.maxPendingRequests, budget),
                head: { send: EMPTY, recv: EMPTY },
                midStream: ev.midStream === true || ev.role === 'unknown',
                searching: false,
                searched: 0,
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
              if (c.h2) {
                if (c.h2.feed(ev.direction, ev.data, ev.tsNs, skippedHttp2)) http2Lost(c, ev.tsNs);
                return;
              }
              // Joined mid-stream and no HTTP/1 start found yet: HTTP/2 frames may show up.
              if (c.searching && http2 && joinHttp2(c, ev.direction, ev.data, ev.tsNs)) return;
              let data: Uint8Array | undefined = ev.data;
              if (!c.requests) data = begin(c, ev.direction, ev.data, ev.tsNs);
              if (!data) return;
              feedHttp1(c, ev.direction, data, ev.tsNs);
              break;
            }
            case 'gap': {
              const c = conns.get(ev.conn);
              if (c?.h2) {
                const outcome = c.h2.gap(ev.direction, ev.length, ev.tsNs);
                stats.inc(outcome === 'absorbed' ? 'GapsAbsorbedInBodies' : 'Http2GapsResynced');
                return;
              }
              if (!c || c.state !== 'active') return;
              if (!c.requests) {
                lostBeforeParsing(c, ev.direction);
                return;
              }
              const parser = ev.direction === requestDirection(c.role) ? c.requests : c.responses!;
              const outcome = parser.skip(ev.length, ev.tsNs);
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
        if (timer) clearInterval(timer);
        subscription.unsubscribe();
        for (const c of conns.values()) dropHttp1Parsers(c);
        conns.clear();
      };
    });
}
