/** HTTP/1.x (llhttp) as a {@link Protocol}. */
import type { DetectInput, Detection, ParserContext, Protocol } from '../protocol.js';
import { requestDirection } from '../shared/directions.js';
import { Http1Connection, type Http1Runtimes } from './connection.js';
import { LlhttpRuntime, warmLlhttp } from './llhttp.js';
import { detect, locateStart } from './start-line.js';

const NO: Detection = { verdict: 'no' };
const MORE: Detection = { verdict: 'more' };

/**
 * HTTP/1 detection: a connection whose role is unknown is searched for a request or status line
 * in either direction (which one tells the role); one joined mid-stream with a known role is
 * HTTP/1's to try (each direction looks for its next message start); one seen from its start
 * must begin with a request (or status) line.
 */
function detectHttp1(input: DetectInput): Detection {
  const { direction, bytes, role } = input;
  if (role === 'unknown') {
    const found = locateStart(direction, bytes);
    if (!found) return NO;
    return { verdict: 'yes', role: found.role, at: found.at, other: 'drop', synced: direction };
  }
  if (input.midStream) return { verdict: 'yes', role, at: 0, other: 'drop' };
  const verdict = detect(direction === requestDirection(role) ? 'request' : 'response', bytes);
  if (verdict === 'more') return MORE;
  return verdict === 'yes' ? { verdict: 'yes', role, at: 0, other: 'drop' } : NO;
}

/**
 * HTTP/1.0 and 1.1 for the parser stage: llhttp splits each direction into messages, requests
 * and responses pair first in first out (pipelining keeps order), bodies are kept up to the
 * stage's limit with their full size always counted, and a connection joined mid-stream
 * resynchronises at the next message start. A 101 agreeing to an upgrade a registered protocol
 * takes (`h2c`) hands the connection over.
 *
 * @example
 * ```ts
 * import { parseHttp, http1Protocol } from '@traceable-ebpf/parsers';
 * // HTTP/1 only: connections that start with the HTTP/2 preface are not followed.
 * const stage = parseHttp({ protocols: [http1Protocol()] });
 * ```
 */
export function http1Protocol(): Protocol {
  warmLlhttp();
  // One llhttp instance per side and stage: a response can settle an upgrade and let the request
  // parser go on (bytes held for the answer) from inside the response parser's callback.
  const runtimes = new WeakMap<ParserContext, Http1Runtimes>();
  const runtimesOf = (ctx: ParserContext): Http1Runtimes => {
    let r = runtimes.get(ctx);
    if (!r)
      runtimes.set(ctx, (r = { request: new LlhttpRuntime(), response: new LlhttpRuntime() }));
    return r;
  };
  return {
    name: 'http1',
    detect: detectHttp1,
    create: (start, ctx) => new Http1Connection(start, ctx, runtimesOf(ctx)),
  };
}
