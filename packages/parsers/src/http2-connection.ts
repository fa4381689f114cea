/**
 * One HTTP/2 connection seen from a captured process: a frame parser per direction and the
 * stream layer, wired together (each side's SETTINGS_MAX_FRAME_SIZE bounds the frames the other
 * side sends).
 */
import type { ApiExchange, ConnectionInfo, Direction, Role, Stats } from '@traceable-ebpf/core';
import { CLIENT_PREFACE, Http2FrameParser, Setting } from './http2-frames.js';
import { Http2Session, type Http2Side } from './http2-session.js';

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
    const length = (bytes[0]! << 16) | (bytes[1]! << 8) | bytes[2]!;
    const stream = bytes[5]! | bytes[6]! | bytes[7]! | bytes[8]!;
    return bytes[3] === 4 && bytes[4] === 0 && stream === 0 && length % 6 === 0 ? 'yes' : 'no';
  }
  if (bytes.length > 3 && bytes[3] !== 4) return 'no';
  return 'more';
}

/** Options of {@link Http2Connection}. */
export interface Http2ConnectionOptions {
  /** The captured process's side: a server receives requests, a client sends them. */
  readonly role: Exclude<Role, 'unknown'>;
  readonly connection: () => ConnectionInfo;
  readonly maxBodyBytes?: number;
  readonly stats?: Stats;
  readonly onExchange: (ex: ApiExchange) => void;
}

/** Frames of both directions and the streams they carry. */
export class Http2Connection {
  private readonly parsers: Record<Direction, Http2FrameParser>;
  private readonly session: Http2Session;
  private readonly requestDirection: Direction;
  private tsNs = 0;
  private problem: string | undefined;

  constructor(options: Http2ConnectionOptions) {
    this.requestDirection = options.role === 'client' ? 'send' : 'recv';
    this.session = new Http2Session({
      connection: options.connection,
      ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
      ...(options.stats ? { stats: options.stats } : {}),
      onExchange: options.onExchange,
    });
    const parser = (direction: Direction) =>
      new Http2FrameParser({
        expectPreface: direction === this.requestDirection,
        onFrame: (f) => {
          const side: Http2Side = direction === this.requestDirection ? 'request' : 'response';
          if (f.type === 'settings')
            for (const [id, value] of f.settings)
              if (id === Setting.MAX_FRAME_SIZE)
                this.parsers[direction === 'send' ? 'recv' : 'send'].setMaxFrameSize(value);
          this.problem ??= this.session.frame(side, f, this.tsNs);
        },
      });
    this.parsers = { send: parser('send'), recv: parser('recv') };
  }

  /** The next bytes of one direction; returns a problem when the connection can't be followed. */
  feed(direction: Direction, data: Uint8Array, tsNs: number): string | undefined {
    if (this.problem) return this.problem;
    this.tsNs = tsNs;
    const r = this.parsers[direction].feed(data);
    if (r.status === 'invalid') this.problem = r.reason;
    return this.problem;
  }

  /** The connection ended: open streams are reported. */
  close(tsNs: number): void {
    this.session.close(tsNs);
  }
}
