/**
 * One HTTP/2 connection seen from a captured process: a frame parser per direction and the
 * stream layer, wired together (each side's SETTINGS_MAX_FRAME_SIZE bounds the frames the other
 * side sends).
 */
import type {
  ApiExchange,
  ConnectionInfo,
  Direction,
  HttpRequest,
  Role,
  Stats,
} from '@traceable-ebpf/core';
import { CLIENT_PREFACE, Setting, frameLength, frameRun } from './frame-layout.js';
import { parseSettings } from './frame-payloads.js';
import { Http2FrameParser } from './frames.js';
import { Http2Session, type Http2Side } from './session.js';
import { HpackDecoder } from './hpack.js';
import type { BodyBudget } from '../shared/body-budget.js';

/** Does `bytes` start with the client connection preface (`more`: a prefix of it so far)? */
export function detectPreface(bytes: Uint8Array): 'yes' | 'no' | 'more' {
  const n = Math.min(bytes.length, CLIENT_PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== CLIENT_PREFACE[i]) return 'no';
  return n === CLIENT_PREFACE.length ? 'yes' : 'more';
}

/**
 * Does `bytes` start like the SETTINGS frame a server sends first (stream 0, no flags, a multiple
 * of 6 bytes)? Lets a server's first bytes wait for the client's preface instead of failing
 * HTTP/1 detection.
 */
export function looksLikeServerSettings(bytes: Uint8Array): 'yes' | 'no' | 'more' {
  if (bytes.length >= 9) {
    const length = frameLength(bytes, 0);
    const stream = bytes[5]! | bytes[6]! | bytes[7]! | bytes[8]!;
    return bytes[3] === 4 && bytes[4] === 0 && stream === 0 && length % 6 === 0 ? 'yes' : 'no';
  }
  if (bytes.length > 3 && bytes[3] !== 4) return 'no';
  return 'more';
}

/** Frame payloads above this are not believed (max SETTINGS_MAX_FRAME_SIZE is 2^24 − 1). */
const PLAUSIBLE_FRAME_BYTES = 1 << 20;

/**
 * Frame-shape check for a connection joined mid-stream: `bytes` (one event: HTTP/2 stacks write
 * whole frames) is a run of one or more well-formed frame headers whose lengths end exactly at
 * its end. Type, flags, sizes, stream-0 rules and the reserved bit are checked; random bytes
 * pass rarely.
 */
export function looksLikeFrames(bytes: Uint8Array): boolean {
  const run = frameRun(bytes, 0, PLAUSIBLE_FRAME_BYTES);
  return run.frames > 0 && run.end === bytes.length;
}

/**
 * Which messages a run of frames (see {@link looksLikeFrames}) carries, for a connection whose
 * role is unknown: PUSH_PROMISE comes from servers; a header block naming `:status` is a
 * response's, one naming another pseudo-header a request's. The blocks are decoded by a
 * throwaway lenient decoder: pseudo-headers come from the static table or literal names, so this
 * works joined mid-stream. Undefined when the frames don't tell (DATA, WINDOW_UPDATE, fields
 * only from the dynamic table).
 */
export function messagesInFrames(bytes: Uint8Array): 'requests' | 'responses' | undefined {
  let carries: 'requests' | 'responses' | undefined;
  const decoder = new HpackDecoder({ lenient: true });
  const parser = new Http2FrameParser({
    expectPreface: false,
    maxFrameSize: PLAUSIBLE_FRAME_BYTES,
    onFrame: (f) => {
      if (carries || f.type !== 'headers') return;
      if (f.promisedStreamId !== undefined) {
        carries = 'responses';
        return;
      }
      const r = decoder.decode(f.block);
      const pseudo = r.status === 'ok' ? r.headers.find(([k]) => k.startsWith(':')) : undefined;
      if (pseudo) carries = pseudo[0] === ':status' ? 'responses' : 'requests';
    },
  });
  parser.feed(bytes);
  return carries;
}

/** Options of {@link Http2Connection}. */
export interface Http2ConnectionOptions {
  /** The captured process's side: a server receives requests, a client sends them. */
  readonly role: Exclude<Role, 'unknown'>;
  readonly connection: () => ConnectionInfo;
  readonly maxBodyBytes?: number;
  /** Header bytes kept per header block (see Http2Session). */
  readonly maxHeaderBytes?: number;
  readonly stats?: Stats;
  /** Body bytes held by open streams, shared across the stage's connections. */
  readonly budget?: BodyBudget;
  /** Joined mid-stream: no preface expected, HPACK lenient, exchanges flagged partial as needed. */
  readonly midStream?: boolean;
  /**
   * The connection switched from HTTP/1 (`Upgrade: h2c`): the upgrading request (stream 1's) and
   * the client's settings from its `HTTP2-Settings` header.
   */
  readonly upgrade?: { readonly request: HttpRequest; readonly settings?: Uint8Array };
  readonly onExchange: (ex: ApiExchange) => void;
}

/** Frames of both directions and the streams they carry. */
export class Http2Connection {
  private readonly parsers: Record<Direction, Http2FrameParser>;
  private readonly session: Http2Session;
  private readonly requestDirection: Direction;
  private tsNs = 0;
  private problem: string | undefined;

  constructor(private readonly options: Http2ConnectionOptions) {
    this.requestDirection = options.role === 'client' ? 'send' : 'recv';
    this.session = new Http2Session({
      connection: options.connection,
      midStream: options.midStream ?? false,
      ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
      ...(options.maxHeaderBytes !== undefined ? { maxHeaderBytes: options.maxHeaderBytes } : {}),
      ...(options.stats ? { stats: options.stats } : {}),
      ...(options.budget ? { budget: options.budget } : {}),
      onExchange: options.onExchange,
    });
    const parser = (direction: Direction) =>
      new Http2FrameParser({
        // Joined mid-stream, the client's preface may still come (its accept was missed).
        expectPreface:
          direction !== this.requestDirection ? false : options.midStream ? 'optional' : true,
        onFrame: (f) => {
          const side: Http2Side = direction === this.requestDirection ? 'request' : 'response';
          if (f.type === 'settings') this.frameSizeSettings(direction, f.settings);
          this.problem ??= this.session.frame(side, f, this.tsNs);
        },
      });
    this.parsers = { send: parser('send'), recv: parser('recv') };
    if (options.upgrade) {
      this.session.upgraded(options.upgrade.request);
      const settings = parseSettings(options.upgrade.settings);
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
        this.parsers[direction === 'send' ? 'recv' : 'send'].setMaxFrameSize(value);
  }

  /**
   * The next bytes of one direction; returns a problem when the connection can't be followed.
   * Bytes passed over looking for frames after a gap are counted in `skipped`.
   */
  feed(
    direction: Direction,
    data: Uint8Array,
    tsNs: number,
    skipped?: (n: number) => void,
  ): string | undefined {
    if (this.problem) return this.problem;
    this.tsNs = tsNs;
    const r = this.parsers[direction].feed(data);
    if (r.status === 'invalid') this.problem = r.reason;
    else if (r.skipped) skipped?.(r.skipped);
    return this.problem;
  }

  /**
   * `length` bytes of one direction were lost. Inside a DATA frame's payload they are
   * `absorbed` (that stream's message is partial); elsewhere the direction `resync`s at the
   * next frame boundary, its HPACK table is forgotten (lenient from then on) and every open
   * stream is flagged partial.
   */
  gap(direction: Direction, length: number, tsNs: number): 'absorbed' | 'resync' {
    this.tsNs = tsNs;
    const outcome = this.parsers[direction].skip(length);
    if (outcome === 'resync')
      this.session.lost(direction === this.requestDirection ? 'request' : 'response');
    return outcome;
  }

  /** Reports streams unanswered `timeoutMs` after their request ended (see Http2Session). */
  expire(now: number, timeoutMs: number): void {
    this.session.expire(now, timeoutMs);
  }

  /**
   * The connection ended: open streams are reported. A direction that ended inside a frame
   * ended inside a message (a header block cut short, or a frame whose length swallowed what
   * followed): counted as that side's parsing error, its held bytes as dropped.
   */
  close(tsNs: number): void {
    const stats = this.options.stats;
    for (const direction of ['send', 'recv'] as const) {
      const p = this.parsers[direction];
      if (!p.midFrame || this.problem) continue;
      stats?.inc(direction === this.requestDirection ? 'ReqParsingErrors' : 'ResParsingErrors');
      if (p.buffered > 0) stats?.inc('TotalEventsDroppedAtParsing', p.buffered);
    }
    this.session.close(tsNs);
  }
}
