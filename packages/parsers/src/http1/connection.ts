/**
 * One HTTP/1.x connection seen from a captured process: a message parser per direction and the
 * request/response pairing, behind the stage's {@link ConnectionParser} seam. It also follows a
 * request that asks to switch protocols (`Upgrade`, CONNECT): the request direction waits for
 * the answer; a refusal goes on in HTTP/1, an agreement to a protocol the stage parses (`h2c`)
 * hands the connection over, any other switch stops it.
 */
import type { Direction, HttpRequest, HttpResponse } from '@traceable-ebpf/core';
import type {
  ConnectionParser,
  ParserContext,
  ParserOutcome,
  ParserStart,
  ProtocolUpgrade,
} from '../protocol.js';
import { MID_STREAM_SEARCH_BYTES } from '../shared/carried-search.js';
import { otherDirection, requestDirection } from '../shared/directions.js';
import { listedTokens, namesToken } from '../shared/headers.js';
import type { LlhttpRuntime } from './llhttp.js';
import { Http1MessageParser, type FeedStatus } from './message-parser.js';
import { Http1Stitcher } from './stitcher.js';

/** The llhttp instances a connection's parsers run on: one per side (see {@link http1Protocol}). */
export interface Http1Runtimes {
  /** Runs request parsers. */
  readonly request: LlhttpRuntime;
  /** Runs response parsers. */
  readonly response: LlhttpRuntime;
}

/** A request that asked to switch protocols (`Upgrade`, or CONNECT), waiting for its answer. */
interface PendingUpgrade {
  readonly request: HttpRequest | undefined;
  /** Request-direction bytes that came after it, held until the answer (bounded). */
  readonly held: Array<{ readonly bytes: Uint8Array; readonly tsNs: number }>;
  bytes: number;
  /** Set by a 101 agreeing to a protocol the stage parses: the connection switches to it. */
  agreed?: string;
  /** The upgrading request, taken out of the HTTP/1 pairing to be the new protocol's. */
  taken?: HttpRequest | undefined;
}

/** Request-direction bytes held while an upgrade waits for its answer. */
const UPGRADE_HELD_BYTES = 64 * 1024;

/**
 * The protocol a 101 switches to: the first token of the request's `Upgrade` list that the
 * response names too and a registered protocol takes (RFC 9110 §7.8).
 */
function agreedUpgrade(
  request: HttpRequest | undefined,
  response: HttpResponse,
  ctx: ParserContext,
): string | undefined {
  for (const token of listedTokens(request?.headers, 'upgrade'))
    if (namesToken(response.headers, 'upgrade', token) && ctx.upgradesTo(token)) return token;
  return undefined;
}

/** Both directions of one HTTP/1 connection and their pairing. */
export class Http1Connection implements ConnectionParser {
  private readonly stitcher: Http1Stitcher;
  private readonly requestDirection: Direction;
  private requests: Http1MessageParser | undefined;
  private responses: Http1MessageParser | undefined;
  /** Joined mid-stream and no message start found yet. */
  private searching: boolean;
  /** Bytes passed over while searching; past MID_STREAM_SEARCH_BYTES it is not HTTP/1. */
  private searched = 0;
  /** The last request parsed (the one an `upgrade` status is about). */
  private lastRequest: HttpRequest | undefined;
  /** A request asked to switch protocols: the request direction waits for the answer. */
  private upgrade: PendingUpgrade | undefined;
  /** What the current feed asks of the stage (a stop or a hand-over, set where it happens). */
  private outcome: ParserOutcome;

  constructor(
    start: ParserStart,
    private readonly ctx: ParserContext,
    runtimes: Http1Runtimes,
  ) {
    const { midStream, synced } = start;
    const reqDir = requestDirection(start.role);
    this.requestDirection = reqDir;
    this.stitcher = new Http1Stitcher(start.connection, ctx.maxPendingRequests, ctx.budget);
    this.searching = midStream && synced === undefined;
    if (start.lostBefore) {
      // Its first message may be gone: a lost first request holds its place (its response
      // pairs with nothing), and exchanges are partial.
      this.stitcher.partial = true;
      if (start.lostBefore === reqDir) ctx.emit(this.stitcher.requestLost());
    }
    // Literals of one shape, no spread: a spread gave every connection's options objects
    // hidden classes of their own (~1 KB per open connection).
    const { maxBodyBytes, maxHeaderBytes } = ctx;
    this.requests = new Http1MessageParser(runtimes.request, 'request', {
      maxBodyBytes,
      maxHeaderBytes,
      onMessage: (m, truncated) => this.onRequest(m as HttpRequest, truncated),
      midStream: midStream && synced !== reqDir,
    });
    this.responses = new Http1MessageParser(runtimes.response, 'response', {
      maxBodyBytes,
      maxHeaderBytes,
      onMessage: (m, truncated) => this.onResponse(m as HttpResponse, truncated),
      requestMethod: () => this.stitcher.nextMethod(),
      midStream: midStream && (synced === undefined || synced === reqDir),
    });
  }

  get tentative(): boolean {
    return this.searching;
  }

  feed(direction: Direction, data: Uint8Array, tsNs: number): ParserOutcome {
    this.outcome = undefined;
    const parser = direction === this.requestDirection ? this.requests : this.responses;
    if (parser === undefined) return undefined;
    if (this.upgrade === undefined && !this.searching) {
      // The usual case, kept small: in step, nothing skipped, nothing to act on.
      const r = parser.feed(data, tsNs);
      if (r.status !== 'need-more' || r.skipped > 0) this.afterFeed(parser, r, data, tsNs);
    } else {
      this.feedDirection(direction, data, tsNs);
    }
    return this.outcome;
  }

  gap(direction: Direction, length: number, tsNs: number): void {
    const parser = this.parserOf(direction);
    if (!parser) return;
    const outcome = parser.skip(length, tsNs);
    if (outcome === 'absorbed') this.ctx.stats.inc('GapsAbsorbedInBodies');
    else this.stitcher.partial = true;
    if (outcome === 'lost-message') this.messageLost(parser);
  }

  expire(nowMs: number, timeoutMs: number): void {
    if (this.stitcher.pending > 0)
      for (const ex of this.stitcher.expire(nowMs, timeoutMs)) this.ctx.emit(ex);
  }

  close(tsNs: number): void {
    const { stats, emit } = this.ctx;
    // A message the stream ended in the middle of is lost: counted, and a lost response leaves
    // its request unanswered.
    if (this.requests?.finish(tsNs)) stats.inc('ReqParsingErrors');
    if (this.responses?.finish(tsNs)) {
      stats.inc('ResParsingErrors');
      emit(this.stitcher.responseLost());
    }
    this.dropParsers(true);
    for (const ex of this.stitcher.drain()) emit(ex);
  }

  abandon(): void {
    this.dropParsers(true);
  }

  dispose(): void {
    this.dropParsers(false);
  }

  private parserOf(direction: Direction): Http1MessageParser | undefined {
    return direction === this.requestDirection ? this.requests : this.responses;
  }

  /** Feeds one direction's parser and acts on what it says. */
  private feedDirection(direction: Direction, data: Uint8Array, tsNs: number): void {
    const parser = this.parserOf(direction);
    if (!parser || this.outcome) return;
    if (this.upgrade && parser === this.requests) return this.hold(this.upgrade, data, tsNs);
    this.afterFeed(parser, parser.feed(data, tsNs), data, tsNs);
  }

  /** Acts on what a parser's feed of `data` said. */
  private afterFeed(parser: Http1MessageParser, r: FeedStatus, data: Uint8Array, tsNs: number) {
    this.onFeed(parser, r);
    if (r.status !== 'upgrade' || this.outcome) return;
    const rest = data.subarray(data.length - r.rest);
    if (parser.type === 'request') {
      // Wait for the answer: a refusal goes on in HTTP/1, an agreement in the new protocol.
      this.upgrade = { request: this.lastRequest, held: [], bytes: 0 };
      this.hold(this.upgrade, rest, tsNs);
    } else if (this.upgrade?.agreed) {
      this.handOver(this.upgrade, rest, tsNs);
    } else {
      // The exchange that asked for the upgrade was reported with its 101 response.
      this.ctx.stats.inc('TotalEventsDroppedAtParsing', rest.length);
      this.stop('upgraded');
    }
  }

  private onRequest(m: HttpRequest, truncated: boolean): void {
    this.ctx.stats.inc('TotalRequestsParsed');
    if (truncated) this.ctx.stats.inc('HeadersTruncated');
    this.lastRequest = m;
    this.ctx.emit(this.stitcher.addRequest(m));
  }

  private onResponse(m: HttpResponse, truncated: boolean): void {
    const { stats } = this.ctx;
    stats.inc('TotalResponsesParsed');
    if (truncated) stats.inc('HeadersTruncated');
    const up = this.upgrade;
    if (up && !up.agreed && this.stitcher.next() === up.request) {
      const agreed = m.status === 101 ? agreedUpgrade(up.request, m, this.ctx) : undefined;
      if (agreed) {
        // Switching: the request is answered in the new protocol (h2c: on stream 1).
        up.agreed = agreed;
        up.taken = this.stitcher.take();
        return;
      }
      // Refused: the held requests are parsed before this response's successors pair.
      const tunnel = up.request?.method === 'CONNECT' && m.status >= 200 && m.status < 300;
      if (m.status >= 200 && !tunnel) this.resumeRequests(up);
    }
    const r = this.stitcher.addResponse(m);
    if (r.status === 'paired') this.ctx.emit(r.exchange);
    else if (r.status === 'orphan') stats.inc('ResponsesWithoutRequest');
    else if (r.status === 'late') stats.inc('ResponsesAfterTimeout');
  }

  /** The upgrade was refused: the request parser goes on, with what was held first. */
  private resumeRequests(up: PendingUpgrade): void {
    this.upgrade = undefined;
    this.requests?.resumeAfterUpgrade();
    for (const h of up.held) this.feedDirection(this.requestDirection, h.bytes, h.tsNs);
  }

  private hold(up: PendingUpgrade, bytes: Uint8Array, tsNs: number): void {
    if (bytes.length === 0) return;
    if (up.bytes + bytes.length > UPGRADE_HELD_BYTES) {
      this.ctx.stats.inc('TotalEventsDroppedAtParsing', bytes.length);
      return;
    }
    up.held.push({ bytes: bytes.slice(), tsNs });
    up.bytes += bytes.length;
  }

  /**
   * The server agreed to switch: what the client sent after its request (held), then what the
   * server sent after its 101, go to the new protocol's parser.
   */
  private handOver(up: PendingUpgrade, responseRest: Uint8Array, tsNs: number): void {
    this.upgrade = undefined;
    this.dropParsers(false);
    const reqDir = this.requestDirection;
    const pending: Array<ProtocolUpgrade['pending'][number]> = up.held.map((h) => ({
      direction: reqDir,
      bytes: h.bytes,
      tsNs: h.tsNs,
    }));
    if (responseRest.length)
      pending.push({ direction: otherDirection(reqDir), bytes: responseRest, tsNs });
    this.outcome = {
      upgrade: { token: up.agreed!, ...(up.taken ? { request: up.taken } : {}), pending },
    };
  }

  private onFeed(parser: Http1MessageParser, r: FeedStatus): void {
    const { stats } = this.ctx;
    if (r.skipped > 0) stats.inc('TotalEventsDroppedAtParsing', r.skipped);
    if (this.searching) {
      if (parser.synced) this.searching = false;
      else this.searchedPast(r.skipped);
    }
    if (r.status === 'invalid') {
      stats.inc(parser.type === 'request' ? 'ReqParsingErrors' : 'ResParsingErrors');
      this.stitcher.partial = true;
      if (r.lostMessage) this.messageLost(parser);
    }
  }

  /** Joined mid-stream, nothing recognisable yet: gives up on non-HTTP/1 after a budget. */
  private searchedPast(skipped: number): void {
    this.searched += skipped;
    if (this.searched <= MID_STREAM_SEARCH_BYTES) return;
    this.ctx.stats.inc('MidStreamConnectionsUnsynced');
    this.stop('unsupported');
  }

  /** A message in progress was lost: keep request/response pairing aligned. */
  private messageLost(parser: Http1MessageParser): void {
    const s = this.stitcher;
    this.ctx.emit(parser.type === 'request' ? s.requestLost() : s.responseLost());
  }

  private stop(state: 'unsupported' | 'upgraded'): void {
    this.dropParsers(true);
    this.outcome = { stop: state };
  }

  /** The parsers are done with; bytes they held while searching are counted when `count`. */
  private dropParsers(count: boolean): void {
    const held = (this.requests?.carried ?? 0) + (this.responses?.carried ?? 0);
    if (count && held > 0) this.ctx.stats.inc('TotalEventsDroppedAtParsing', held);
    this.requests?.destroy();
    this.responses?.destroy();
    this.requests = this.responses = undefined;
  }
}
