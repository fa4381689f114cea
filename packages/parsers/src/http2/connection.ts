/**
 * One HTTP/2 connection seen from a captured process: a frame parser per direction and the
 * stream layer, wired together (each side's SETTINGS_MAX_FRAME_SIZE bounds the frames the other
 * side sends), behind the stage's {@link ConnectionParser} seam.
 */
import type { ApiExchange, Direction, HttpRequest } from '@traceable-ebpf/core';
import type { ConnectionParser, ParserContext, ParserOutcome, ParserStart } from '../protocol.js';
import { otherDirection, requestDirection } from '../shared/directions.js';
import { Setting } from './frame-layout.js';
import { parseSettings } from './frame-payloads.js';
import { Http2FrameParser } from './frames.js';
import { Http2Session, type Http2Side } from './session.js';

/**
 * A connection that switched from HTTP/1 (`Upgrade: h2c`, RFC 7540 §3.2): the upgrading request
 * (stream 1's) and the client's settings from its `HTTP2-Settings` header.
 */
export interface H2cUpgrade {
  /** The HTTP/1.1 request that asked for the upgrade. */
  readonly request?: HttpRequest | undefined;
  /** The SETTINGS payload the `HTTP2-Settings` header carried (base64url-decoded). */
  readonly settings?: Uint8Array | undefined;
}

const STOP: ParserOutcome = { stop: 'unsupported' };

/** Frames of both directions and the streams they carry. */
export class Http2Connection implements ConnectionParser {
  private readonly parsers: Record<Direction, Http2FrameParser>;
  private readonly session: Http2Session;
  private readonly requestDirection: Direction;
  private tsNs = 0;
  private problem: string | undefined;
  private closed = false;
  /** HTTP/2 is known from its first bytes: nobody else claims the connection. */
  readonly tentative = false;

  constructor(
    start: ParserStart,
    private readonly ctx: ParserContext,
    upgrade?: H2cUpgrade,
  ) {
    const { stats } = ctx;
    this.requestDirection = requestDirection(start.role);
    this.session = new Http2Session({
      connection: start.connection,
      midStream: start.midStream,
      maxBodyBytes: ctx.maxBodyBytes,
      maxHeaderBytes: ctx.maxHeaderBytes,
      stats,
      budget: ctx.budget,
      onExchange: (ex: ApiExchange) => {
        stats.inc('TotalRequestsParsed');
        if (ex.response) stats.inc('TotalResponsesParsed');
        ctx.emit(ex);
      },
    });
    const parser = (direction: Direction) =>
      new Http2FrameParser({
        // Joined mid-stream, the client's preface may still come (its accept was missed).
        expectPreface:
          direction !== this.requestDirection ? false : start.midStream ? 'optional' : true,
        onFrame: (f) => {
          const side: Http2Side = direction === this.requestDirection ? 'request' : 'response';
          if (f.type === 'settings') this.frameSizeSettings(direction, f.settings);
          this.problem ??= this.session.frame(side, f, this.tsNs);
        },
      });
    this.parsers = { send: parser('send'), recv: parser('recv') };
    if (upgrade?.request) {
      this.session.upgraded(upgrade.request);
      const settings = parseSettings(upgrade.settings);
      this.frameSizeSettings(this.requestDirection, settings);
      this.session.frame('request', { type: 'settings', settings }, 0);
    }
  }

  /** SETTINGS sent in `direction`: its SETTINGS_MAX_FRAME_SIZE bounds the other direction. */
  private frameSizeSettings(
    direction: Direction,
    settings: ReadonlyArray<readonly [number, number]>,
  ) {
    for (const [id, value] of settings)
      if (id === Setting.MAX_FRAME_SIZE)
        this.parsers[otherDirection(direction)].setMaxFrameSize(value);
  }

  /**
   * The next bytes of one direction. Bytes passed over looking for frames after a gap are
   * counted as dropped. When the connection can't be followed (not HTTP/2 framing, a header
   * block that can't be decoded), what is open is reported and the parser stops.
   */
  feed(direction: Direction, data: Uint8Array, tsNs: number): ParserOutcome {
    if (this.problem) return STOP;
    this.tsNs = tsNs;
    const r = this.parsers[direction].feed(data);
    if (r.status === 'invalid') this.problem = r.reason;
    else if (r.skipped) this.ctx.stats.inc('TotalEventsDroppedAtParsing', r.skipped);
    if (!this.problem) return undefined;
    this.ctx.stats.inc('Http2ConnectionsAbandoned');
    this.close(tsNs);
    return STOP;
  }

  /**
   * `length` bytes of one direction were lost. Inside a DATA frame's payload they are absorbed
   * (that stream's message is partial: `GapsAbsorbedInBodies`); elsewhere the direction
   * resynchronises at the next frame boundary (`Http2GapsResynced`), its HPACK table is
   * forgotten (lenient from then on) and every open stream is flagged partial.
   */
  gap(direction: Direction, length: number, tsNs: number): void {
    this.tsNs = tsNs;
    const outcome = this.parsers[direction].skip(length);
    if (outcome === 'resync')
      this.session.lost(direction === this.requestDirection ? 'request' : 'response');
    this.ctx.stats.inc(outcome === 'absorbed' ? 'GapsAbsorbedInBodies' : 'Http2GapsResynced');
  }

  /** Reports streams unanswered `timeoutMs` after their request ended (see Http2Session). */
  expire(nowMs: number, timeoutMs: number): void {
    this.session.expire(nowMs, timeoutMs);
  }

  /**
   * The connection ended: open streams are reported. A direction that ended inside a frame
   * ended inside a message (a header block cut short, or a frame whose length swallowed what
   * followed): counted as that side's parsing error, its held bytes as dropped.
   */
  close(tsNs: number): void {
    if (this.closed) return;
    this.closed = true;
    const stats = this.ctx.stats;
    for (const direction of ['send', 'recv'] as const) {
      const p = this.parsers[direction];
      if (!p.midFrame || this.problem) continue;
      stats.inc(direction === this.requestDirection ? 'ReqParsingErrors' : 'ResParsingErrors');
      if (p.buffered > 0) stats.inc('TotalEventsDroppedAtParsing', p.buffered);
    }
    this.session.close(tsNs);
  }

  /** Never tentative, so never abandoned; nothing to free beyond what the collector takes. */
  abandon(): void {
    this.closed = true;
  }

  /** Nothing to free beyond what the garbage collector takes. */
  dispose(): void {
    this.closed = true;
  }
}
