/**
 * HTTP/1 cases a tracer meets on real connections: pipelining, trailers, 1xx, upgrades, CONNECT,
 * close-delimited bodies, oversized headers, response timeouts, and connections joined
 * mid-stream. Each case also checks the counter it is supposed to move.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { Stats, reassemble, type KernelEvent } from '@traceable-ebpf/core';
import { parseHttp } from '../parse-http.js';
import {
  CONN,
  chunks,
  close,
  open,
  run,
  sendfile,
  serverConnection,
  summary,
} from '../testing/streams.js';

test('pipelining: several requests in one write, several responses in one write, paired in order', async () => {
  const stats = new Stats();
  const reqs =
    'GET /a HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /b HTTP/1.1\r\nHost: x\r\n\r\n' +
    'POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc';
  const resps =
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA' +
    'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n' +
    'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nCC';
  const exs = await run(
    [open('server'), ...chunks('recv', reqs, [], 10), ...chunks('send', resps, [], 20)],
    stats,
  );
  assert.deepEqual(summary(exs), [
    ['GET', '/a', '1.1', 200, 0, 1, '', 'A'],
    ['GET', '/b', '1.1', 404, 0, 0, '', ''],
    ['POST', '/c', '1.1', 201, 3, 2, 'abc', 'CC'],
  ]);
  assert.equal(stats.get('TotalRequestsParsed'), 3);
  assert.equal(stats.get('TotalResponsesParsed'), 3);
});

test('chunked body with trailers: trailers kept apart from the headers, body decoded', async () => {
  const resp =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum, X-Count\r\n\r\n' +
    '5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc123\r\nX-Count: 2\r\n\r\n';
  const exs = await run([
    open('server'),
    ...chunks('recv', 'GET /t HTTP/1.1\r\nHost: x\r\n\r\n', [], 10),
    ...chunks('send', resp, [30, 70, 75, 90, 100], 20),
  ]);
  assert.equal(exs.length, 1);
  const res = exs[0]!.response!;
  assert.equal(Buffer.from(res.body).toString(), 'hello world');
  assert.equal(res.bodySize, 11);
  assert.deepEqual(res.trailers, [
    ['X-Checksum', 'abc123'],
    ['X-Count', '2'],
  ]);
  assert.deepEqual(
    res.headers.map(([k]) => k),
    ['Transfer-Encoding', 'Trailer'],
  );
});

test('Expect: 100-continue: the interim 100 is not the answer; the span ends at the final response', async () => {
  const stats = new Stats();
  const head = 'PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n';
  const exs = await run(
    [
      open('server'),
      ...chunks('recv', head, [], 10),
      ...chunks('send', 'HTTP/1.1 100 Continue\r\n\r\n', [], 20),
      ...chunks('recv', 'data', [], 30, head.length),
      ...chunks('send', 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n', [], 40, 25),
    ],
    stats,
  );
  assert.deepEqual(summary(exs), [['PUT', '/up', '1.1', 201, 4, 0, 'data', '']]);
  assert.equal(exs[0]!.request.startNs, 10);
  assert.equal(exs[0]!.response!.endNs, 40);
  assert.equal(stats.get('ResponsesWithoutRequest'), 0);
});

test('HTTP/1.0 response delimited by the close: body up to the close, full size', async () => {
  const resp = 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end';
  const req = 'GET /old HTTP/1.0\r\n\r\n';
  const exs = await run([
    open('client'),
    ...chunks('send', req, [], 10),
    ...chunks('recv', resp, [45], 20),
    close(req.length, resp.length),
  ]);
  assert.deepEqual(summary(exs), [['GET', '/old', '1.0', 200, 0, 13, '', 'until the end']]);
});

test('WebSocket upgrade: the upgrade exchange is reported, then parsing and copying stop', async () => {
  const stats = new Stats();
  const disabled: string[] = [];
  const req =
    'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  const resp =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n';
  const frame = Buffer.from([0x81, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f]); // "hello", unmasked
  const exs = await run(
    [
      open('server'),
      ...chunks('recv', req, [], 10),
      ...chunks('send', Buffer.concat([Buffer.from(resp), frame]), [], 20),
      ...chunks('recv', frame, [], 30, req.length),
    ],
    stats,
    undefined,
    {},
    { onUnsupported: (id) => disabled.push(id) },
  );
  assert.deepEqual(summary(exs), [['GET', '/chat', '1.1', 101, 0, 0, '', '']]);
  assert.deepEqual(disabled, [CONN]);
  assert.equal(stats.get('TotalEventsDroppedAtParsing'), 2 * frame.length);
  assert.equal(stats.get('ReqParsingErrors') + stats.get('ResParsingErrors'), 0);
});

test('CONNECT: the tunnel request is reported with its 200, the tunnelled bytes are not parsed', async () => {
  const stats = new Stats();
  const req = 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n';
  const resp = 'HTTP/1.1 200 Connection Established\r\n\r\n';
  const tls = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);
  const exs = await run(
    [
      open('client'),
      ...chunks('send', req, [], 10),
      ...chunks('recv', resp, [], 20),
      ...chunks('send', tls, [], 30, req.length),
      ...chunks('recv', tls, [], 40, resp.length),
    ],
    stats,
  );
  assert.deepEqual(summary(exs), [['CONNECT', 'example.com:443', '1.1', 200, 0, 0, '', '']]);
  assert.equal(stats.get('TotalEventsDroppedAtParsing'), 2 * tls.length);
  assert.equal(stats.get('ReqParsingErrors') + stats.get('ResParsingErrors'), 0);
});

test('an oversized header block is capped (the header that crosses it is dropped whole) and counted', async () => {
  const stats = new Stats();
  const huge = 'v'.repeat(1024 * 1024);
  const req = `GET /h HTTP/1.1\r\nHost: x\r\nX-Huge: ${huge}\r\nX-After: 1\r\n\r\n`;
  const exs = await run(
    [
      open('server'),
      ...chunks('recv', req, [100, 70_000, 500_000], 10),
      ...chunks('send', 'HTTP/1.1 204 No Content\r\n\r\n', [], 20),
    ],
    stats,
    undefined,
    {},
    { maxHeaderBytes: 4096 },
  );
  assert.equal(exs.length, 1);
  assert.deepEqual(exs[0]!.request.headers, [
    ['Host', 'x'],
    ['X-After', '1'],
  ]);
  assert.equal(exs[0]!.response!.status, 204);
  assert.equal(stats.get('HeadersTruncated'), 1);
});

test('a request unanswered for the response timeout is reported, marked; its late response is dropped, counted', async () => {
  const stats = new Stats();
  const input = new Subject<KernelEvent>();
  const out = lastValueFrom(
    input.pipe(reassemble({ stats }), parseHttp({ stats, responseTimeoutMs: 40 }), toArray()),
  );
  const req1 = 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n';
  const req2 = 'GET /fast HTTP/1.1\r\nHost: x\r\n\r\n';
  const res = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
  input.next(open('server'));
  for (const e of chunks('recv', req1, [], 10)) input.next(e);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(stats.get('RequestsWithoutResponse'), 1, 'reported while the connection lives');
  for (const e of chunks('send', res, [], 20)) input.next(e); // the late answer to /slow
  for (const e of chunks('recv', req2, [], 30, req1.length)) input.next(e);
  for (const e of chunks('send', res, [], 40, res.length)) input.next(e);
  input.complete();
  const exs = await out;
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.response?.status, e.unanswered]),
    [
      ['/slow', undefined, 'timeout'],
      ['/fast', 200, undefined],
    ],
  );
  assert.equal(stats.get('ResponsesAfterTimeout'), 1);
});

test('a request still waiting when the connection closes is reported as unanswered: closed', async () => {
  const stats = new Stats();
  const req = 'GET /gone HTTP/1.1\r\nHost: x\r\n\r\n';
  const exs = await run(
    [open('server'), ...chunks('recv', req, [], 10), close(0, req.length)],
    stats,
  );
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.response, e.unanswered]),
    [['/gone', undefined, 'closed']],
  );
  assert.equal(stats.get('RequestsWithoutResponse'), 1);
});

test('joined mid-message with the role known (/proc): skips to the next request and response, counted', async () => {
  const stats = new Stats();
  const recvTail = 'the-end-of-an-upload-body';
  const sendTail = 'the-end-of-a-download-body';
  const req = 'GET /next HTTP/1.1\r\nHost: x\r\n\r\n';
  const res = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  const exs = await run(
    [
      open('server', { midStream: true }),
      ...chunks('recv', recvTail + req, [10, recvTail.length + 7], 10, 5000),
      ...chunks('send', sendTail + res, [], 20, 9000),
    ],
    stats,
  );
  assert.deepEqual(summary(exs), [['GET', '/next', '1.1', 200, 0, 2, '', 'ok']]);
  assert.equal(exs[0]!.connection.role, 'server');
  assert.equal(stats.get('TotalEventsDroppedAtParsing'), recvTail.length + sendTail.length);
  assert.equal(stats.get('ReqParsingErrors') + stats.get('ResParsingErrors'), 0);
});

test('joined mid-message, role unknown: a request line inside an event sets the role and the start', async () => {
  const stats = new Stats();
  const junk = '...rest of a body';
  const req = 'POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi';
  const res = 'HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n';
  const exs = await run(
    [
      open('unknown'),
      // the request line straddles two events, both after the junk
      ...chunks('send', junk + req, [junk.length + 8], 10, 100),
      ...chunks('recv', res, [], 20, 300),
    ],
    stats,
  );
  assert.deepEqual(summary(exs), [['POST', '/in', '1.1', 202, 2, 0, 'hi', '']]);
  assert.equal(exs[0]!.connection.role, 'client');
  assert.equal(stats.get('TotalEventsDroppedAtParsing'), junk.length);
});

test('joined mid-stream on a connection that is not HTTP/1: given up after 1 MiB, counted, copying stopped', async () => {
  const stats = new Stats();
  const disabled: string[] = [];
  const noise = Buffer.alloc(1100 * 1024, 0x5a);
  await run(
    [
      open('server', { midStream: true }),
      ...chunks('recv', noise, [300_000, 600_000, 900_000], 10),
    ],
    stats,
    undefined,
    {},
    { onUnsupported: (id) => disabled.push(id) },
  );
  assert.deepEqual(disabled, [CONN]);
  assert.equal(stats.get('MidStreamConnectionsUnsynced'), 1);
  assert.equal(stats.get('TotalEventsDroppedAtParsing'), noise.length);
});

test('a fresh connection whose first bytes are not HTTP/1 is given up at once', async () => {
  const stats = new Stats();
  const disabled: string[] = [];
  await run(
    [open('server'), ...chunks('recv', 'SSH-2.0-OpenSSH_9.2\r\n', [], 10)],
    stats,
    undefined,
    {},
    { onUnsupported: (id) => disabled.push(id) },
  );
  assert.deepEqual(disabled, [CONN]);
  assert.equal(stats.get('MidStreamConnectionsUnsynced'), 0);
});

test('request bodies held while waiting for responses share one budget; past it sizes stay, bytes go, counted', async () => {
  const stats = new Stats();
  const post = (path: string) =>
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n${path.slice(1).padEnd(8, '.')}`;
  const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
  const three = post('/a') + post('/b') + post('/c');
  const exs = await run(
    [
      open('server'),
      ...chunks('recv', three, [], 10),
      ...chunks('send', ok.repeat(3), [], 20),
      ...chunks('recv', post('/d'), [], 30, three.length), // after the answers: budget free again
      ...chunks('send', ok, [], 40, ok.length * 3),
    ],
    stats,
    undefined,
    {},
    { maxPendingBodyBytes: 10 },
  );
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.request.bodySize, Buffer.from(e.request.body).toString()]),
    [
      ['/a', 8, 'a.......'],
      ['/b', 8, ''],
      ['/c', 8, ''],
      ['/d', 8, 'd.......'],
    ],
  );
  assert.equal(stats.get('BodiesNotKeptAtMemoryLimit'), 2);
});

test('a response whose body ends in bytes never copied (sendfile) ends at that syscall', async () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n';
  const body = sendfile(head.length, 5000, 777);
  const exs = await run([
    open('server'),
    ...chunks('recv', 'GET /f HTTP/1.1\r\nHost: x\r\n\r\n', [], 10),
    ...chunks('send', head, [], 20),
    body,
  ]);
  assert.equal(exs.length, 1);
  assert.equal(exs[0]!.response!.bodySize, 5000);
  assert.equal(exs[0]!.response!.endNs, 777);
});

test('messages cut short by the end of the connection are counted; the cut response leaves its request unanswered', async () => {
  const stats = new Stats();
  const req = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nContent-Le';
  const res = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nonly5';
  const exs = await run(serverConnection(req, res), stats);
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.response?.status, e.unanswered]),
    [['/a', undefined, 'closed']],
  );
  assert.equal(stats.get('ReqParsingErrors'), 1);
  assert.equal(stats.get('ResParsingErrors'), 1);
  assert.equal(stats.get('RequestsWithoutResponse'), 1);
});
