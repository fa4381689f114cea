/**
 * Reproducers of defects a fuzzing run found, one test each: what a client on the node can send
 * must end in a counted, bounded outcome, never a wedged parser or an impossible exchange.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stats } from '@traceable-ebpf/core';
import { FrameFlag, FrameType, findFrameBoundary } from './http2/frame-layout.js';
import { Http2FrameParser } from './http2/frames.js';
import { HpackDecoder, UNKNOWN_ENTRY } from './http2/hpack.js';
import { parseStatus } from './http2/fields.js';
import {
  chunks,
  close,
  h2frame,
  hpackBlock,
  open,
  run,
  serverConnection,
} from './testing/streams.js';

const hex = (s: string) => Buffer.from(s, 'hex');

test('a zero-length padded DATA frame is invalid at once: nothing waits for it, nothing later is held', () => {
  const p = new Http2FrameParser({ expectPreface: false, onFrame: () => {} });
  const first = p.feed(hex('000000000800000001'));
  assert.equal(first.status, 'invalid');
  assert.match(first.status === 'invalid' ? first.reason : '', /DATA of 0 bytes/);
  // 4,000 valid 1 KiB PING-sized pieces afterwards: refused, none held.
  const ping = h2frame(FrameType.PING, 0, 0, Buffer.alloc(8));
  for (let i = 0; i < 4000; i++) assert.equal(p.feed(Buffer.alloc(1024, ping)).status, 'invalid');
  assert.equal(p.buffered, 0);
  // The same rule for every type with a fixed layout: a padded HEADERS with no room for its pad
  // length, a PING of 7 bytes, a SETTINGS on stream 1, a WINDOW_UPDATE of 3 bytes.
  for (const bad of [
    h2frame(FrameType.HEADERS, FrameFlag.PADDED, 1, Buffer.alloc(0)),
    h2frame(FrameType.PING, 0, 0, Buffer.alloc(7)),
    h2frame(FrameType.SETTINGS, 0, 1, Buffer.alloc(0)),
    h2frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3)),
  ]) {
    const q = new Http2FrameParser({ expectPreface: false, onFrame: () => {} });
    assert.equal(q.feed(bad.subarray(0, 9)).status, 'invalid', bad.toString('hex'));
  }
});

test('a control frame arriving a byte at a time is held until whole, then delivered once', () => {
  const frames: unknown[] = [];
  const p = new Http2FrameParser({ expectPreface: false, onFrame: (f) => frames.push(f) });
  const goaway = h2frame(FrameType.GOAWAY, 0, 0, Buffer.alloc(16000, 1));
  for (let i = 0; i < goaway.length; i++) {
    assert.equal(p.feed(goaway.subarray(i, i + 1)).status, 'need-more');
    if (i < goaway.length - 1) assert.equal(p.buffered, i + 1);
  }
  assert.equal(p.buffered, 0);
  assert.equal(frames.length, 1);
});

test('the frame-boundary search after a gap does work linear in the bytes searched', () => {
  // One event of 9-byte frames (SETTINGS ACKs) ending in a header no frame can have: the run
  // from every frame start ends at that header (once quadratic: 10.5 s at 1 MiB).
  for (const kib of [16, 64, 256]) {
    const frame = h2frame(FrameType.SETTINGS, FrameFlag.ACK, 0, Buffer.alloc(0));
    const n = Math.floor((kib * 1024) / frame.length);
    const bytes = Buffer.concat([
      ...Array.from({ length: n }, () => frame),
      hex('ffffffffffffffffff'),
    ]);
    const work = { checks: 0 };
    assert.equal(findFrameBoundary(bytes, 16384, 0x7fffffff, work), -1);
    // Each position's header is checked at most once.
    assert.ok(work.checks > 0 && work.checks <= bytes.length, `${kib} KiB: ${work.checks} checks`);
  }
});

test('HTTP/2 :status must be three digits from 100 to 599: anything else is a counted parse error, never a status', async () => {
  for (const [text, want] of [
    ['200', 200],
    ['101', 101],
    ['599', 599],
    ['abc', undefined],
    ['-5', undefined],
    ['99999', undefined],
    ['0x1F', undefined],
    ['1e3', undefined],
    ['099', undefined],
    ['600', undefined],
    [' 20', undefined],
    [undefined, undefined],
  ] as const)
    assert.equal(parseStatus(text), want, String(text));
  // The reproducer: a server answering `:status: abc`, seen from the connection's start.
  const stats = new Stats();
  const client = hex(
    '505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000000040000000000000011010500000001828684000a3a617574686f726974790161',
  );
  const server = hex('00000004000000000000000d01050000000100073a73746174757303616263');
  const exs = await run(serverConnection(client, server), stats);
  assert.equal(exs.length, 1);
  assert.equal(exs[0]!.response, undefined);
  assert.equal(exs[0]!.unanswered, 'invalid');
  assert.equal(exs[0]!.request.method, 'GET');
  assert.equal(stats.get('ResParsingErrors'), 1);
});

test('HTTP/1 statuses outside 100-599 are parse errors, counted; the request stays unanswered', async () => {
  for (const status of ['000', '099', '600', '999']) {
    const stats = new Stats();
    const req = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n';
    const res = `HTTP/1.1 ${status} Odd\r\nContent-Length: 0\r\n\r\n`;
    const exs = await run(serverConnection(req, res), stats);
    assert.deepEqual(
      exs.map((e) => [e.request.target, e.response?.status]),
      [['/a', undefined]],
      status,
    );
    assert.equal(stats.get('ResParsingErrors'), 1, status);
  }
});

test('header caps count fields, not only bytes: thousands of empty fields are not kept', async () => {
  // HPACK: 87,000 literal fields with empty name and value (3 bytes each) in one block.
  const block = Buffer.alloc(87_000 * 3); // 0x00 0x00 0x00: literal without indexing, "" ""
  const r = new HpackDecoder().decode(block, 1024);
  assert.equal(r.status, 'ok');
  assert.ok(r.status === 'ok' && r.truncated);
  assert.ok(
    r.status === 'ok' && r.headers.length <= 1024 / 32,
    `${r.status === 'ok' && r.headers.length} kept`,
  );
  // HTTP/1: 5,000 header lines `X:` (empty values) with the cap at 1,024 bytes.
  const stats = new Stats();
  const req = `GET /many HTTP/1.1\r\n${'X:\r\n'.repeat(5000)}\r\n`;
  const res = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
  const exs = await run(serverConnection(req, res), stats, undefined, {}, { maxHeaderBytes: 1024 });
  assert.equal(exs.length, 1);
  assert.ok(exs[0]!.request.headers.length <= 1024 / 32, `${exs[0]!.request.headers.length} kept`);
  assert.equal(stats.get('HeadersTruncated'), 1);
});

test('an HTTP/2 response on a stream the client never opened is counted and dropped, not an exchange with an empty method', async () => {
  const stats = new Stats();
  const preface = hex('505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000000040000000000');
  const server = Buffer.concat([
    h2frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)),
    h2frame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 3, hpackBlock(0x88)),
  ]);
  const exs = await run(serverConnection(preface, server), stats);
  assert.deepEqual(exs, []);
  assert.equal(stats.get('ResponsesWithoutRequest'), 1);
});

test('gRPC message bytes never exceed the body: a message cut short counts what came, and the exchange is partial', async () => {
  const stats = new Stats();
  const request = Buffer.concat([
    hex('505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000000040000000000'),
    h2frame(
      FrameType.HEADERS,
      FrameFlag.END_HEADERS,
      1,
      hpackBlock(0x83, 0x86, [':path', '/pkg.Svc/Do'], ['content-type', 'application/grpc']),
    ),
    // A message announcing 6,258 bytes, then the stream ends after none of them.
    h2frame(FrameType.DATA, FrameFlag.END_STREAM, 1, hex('0000001872')),
  ]);
  const response = Buffer.concat([
    h2frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)),
    h2frame(
      FrameType.HEADERS,
      FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
      1,
      hpackBlock(0x88, ['content-type', 'application/grpc'], ['grpc-status', '0']),
    ),
  ]);
  const exs = await run(serverConnection(request, response), stats);
  assert.equal(exs.length, 1);
  const ex = exs[0]!;
  assert.equal(ex.request.bodySize, 5);
  assert.equal(ex.grpc?.requestMessages, 1);
  assert.ok(
    ex.grpc!.requestMessageBytes <= ex.request.bodySize - 5,
    `${ex.grpc!.requestMessageBytes}`,
  );
  assert.equal(ex.partial, true);
});

test('an HTTP/2 :method that is not a token is named _OTHER, the exchange partial and counted', async () => {
  const stats = new Stats();
  const request = Buffer.concat([
    hex('505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000000040000000000'),
    h2frame(
      FrameType.HEADERS,
      FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
      1,
      hpackBlock([':method', 'G T\u0000'], 0x86, [':path', '/m']),
    ),
  ]);
  const response = Buffer.concat([
    h2frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)),
    h2frame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 1, hpackBlock(0x88)),
  ]);
  const exs = await run(serverConnection(request, response), stats);
  assert.deepEqual(
    exs.map((e) => [e.request.method, e.request.target, e.response?.status, e.partial]),
    [['_OTHER', '/m', 200, true]],
  );
  assert.equal(stats.get('ReqParsingErrors'), 1);
});

test('time never runs backwards within a message, whatever timestamps the events carry', async () => {
  const req = 'POST /t HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody';
  const res = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  // Each later event stamped earlier than the one before.
  const events = [
    open('server'),
    ...chunks('recv', req, [10, 20, 30], 1000).map((e, i) => ({ ...e, tsNs: 1000 - 100 * i })),
    ...chunks('send', res, [5, 15, 25], 2000).map((e, i) => ({ ...e, tsNs: 2000 - 100 * i })),
    close(res.length, req.length),
  ];
  const exs = await run(events);
  assert.equal(exs.length, 1);
  const ex = exs[0]!;
  assert.ok(ex.request.endNs >= ex.request.startNs, `${ex.request.startNs}..${ex.request.endNs}`);
  assert.ok(ex.response!.endNs >= ex.response!.startNs);
});

test('HTTP/2 request bytes after its response ended are counted, and the exchange says it is partial', async () => {
  const stats = new Stats();
  const preface = hex('505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000000040000000000');
  const first = Buffer.concat([
    preface,
    h2frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, hpackBlock(0x83, 0x86, [':path', '/up'])),
    h2frame(FrameType.DATA, 0, 1, 'abcd'),
  ]);
  // The server answers 413 before the upload ends; the client sends 6 more bytes and ends it.
  const later = h2frame(FrameType.DATA, FrameFlag.END_STREAM, 1, 'efghij');
  const response = Buffer.concat([
    h2frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)),
    h2frame(
      FrameType.HEADERS,
      FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
      1,
      hpackBlock([':status', '413']),
    ),
  ]);
  const exs = await run(
    [
      open('server'),
      ...chunks('recv', first, [], 10),
      ...chunks('send', response, [], 20),
      ...chunks('recv', later, [], 30, first.length),
      close(response.length, first.length + later.length),
    ],
    stats,
  );
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.request.bodySize, e.response?.status, e.partial]),
    [['/up', 4, 413, true]],
  );
  assert.equal(stats.get('TotalEventsDroppedAtParsing'), 6);
});

test('HPACK: a table entry named by a placeholder stays unknown; a field that refers to it is partial', () => {
  const d = new HpackDecoder({ lenient: true });
  // A literal with incremental indexing naming index 67 (never seen), value "v"; then index 62,
  // the entry it added.
  const first = d.decode(hex('7f040176'));
  assert.ok(first.status === 'ok' && first.partial);
  const second = d.decode(hex('be'));
  assert.equal(second.status, 'ok');
  assert.ok(second.status === 'ok' && second.partial, 'refers to an entry whose name is unknown');
  assert.deepEqual(second.status === 'ok' && second.headers, [[UNKNOWN_ENTRY(67), 'v']]);
  // A known entry added after it is still known.
  assert.ok(d.decode(hex('4003616263017a')).status === 'ok');
  const third = d.decode(hex('be'));
  assert.ok(third.status === 'ok' && !third.partial);
});

test('HTTP/1: a request lost before parsing started holds its place: its response pairs with nothing, and nothing is joined across the gap', async () => {
  const req1 = 'POST /lost HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc';
  const req2 = 'OPTIONS /next HTTP/1.1\r\n\r\n';
  const res1 = 'HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n';
  const res2 = 'HTTP/1.1 204 No Content\r\n\r\n';
  const stats = new Stats();
  const exs = await run(
    [
      open('server'),
      // The first request's bytes are a gap (the reassembler marks it), then the next one.
      ...chunks('recv', req2, [], 10, req1.length),
      ...chunks('send', res1 + res2, [], 20),
      close(res1.length + res2.length, req1.length + req2.length),
    ],
    stats,
  );
  assert.deepEqual(
    exs.map((e) => [e.request.method, e.request.target, e.response?.status, e.partial]),
    [['OPTIONS', '/next', 204, true]],
  );
  assert.equal(stats.get('ResponsesWithoutRequest'), 1);
  // `GET ` held for detection, 14 bytes lost, the rest of that request: never one request.
  const cutStats = new Stats();
  const rest = '/rest-of-target HTTP/1.1\r\nHost: x\r\n\r\n';
  const next = 'GET /second HTTP/1.1\r\nHost: x\r\n\r\n';
  const res = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
  const cut = await run(
    [
      open('server'),
      ...chunks('recv', 'GET ', [], 10),
      ...chunks('recv', rest + next, [rest.length], 11, 4 + 14),
      ...chunks('send', res + res, [], 20),
      close(2 * res.length, 4 + 14 + rest.length + next.length),
    ],
    cutStats,
  );
  assert.deepEqual(
    cut.map((e) => [e.request.target, e.response?.status, e.partial]),
    [['/second', 200, true]],
  );
  assert.equal(cutStats.get('ResponsesWithoutRequest'), 1);
  assert.ok(cutStats.get('TotalEventsDroppedAtParsing') >= 4 + rest.length);
});

test('HTTP/2: a direction that ends inside a frame is counted as a parsing error, its held bytes as dropped', async () => {
  const preface = hex('505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000000040000000000');
  const response = h2frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0));
  // A HEADERS frame cut short by the end of the connection.
  const headers = h2frame(
    FrameType.HEADERS,
    FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
    1,
    hpackBlock(0x82, 0x86, [':path', '/cut']),
  );
  const stats = new Stats();
  const cutRequest = Buffer.concat([preface, headers.subarray(0, 12)]);
  const exs = await run(serverConnection(cutRequest, response), stats);
  assert.deepEqual(exs, []);
  assert.equal(stats.get('ReqParsingErrors'), 1);
  assert.equal(stats.get('TotalEventsDroppedAtParsing'), 12);
  // A DATA frame whose length swallows the next request's HEADERS: stream 1 is reported cut
  // short (partial), and the loss of what it swallowed is counted.
  const swallowed = new Stats();
  const request = Buffer.concat([
    preface,
    h2frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, hpackBlock(0x83, 0x86, [':path', '/up'])),
    h2frame(FrameType.DATA, 0, 1, Buffer.alloc(10)).subarray(0, 9 + 10),
  ]);
  request.writeUIntBE(1000, preface.length + 9 + 13, 3); // the DATA frame's length
  const tail = Buffer.concat([
    request,
    h2frame(
      FrameType.HEADERS,
      FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
      3,
      hpackBlock(0x82, 0x86, [':path', '/gone']),
    ),
  ]);
  const out = await run(serverConnection(tail, response), swallowed);
  assert.deepEqual(
    out.map((e) => [e.request.target, e.unanswered, e.partial]),
    [['/up', 'closed', true]],
  );
  assert.equal(swallowed.get('ReqParsingErrors'), 1);
});
