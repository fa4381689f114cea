/**
 * Property tests (fast-check): generated HTTP/1 conversations, cut into events at random places,
 * always give the exchanges the conversation holds; random and mutated bytes never throw, never
 * hang, keep every kept string within its cap, and never lose an exchange without a counter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Stats, type ApiExchange, type KernelEvent, type Role } from '@traceable-ebpf/core';
import { chunks, close, open, run } from '../testing/streams.js';

interface Model {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  reqBody: Uint8Array;
  reqChunked: boolean;
  status: number;
  resBody: Uint8Array;
  resChunked: boolean;
  trailers: Array<[string, string]>;
}

const name = fc.stringMatching(/^X-[A-Za-z0-9-]{1,12}$/);
const value = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
const model: fc.Arbitrary<Model> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS'),
  path: fc.stringMatching(/^\/[A-Za-z0-9._~/?=&%-]{0,40}$/),
  headers: fc.array(fc.tuple(name, value), { maxLength: 4 }),
  reqBody: fc.uint8Array({ maxLength: 300 }),
  reqChunked: fc.boolean(),
  status: fc.constantFrom(200, 201, 204, 301, 304, 404, 500),
  resBody: fc.uint8Array({ maxLength: 300 }),
  resChunked: fc.boolean(),
  trailers: fc.array(fc.tuple(name, value), { maxLength: 2 }),
});

/** A body as Content-Length or as chunks of up to 100 bytes with the trailers. */
function framed(body: Uint8Array, chunked: boolean, trailers: Array<[string, string]>): Buffer {
  if (!chunked) return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]);
  const parts: Buffer[] = [Buffer.from('Transfer-Encoding: chunked\r\n\r\n')];
  for (let i = 0; i < body.length; i += 100) {
    const piece = body.subarray(i, i + 100);
    parts.push(
      Buffer.from(`${piece.length.toString(16)}\r\n`),
      Buffer.from(piece),
      Buffer.from('\r\n'),
    );
  }
  parts.push(Buffer.from(`0\r\n${trailers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`));
  return Buffer.concat(parts);
}

const noBody = (m: Model) => m.method === 'HEAD' || m.status === 204 || m.status === 304;

function requestBytes(m: Model): Buffer {
  const head = `${m.method} ${m.path} HTTP/1.1\r\nHost: h\r\n${m.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}`;
  return Buffer.concat([Buffer.from(head), framed(m.reqBody, m.reqChunked, m.trailers)]);
}

function responseBytes(m: Model): Buffer {
  const head = `HTTP/1.1 ${m.status} X\r\n${m.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}`;
  if (m.status === 204 || m.status === 304) return Buffer.from(`${head}\r\n`);
  // A response to HEAD announces the length of the body it does not send.
  if (m.method === 'HEAD') return Buffer.from(`${head}Content-Length: ${m.resBody.length}\r\n\r\n`);
  return Buffer.concat([Buffer.from(head), framed(m.resBody, m.resChunked, m.trailers)]);
}

/** What an exchange must say, from the model. */
const expected = (m: Model) => ({
  method: m.method,
  target: m.path,
  status: m.status,
  reqBody: Buffer.from(m.reqBody).toString('latin1'),
  resBody: noBody(m) ? '' : Buffer.from(m.resBody).toString('latin1'),
  resSize: noBody(m) ? 0 : m.resBody.length,
  headers: m.headers,
  trailers: m.resChunked && !noBody(m) && m.trailers.length ? m.trailers : undefined,
});

const actual = (e: ApiExchange) => ({
  method: e.request.method,
  target: e.request.target,
  status: e.response?.status,
  reqBody: Buffer.from(e.request.body).toString('latin1'),
  resBody: Buffer.from(e.response?.body ?? []).toString('latin1'),
  resSize: e.response?.bodySize,
  headers: e.response?.headers.filter(([k]) => k.startsWith('X-')),
  trailers: e.response?.trailers,
});

/**
 * The conversation as events: requests and responses in groups of `depth` (pipelined), each
 * stream cut at `cuts` (positions taken modulo its length).
 */
function conversation(models: Model[], depth: number, cuts: number[], role: Role): KernelEvent[] {
  const reqDir = role === 'client' ? 'send' : 'recv';
  const resDir = role === 'client' ? 'recv' : 'send';
  const events: KernelEvent[] = [open(role)];
  let reqOff = 0;
  let resOff = 0;
  let ts = 10;
  for (let g = 0; g < models.length; g += depth) {
    const group = models.slice(g, g + depth);
    const reqs = Buffer.concat(group.map(requestBytes));
    const ress = Buffer.concat(group.map(responseBytes));
    const at = (n: number) => cuts.map((c) => c % Math.max(1, n));
    events.push(...chunks(reqDir, reqs, at(reqs.length), ts, reqOff));
    ts += 1000;
    events.push(...chunks(resDir, ress, at(ress.length), ts, resOff));
    ts += 1000;
    reqOff += reqs.length;
    resOff += ress.length;
  }
  events.push(close(role === 'client' ? reqOff : resOff, role === 'client' ? resOff : reqOff));
  return events;
}

test('any conversation, cut anywhere, pipelined or not, gives exactly its exchanges', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(model, { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 1, max: 3 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.constantFrom<Role>('server', 'client'),
      async (models, depth, cuts, role) => {
        const stats = new Stats();
        const exs = await run(conversation(models, depth, cuts, role), stats, 1 << 20);
        assert.deepEqual(exs.map(actual), models.map(expected));
        assert.ok(exs.every((e) => !e.partial));
        assert.equal(stats.get('ReqParsingErrors') + stats.get('ResParsingErrors'), 0);
        assert.equal(stats.get('TotalEventsDroppedAtParsing'), 0);
      },
    ),
    { numRuns: 300 },
  );
});

test('random bytes in both directions: no throw, no hang, kept strings within their caps', async () => {
  const maxBodyBytes = 64;
  const maxHeaderBytes = 256;
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }),
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.constantFrom<Role>('server', 'client', 'unknown'),
      fc.boolean(),
      async (a, b, cuts, role, midStream) => {
        const stats = new Stats();
        const at = (n: number) => cuts.map((c) => c % Math.max(1, n));
        const exs = await run(
          [
            open(role, { midStream }),
            ...chunks('recv', a, at(a.length), 10),
            ...chunks('send', b, at(b.length), 20),
            close(b.length, a.length),
          ],
          stats,
          maxBodyBytes,
          {},
          { maxHeaderBytes },
        );
        for (const e of exs) {
          for (const msg of [e.request, e.response]) {
            if (!msg) continue;
            assert.ok(msg.body.length <= maxBodyBytes);
            const kept = msg.headers.reduce((n, [k, v]) => n + k.length + v.length, 0);
            assert.ok(kept <= maxHeaderBytes);
          }
          assert.ok(e.request.target.length <= maxHeaderBytes);
        }
      },
    ),
    { numRuns: 500 },
  );
});

test('a mutated conversation never throws, and every exchange it loses moves a counter', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(model, { minLength: 2, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.nat(),
      fc.constantFrom('replace', 'insert', 'delete'),
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      fc.boolean(),
      async (models, cuts, where, how, bytes, inRequests) => {
        const stats = new Stats();
        const reqs = Buffer.concat(models.map(requestBytes));
        const ress = Buffer.concat(models.map(responseBytes));
        const target = inRequests ? reqs : ress;
        const i = where % target.length;
        const mutated =
          how === 'replace'
            ? Buffer.concat([target.subarray(0, i), bytes, target.subarray(i + bytes.length)])
            : how === 'insert'
              ? Buffer.concat([target.subarray(0, i), bytes, target.subarray(i)])
              : Buffer.concat([target.subarray(0, i), target.subarray(i + bytes.length)]);
        const r = inRequests ? mutated : reqs;
        const s = inRequests ? ress : mutated;
        const at = (n: number) => cuts.map((c) => c % Math.max(1, n));
        const exs = await run(
          [
            open('server'),
            ...chunks('recv', r, at(r.length), 10),
            ...chunks('send', s, at(s.length), 5000),
            close(s.length, r.length),
          ],
          stats,
          1 << 20,
        );
        const answered = exs.filter((e) => e.response).length;
        if (answered < models.length) {
          const counted =
            stats.get('ReqParsingErrors') +
            stats.get('ResParsingErrors') +
            stats.get('TotalEventsDroppedAtParsing') +
            stats.get('RequestsWithoutResponse') +
            stats.get('ResponsesWithoutRequest');
          assert.ok(counted > 0, `${models.length - answered} exchanges lost without a counter`);
        }
      },
    ),
    { numRuns: 300 },
  );
});
