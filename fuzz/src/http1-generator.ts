/**
 * Generator of valid HTTP/1.x conversations: requests of every common method with targets,
 * headers, Content-Length or chunked bodies (extensions, trailers), pipelined ahead of their
 * responses; responses with 1xx interim responses, 204/304, HEAD, chunked and close-delimited
 * bodies. Returns the bytes as segments in send order and the exchanges they must give.
 */
import type { Direction, Role } from '@traceable-ebpf/core';
import type { Segment } from './input.js';
import type { Expected, ExpectedExchange } from './expected.js';
import type { Rng } from './rng.js';

const TCHAR = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-';
const PATH = 'abcdefghijklmnopqrstuvwxyz0123456789-._~%';
const VALUE =
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&()*+,-./:;<=>?@[]^_{|}~"';
const METHODS = ['GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];
const STATUSES = [200, 200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 418, 500, 503];

/** A conversation: its segments and what the stage must report. */
export interface GeneratedConversation {
  readonly role: Role;
  readonly segments: Segment[];
  readonly expected: Expected;
}

/** A header value: visible characters, inner spaces only. */
export function headerValue(rng: Rng, max = 40): string {
  const v = rng.text(VALUE, rng.range(1, max)).trim();
  return v.length ? v : 'v';
}

function target(rng: Rng, method: string): string {
  if (method === 'OPTIONS' && rng.chance(0.3)) return '*';
  let t = '';
  const parts = rng.range(1, 4);
  for (let i = 0; i < parts; i++) t += '/' + rng.text(PATH, rng.small(12));
  if (rng.chance(0.4))
    t += `?${rng.text(TCHAR, rng.range(1, 6))}=${rng.text(TCHAR, rng.small(10))}`;
  return t;
}

function extraHeaders(rng: Rng): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const n = rng.small(6);
  for (let i = 0; i < n; i++)
    out.push([`X-${rng.text(TCHAR, rng.range(1, 12))}`, headerValue(rng)]);
  if (rng.chance(0.3)) out.push(['User-Agent', `fuzz/${rng.int(10)}.${rng.int(10)}`]);
  if (rng.chance(0.2)) out.push(['Accept', '*/*']);
  return out;
}

/** A body of `rng.small` bytes, sometimes past the stage's body cap. */
export function body(rng: Rng, max = 20_000): Uint8Array {
  const n = rng.chance(0.1) ? rng.range(1, max) : rng.small(600);
  return rng.bytes(n);
}

/** Framing of one message's body; header lines it adds; wire bytes after the head. */
function frameBody(
  rng: Rng,
  data: Uint8Array,
  mode: 'length' | 'chunked' | 'close',
  headers: Array<[string, string]>,
): { tail: Buffer; trailers: number } {
  if (mode === 'close') return { tail: Buffer.from(data), trailers: 0 };
  if (mode === 'length') {
    headers.push([rng.chance(0.5) ? 'Content-Length' : 'content-length', String(data.length)]);
    return { tail: Buffer.from(data), trailers: 0 };
  }
  headers.push(['Transfer-Encoding', 'chunked']);
  const parts: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const n = Math.min(data.length - at, rng.range(1, rng.chance(0.5) ? 64 : 4096));
    const size = n.toString(16);
    const ext = rng.chance(0.1) ? `;ext=${rng.text(TCHAR, 3)}` : '';
    parts.push(
      Buffer.from(`${rng.chance(0.3) ? size.toUpperCase() : size}${ext}\r\n`),
      Buffer.from(data.subarray(at, at + n)),
      Buffer.from('\r\n'),
    );
    at += n;
  }
  const trailers = rng.chance(0.25) ? rng.range(1, 3) : 0;
  let last = '0\r\n';
  for (let i = 0; i < trailers; i++) last += `X-Trailer-${i}: ${headerValue(rng)}\r\n`;
  parts.push(Buffer.from(last + '\r\n'));
  return { tail: Buffer.concat(parts), trailers };
}

const head = (line: string, headers: Array<[string, string]>) =>
  Buffer.from(`${line}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'latin1');

/** One random HTTP/1.x conversation on one connection. */
export function generateHttp1(rng: Rng): GeneratedConversation {
  const role: Role = rng.chance(0.7) ? 'server' : 'client';
  const reqDir: Direction = role === 'server' ? 'recv' : 'send';
  const resDir: Direction = role === 'server' ? 'send' : 'recv';
  const n = rng.range(1, 6);
  // A request may run ahead of the responses (pipelining) by up to `depth`.
  const depth = rng.chance(0.3) ? rng.range(2, 4) : 1;
  // Each message in one or two parts: `Expect: 100-continue` sends the body after the 100.
  const requests: Buffer[][] = [];
  const responses: Buffer[][] = [];
  const exchanges: ExpectedExchange[] = [];
  for (let i = 0; i < n; i++) {
    const last = i === n - 1;
    const method = rng.pick(METHODS);
    const version = last && rng.chance(0.1) ? '1.0' : '1.1';
    const t = target(rng, method);
    const reqHeaders: Array<[string, string]> = [
      ['Host', `h${rng.int(5)}.test`],
      ...extraHeaders(rng),
    ];
    const hasBody = ['POST', 'PUT', 'PATCH'].includes(method) || rng.chance(0.05);
    const reqBody = hasBody ? body(rng) : new Uint8Array(0);
    const reqMode = hasBody && version === '1.1' && rng.chance(0.4) ? 'chunked' : 'length';
    const expectContinue = hasBody && version === '1.1' && depth === 1 && rng.chance(0.15);
    if (expectContinue) reqHeaders.push(['Expect', '100-continue']);
    const reqFramed = hasBody
      ? frameBody(rng, reqBody, reqMode, reqHeaders)
      : { tail: Buffer.alloc(0), trailers: 0 };
    const reqHead = head(`${method} ${t} HTTP/${version}`, reqHeaders);
    requests.push(
      expectContinue ? [reqHead, reqFramed.tail] : [Buffer.concat([reqHead, reqFramed.tail])],
    );

    // The response: interim responses first, then the final one.
    let status = rng.pick(STATUSES);
    if (method === 'OPTIONS' && rng.chance(0.5)) status = 204;
    const interim: Buffer[] = [];
    if (expectContinue || rng.chance(0.15))
      interim.push(Buffer.from(`HTTP/1.1 100 Continue\r\n\r\n`));
    if (rng.chance(0.05))
      interim.push(head('HTTP/1.1 103 Early Hints', [['Link', '</s.css>; rel=preload']]));
    const resHeaders: Array<[string, string]> = extraHeaders(rng);
    if (rng.chance(0.5)) resHeaders.push(['Content-Type', 'application/octet-stream']);
    const noBody = method === 'HEAD' || status === 204 || status === 304;
    let resBody: Uint8Array = new Uint8Array(0);
    let resTail: Buffer = Buffer.alloc(0);
    let resTrailers = 0;
    if (method === 'HEAD' && status !== 204 && status !== 304) {
      // Announces the length of the body it does not send.
      resHeaders.push(['Content-Length', String(rng.small(100_000))]);
    } else if (!noBody) {
      resBody = body(rng);
      const mode =
        last && rng.chance(0.25)
          ? 'close'
          : version === '1.1' && rng.chance(0.4)
            ? 'chunked'
            : 'length';
      if (mode === 'close') resHeaders.push(['Connection', 'close']);
      const framed = frameBody(rng, resBody, mode, resHeaders);
      resTail = framed.tail;
      resTrailers = framed.trailers;
    }
    const final = Buffer.concat([
      head(`HTTP/${version} ${status} R${status}`, resHeaders),
      resTail,
    ]);
    responses.push(
      expectContinue ? [Buffer.concat(interim), final] : [Buffer.concat([...interim, final])],
    );
    exchanges.push({
      method,
      target: t,
      version,
      requestHeaders: reqHeaders.length,
      requestTrailers: reqFramed.trailers,
      requestBody: Buffer.from(reqBody).toString('hex'),
      status,
      responseHeaders: resHeaders.length,
      responseTrailers: resTrailers,
      responseBody: Buffer.from(resBody).toString('hex'),
    });
  }

  // Send order: a request may run ahead of the responses, never behind its own; a two-part
  // request (100-continue) alternates with its two-part response.
  const segments: Segment[] = [];
  let sent = 0;
  let answered = 0;
  while (answered < n) {
    if (sent < n && (sent === answered || (sent - answered < depth && rng.chance(0.5)))) {
      const req = requests[sent]!;
      const res = responses[sent]!;
      sent++;
      if (req.length === 2) {
        segments.push({ dir: reqDir, bytes: req[0]! }, { dir: resDir, bytes: res[0]! });
        segments.push({ dir: reqDir, bytes: req[1]! }, { dir: resDir, bytes: res[1]! });
        answered++;
      } else segments.push({ dir: reqDir, bytes: req[0]! });
    } else segments.push({ dir: resDir, bytes: responses[answered++]![0]! });
  }
  return { role, segments, expected: { exchanges, ordered: true, unansweredByDesign: 0 } };
}
