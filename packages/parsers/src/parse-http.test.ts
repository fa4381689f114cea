import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stats } from '@traceable-ebpf/core';
import { chunks, close, open, run, sendfile, summary } from './testing/streams.js';

const REQUESTS =
  'GET /index.html?lang=en HTTP/1.1\r\nHost: a\r\nUser-Agent: t/1\r\n\r\n' +
  'POST /api/items HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world' +
  'HEAD /big HTTP/1.1\r\nHost: a\r\n\r\n' +
  'PUT /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n3\r\nfgh\r\n0\r\n\r\n' +
  'GET /missing HTTP/1.0\r\nHost: a\r\n\r\n';
const RESPONSES =
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' +
  'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n' +
  'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' +
  'HTTP/1.1 204 No Content\r\n\r\n' +
  'HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop';

const EXPECTED = [
  ['GET', '/index.html?lang=en', '1.1', 200, 0, 5, '', 'hello'],
  ['POST', '/api/items', '1.1', 201, 11, 4, 'hello world', 'abcd'],
  ['HEAD', '/big', '1.1', 200, 0, 0, '', ''],
  ['PUT', '/upload', '1.1', 204, 8, 0, 'abcdefgh', ''],
  ['GET', '/missing', '1.0', 404, 0, 3, '', 'nop'],
];

test('keep-alive stream: methods, targets, statuses, chunked and Content-Length bodies, HEAD', async () => {
  const exs = await run([
    open('server'),
    ...chunks('recv', REQUESTS, [], 10),
    ...chunks('send', RESPONSES, [], 20),
    close(RESPONSES.length, REQUESTS.length),
  ]);
  assert.deepEqual(summary(exs), EXPECTED);
  assert.equal(exs[0]!.connection.role, 'server');
  assert.deepEqual(exs[0]!.request.headers, [
    ['Host', 'a'],
    ['User-Agent', 't/1'],
  ]);
  assert.ok(exs.every((e) => !e.partial));
});

test('the request stream split at every byte position gives identical exchanges', async () => {
  for (let k = 1; k < REQUESTS.length; k++) {
    const exs = await run([
      open('server'),
      ...chunks('recv', REQUESTS, [k], 10),
      ...chunks('send', RESPONSES, [], 50),
    ]);
    assert.deepEqual(summary(exs), EXPECTED, `request split at ${k}`);
  }
});

test('the response stream split at every byte position gives identical exchanges', async () => {
  for (let k = 1; k < RESPONSES.length; k++) {
    const exs = await run([
      open('server'),
      ...chunks('recv', REQUESTS, [], 10),
      ...chunks('send', RESPONSES, [k], 50),
    ]);
    assert.deepEqual(summary(exs), EXPECTED, `response split at ${k}`);
  }
});

test('one byte per event still parses everything', async () => {
  const every = (s: string) => Array.from({ length: s.length }, (_, i) => i);
  const exs = await run([
    open('server'),
    ...chunks('recv', REQUESTS, every(REQUESTS), 10),
    ...chunks('send', RESPONSES, every(RESPONSES), 5000),
  ]);
  assert.deepEqual(summary(exs), EXPECTED);
});

test('bodies are capped but their full size is reported', async () => {
  const exs = await run(
    [open('server'), ...chunks('recv', REQUESTS, [], 10), ...chunks('send', RESPONSES, [], 20)],
    new Stats(),
    4,
  );
  assert.equal(Buffer.from(exs[1]!.request.body).toString(), 'hell');
  assert.equal(exs[1]!.request.bodySize, 11);
  assert.equal(Buffer.from(exs[3]!.request.body).toString(), 'abcd');
  assert.equal(exs[3]!.request.bodySize, 8);
});

test('client role: requests are sent, responses received', async () => {
  const exs = await run([
    open('client'),
    ...chunks('send', REQUESTS, [], 10),
    ...chunks('recv', RESPONSES, [], 20),
  ]);
  assert.deepEqual(summary(exs), EXPECTED);
  assert.equal(exs[0]!.connection.role, 'client');
});

test('unknown role is inferred from the first bytes in either direction', async () => {
  const asServer = await run([
    open('unknown'),
    ...chunks('recv', REQUESTS, [], 10),
    ...chunks('send', RESPONSES, [], 20),
  ]);
  assert.equal(asServer[0]!.connection.role, 'server');
  assert.deepEqual(summary(asServer), EXPECTED);
  const asClient = await run([
    open('unknown'),
    ...chunks('send', REQUESTS, [], 10),
    ...chunks('recv', RESPONSES, [], 20),
  ]);
  assert.equal(asClient[0]!.connection.role, 'client');
});

test('timestamps: request start and response end come from the kernel events', async () => {
  const exs = await run([
    open('server'),
    ...chunks('recv', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', [5], 100),
    ...chunks('send', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', [10], 200),
  ]);
  assert.equal(exs[0]!.request.startNs, 100);
  assert.equal(exs[0]!.request.endNs, 101);
  assert.equal(exs[0]!.response!.startNs, 200);
  assert.equal(exs[0]!.response!.endNs, 201);
});

test('a request whose connection closes unanswered is still reported, and counted', async () => {
  const stats = new Stats();
  const req = 'GET /slow HTTP/1.1\r\nHost: a\r\n\r\n';
  const exs = await run(
    [open('server'), ...chunks('recv', req, [], 10), close(0, req.length)],
    stats,
  );
  assert.equal(exs.length, 1);
  assert.equal(exs[0]!.response, undefined);
  assert.equal(stats.get('RequestsWithoutResponse'), 1);
});

test('garbage on a connection is counted, never thrown, and parsing resumes at the next request', async () => {
  const stats = new Stats();
  const junk = 'GET / HTTP/1.1\r\nHo\x00st: x\r\n\r\n';
  const good = 'GET /after HTTP/1.1\r\nHost: a\r\n\r\n';
  // The server answers both: 400 to the garbled request, 200 to the next.
  const res =
    'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
  const exs = await run(
    [
      open('server'),
      ...chunks('recv', junk + good, [junk.length], 10),
      ...chunks('send', res, [], 20),
    ],
    stats,
  );
  assert.equal(stats.get('ReqParsingErrors'), 1);
  // The 400 answers the lost request (counted, not paired with /after); /after gets its 200.
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.response?.status]),
    [['/after', 200]],
  );
  assert.equal(stats.get('ResponsesWithoutRequest'), 1);
  assert.equal(exs[0]!.partial, true);
});

test('a connection that is not HTTP is dropped and counted', async () => {
  const stats = new Stats();
  const exs = await run(
    [open('server'), ...chunks('recv', '\x16\x03\x01\x02\x00binary tls hello', [], 10)],
    stats,
  );
  assert.equal(exs.length, 0);
  assert.ok(stats.get('TotalEventsDroppedAtParsing') > 0);
});

test('after a gap the parser resynchronises at the next request', async () => {
  const stats = new Stats();
  const first = 'POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789';
  const second = 'GET /b HTTP/1.1\r\nHost: a\r\n\r\n';
  const res =
    'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n';
  const all = first + second;
  // Lose the bytes 20..30 (inside the first request's headers).
  const evs = chunks('recv', all, [20, 30], 10).filter((e) => e.kind !== 'data' || e.offset !== 20);
  const exs = await run(
    [open('server'), ...evs, ...chunks('send', res, [], 50), close(res.length, all.length)],
    stats,
  );
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.response?.status]),
    [['/b', 201]],
  );
  assert.equal(stats.get('ReassemblyGapBytes'), 10);
  assert.equal(stats.get('ResponsesWithoutRequest'), 1);
});

test('a gap inside a Content-Length body (sendfile, truncated copy) keeps the exchange and its full size', async () => {
  const stats = new Stats();
  const req = 'GET /file HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n';
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n';
  const second = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  // Headers copied, then a sendfile of the whole body (size only), then the next response.
  const body = sendfile(head.length, 100000, 60);
  const next = chunks('send', head + 'x'.repeat(100000) + second, [], 70).map((e) =>
    e.kind === 'data'
      ? { ...e, offset: head.length + 100000, size: second.length, data: Buffer.from(second) }
      : e,
  );
  const exs = await run(
    [
      open('server'),
      ...chunks('recv', req, [], 10),
      ...chunks('send', head, [], 50),
      body,
      ...next,
    ],
    stats,
  );
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.response?.status, e.response?.bodySize, e.partial]),
    [
      ['/file', 200, 100000, false],
      ['/next', 200, 2, false],
    ],
  );
  assert.equal(exs[0]!.response!.body.length, 0, 'filler is counted, not kept');
  assert.equal(stats.get('GapsAbsorbedInBodies'), 1);
  assert.equal(stats.get('ResParsingErrors'), 0);
});

test('a gap larger than the body left, or in a chunked body, resynchronises instead', async () => {
  const stats = new Stats();
  const req = 'GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n';
  const first = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
  const second = 'HTTP/1.1 204 No Content\r\n\r\n';
  const all = first + second;
  // Lose 8 bytes inside the chunked body: its framing is gone, so the response is lost, the next one isn't.
  const evs = chunks('send', all, [first.indexOf('hello'), first.indexOf('hello') + 8], 50).filter(
    (e) => e.kind !== 'data' || e.offset !== first.indexOf('hello'),
  );
  const exs = await run(
    [open('server'), ...chunks('recv', req, [], 10), ...evs, close(all.length, req.length)],
    stats,
    undefined,
    { maxPendingEvents: 0 },
  );
  assert.equal(stats.get('GapsAbsorbedInBodies'), 0);
  // /a's response was lost mid-way: /a is reported unanswered, and the 204 answers /b, not /a.
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.response?.status, e.partial]),
    [
      ['/a', undefined, true],
      ['/b', 204, true],
    ],
  );
});
