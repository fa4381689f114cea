/** HTTP/2 (cleartext: prior knowledge, `Upgrade: h2c`, or joined mid-stream) as a {@link Protocol}. */
import type { Protocol } from '../protocol.js';
import { firstHeader } from '../shared/headers.js';
import { Http2Connection } from './connection.js';
import { detectHttp2, joinHttp2 } from './detection.js';

/**
 * HTTP/2 for the parser stage: frames, HPACK, one exchange per stream, gRPC. Detected by the
 * client preface, by a whole run of frames on a connection joined mid-stream, or taken over
 * from HTTP/1 after a 101 agreeing to `h2c`.
 *
 * @example
 * ```ts
 * import { parseHttp, http1Protocol, http2Protocol } from '@traceable-ebpf/parsers';
 * const stage = parseHttp({ protocols: [http2Protocol(), http1Protocol()] });
 * ```
 */
export function http2Protocol(): Protocol {
  return {
    name: 'http2',
    detect: detectHttp2,
    join: joinHttp2,
    create: (start, ctx) => new Http2Connection(start, ctx),
    upgradeTokens: ['h2c'],
    upgraded: (up, start, ctx) => {
      const settings = up.request && firstHeader(up.request.headers, 'http2-settings');
      return new Http2Connection(start, ctx, {
        request: up.request,
        settings: settings ? Buffer.from(settings, 'base64url') : undefined,
      });
    },
  };
}
