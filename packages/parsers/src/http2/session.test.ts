import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stats, type ApiExchange, type ConnectionInfo } from '@traceable-ebpf/core';
import type { Http2Frame } from './frame-payloads.js';
import { Http2Session, type Http2SessionOptions, type Http2Side } from './session.js';
import { hpackBlock } from '../testing/streams.js';

const CONNECTION: ConnectionInfo = {
  id: '9:4:1',
  tgid: 9,
  fd: 4,
  role: 'server',
  family: 4,
  local: { address: '127.0.0.1', port: 8443 },
  remote: { address: '127.0.0.1', port: 50000 },
  tls: false,
  comm: 'h2',
};

const block = hpackBlock;

const headers = (streamId: number, b: Uint8Array, endStream = false): Http2Frame => ({
  type: 'headers',
  streamId,
  block: b,
  endStream,
});
const data = (streamId: number, d: Uint8Array | string, endStream = false): Http2Frame => ({
  type: 'data',
  streamId,
  data: typeof d === 'string' ? Buffer.from(d) : d,
  endStream,
});

function session(options: Partial<Http2SessionOptions> = {}) {
  const out: ApiExchange[] = [];
  const s = new Http2Session({
    connection: () => CONNECTION,
    onExchange: (e) => out.push(e),
    ...options,
  });
  let ts = 100;
  const send = (side: Http2Side, f: Http2Frame) => {
    const problem = s.frame(side, f, (ts += 10));
    assert.equal(problem, undefined);
  };
  return { s, out, send };
}

const GET = (path: string) => block(0x82, 0x86, [':path', path], [':authority', 'api.local']);
const OK = block(0x88, ['content-type', 'text/plain']);

test('multiplexed streams: one exchange each, reported as each completes, with exact sizes', () => {
  const { out, send } = session();
  send('request', headers(1, GET('/slow'), true));
  send('request', headers(3, block(0x83, 0x86, [':path', '/upload'], [':authority', 'api.local'])));
  send('request', data(3, 'abc'));
  send('request', data(3, 'de', true));
  send('response', headers(3, block([':status', '201'])));
  send('response', data(3, 'created', true));
  send('response', headers(1, OK));
  send('response', data(1, 'x'.repeat(10)));
  send('response', data(1, 'y'.repeat(5), true));
  assert.deepEqual(
    out.map((e) => [
      e.request.method,
      e.request.target,
      e.request.authority,
      e.response?.status,
      e.request.bodySize,
      e.response?.bodySize,
      e.request.version,
    ]),
    [
      ['POST', '/upload', 'api.local', 201, 5, 7, '2'],
      ['GET', '/slow', 'api.local', 200, 0, 15, '2'],
    ],
  );
  assert.deepEqual(out[1]!.response!.headers, [['content-type', 'text/plain']]);
  assert.ok(out.every((e) => e.protocol === 'http2' && !e.partial && !e.aborted));
  assert.ok(out[1]!.request.startNs < out[1]!.response!.endNs);
});

/** A gRPC message: flag byte, 4-byte length, payload. */
const message = (payload: string, compressed = false) => {
  const b = Buffer.alloc(5 + payload.length);
  b[0] = compressed ? 1 : 0;
  b.writeUInt32BE(payload.length, 1);
  b.write(payload, 5);
  return b;
};

test('gRPC: service and method from :path, status from the trailers, messages counted across DATA frames', () => {
  const { out, send } = session();
  const call = block(
    0x83,
    0x86,
    [':path', '/helloworld.Greeter/SayHello'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  );
  send('request', headers(1, call));
  const two = Buffer.concat([message('first'), message('second', true)]);
  send('request', data(1, two.subarray(0, 7))); // splits the first message's prefix and payload
  send('request', data(1, two.subarray(7), true));
  send('response', headers(1, block(0x88, ['content-type', 'application/grpc'])));
  send('response', data(1, message('reply')));
  send('response', headers(1, block(['grpc-status', '0'], ['grpc-message', '']), true));
  assert.equal(out.length, 1);
  const { messages, ...summary } = out[0]!.grpc!;
  assert.deepEqual(summary, {
    service: 'helloworld.Greeter',
    method: 'SayHello',
    statusCode: 0,
    requestMessages: 2,
    responseMessages: 1,
    requestMessageBytes: 11,
    responseMessageBytes: 5,
    compressed: true,
  });
  // Each message when its prefix was complete: the first's in the first DATA frame.
  assert.deepEqual(
    messages.map((m) => [m.direction, m.size, m.compressed, m.tsNs]),
    [
      ['request', 5, false, 120],
      ['request', 6, true, 130],
      ['response', 5, false, 150],
    ],
  );
  assert.deepEqual(out[0]!.response!.trailers, [
    ['grpc-status', '0'],
    ['grpc-message', ''],
  ]);
});

test('gRPC trailers-only error response: the status comes from the only header block', () => {
  const { out, send } = session();
  send(
    'request',
    headers(1, block(0x83, [':path', '/pkg.Svc/Get'], ['content-type', 'application/grpc+proto'])),
  );
  send('request', data(1, message('q'), true));
  send(
    'response',
    headers(
      1,
      block(
        0x88,
        ['content-type', 'application/grpc'],
        ['grpc-status', '5'],
        ['grpc-message', 'not found'],
      ),
      true,
    ),
  );
  assert.equal(out[0]!.grpc!.statusCode, 5);
  assert.equal(out[0]!.grpc!.responseMessages, 0);
  assert.equal(out[0]!.response!.status, 200);
});

test('RST_STREAM ends a stream as aborted; an interim 1xx is not the response; close flushes the rest', () => {
  const { s, out, send } = session();
  send('request', headers(1, GET('/reset'), true));
  send('request', { type: 'rst-stream', streamId: 1, errorCode: 8 });
  send('request', headers(3, GET('/continue')));
  send('response', headers(3, block([':status', '100'])));
  send('request', data(3, 'body', true));
  send('response', headers(3, OK, true));
  send('request', headers(5, GET('/never-answered'), true));
  s.close(1000);
  assert.deepEqual(
    out.map((e) => [e.request.target, e.response?.status, e.unanswered, e.aborted]),
    [
      ['/reset', undefined, 'reset', true],
      ['/continue', 200, undefined, undefined],
      ['/never-answered', undefined, 'closed', undefined],
    ],
  );
  assert.equal(s.openStreams, 0);
});

test('open streams are bounded: past the bound the oldest is reported early, counted', () => {
  const stats = new Stats();
  const { s, out, send } = session({ maxStreams: 2, stats });
  for (const id of [1, 3, 5]) send('request', headers(id, GET(`/s${id}`), true));
  assert.deepEqual(
    out.map((e) => [e.request.target, e.unanswered]),
    [['/s1', 'closed']],
  );
  assert.equal(stats.get('Http2StreamsEvicted'), 1);
  assert.equal(s.openStreams, 2);
});

test('joined mid-stream: a response without its request is counted and dropped; unknown table entries make partial exchanges until the table is refilled', () => {
  const stats = new Stats();
  const { out, send } = session({ midStream: true, stats });
  // A response on a stream whose request was never seen, naming a dynamic entry never seen.
  send('response', headers(7, block(0x88, 0xbe), true));
  // A new request adds an entry (literal with incremental indexing), then a later one uses it.
  const withIndexing = Uint8Array.from([
    0x82,
    0x86,
    0x44,
    5,
    ...Buffer.from('/next'),
    0x40,
    1,
    0x78,
    1,
    0x79,
  ]);
  send('request', headers(9, withIndexing, true));
  send('response', headers(9, OK, true));
  send(
    'request',
    headers(11, Uint8Array.from([0x82, 0x86, 0x04, 6, ...Buffer.from('/again'), 0xbe]), true),
  );
  send('response', headers(11, OK, true));
  assert.deepEqual(
    out.map((e) => [e.request.method, e.request.target, e.response?.status, e.partial]),
    [
      ['GET', '/next', 200, false],
      ['GET', '/again', 200, false],
    ],
  );
  // Stream 7's response (with an entry never seen) had no request to pair with.
  assert.equal(stats.get('ResponsesWithoutRequest'), 1);
  assert.deepEqual(out[1]!.request.headers, [['x', 'y']]);
});

test('an undecodable header block is reported as a problem (the connection cannot be followed)', () => {
  const s = new Http2Session({ connection: () => CONNECTION, onExchange: () => {} });
  assert.match(s.frame('request', headers(1, Uint8Array.of(0x80)), 1) ?? '', /HPACK: index 0/);
});

test('bodies of open streams share the stage budget: past it sizes stay, bytes go, counted once per message', () => {
  const budget = { held: 0, max: 10, drops: 0, onDrop: () => budget.drops++ };
  const { out, send } = session({ budget });
  send('request', headers(1, block(0x83, [':path', '/one'])));
  send('request', headers(3, block(0x83, [':path', '/two'])));
  send('request', data(1, '12345678'));
  send('request', data(3, 'abcdefgh')); // 8 + 8 > 10: not kept
  send('request', data(3, 'ij', true)); // would fit, but the message was refused already
  send('request', data(1, '', true));
  assert.equal(budget.held, 8);
  send('response', headers(1, OK, true));
  send('response', headers(3, OK, true));
  assert.equal(budget.held, 0, 'released when the exchanges are reported');
  assert.deepEqual(
    out.map((e) => [e.request.target, e.request.bodySize, Buffer.from(e.request.body).toString()]),
    [
      ['/one', 8, '12345678'],
      ['/two', 10, ''],
    ],
  );
  assert.equal(budget.drops, 1);
});

test('response timeout: a stream whose request ended long ago unanswered is reported; its late answer is dropped, counted', () => {
  const stats = new Stats();
  const { s, out, send } = session({ stats });
  send('request', headers(1, GET('/slow'), true));
  send('request', headers(3, GET('/upload'))); // still sending: not timed out
  send('request', headers(5, GET('/streaming'), true));
  send('response', headers(5, OK)); // answered, still streaming: not timed out
  s.expire(Date.now() + 5_000, 10_000);
  assert.equal(out.length, 0);
  s.expire(Date.now() + 10_000, 10_000);
  assert.deepEqual(
    out.map((e) => [e.request.target, e.unanswered]),
    [['/slow', 'timeout']],
  );
  // The late answer: its header block is decoded (the table stays in step), then dropped.
  send('response', headers(1, block(0x48, 0x03, ...Buffer.from('200')), true));
  send('response', data(1, 'late', true));
  send('request', data(3, 'x', true));
  send('response', headers(3, block(0xbe), true)); // the entry the dropped block added
  assert.equal(stats.get('ResponsesAfterTimeout'), 1);
  assert.deepEqual(
    out.map((e) => [e.request.target, e.response?.status, e.unanswered]),
    [
      ['/slow', undefined, 'timeout'],
      ['/upload', 200, undefined],
    ],
  );
});

test("GOAWAY from the server: streams above its last stream id end unanswered ('goaway'), the others go on", () => {
  const { s, out, send } = session();
  for (const id of [1, 3, 5, 7]) send('request', headers(id, GET(`/s${id}`), true));
  send('response', headers(5, OK)); // answered before the GOAWAY: goes on
  send('response', { type: 'goaway', lastStreamId: 3, errorCode: 0 });
  assert.deepEqual(
    out.map((e) => [e.request.target, e.unanswered]),
    [['/s7', 'goaway']],
  );
  send('response', headers(1, OK, true));
  send('response', data(5, 'ok', true));
  s.close(1000);
  assert.deepEqual(
    out.map((e) => [e.request.target, e.response?.status, e.unanswered]),
    [
      ['/s7', undefined, 'goaway'],
      ['/s1', 200, undefined],
      ['/s5', 200, undefined],
      ['/s3', undefined, 'closed'],
    ],
  );
});

test('a header block past maxHeaderBytes: the exchange is reported with the fields that fit, counted', () => {
  const stats = new Stats();
  // Each field counts its name, value and 32 bytes: the 3 pseudo-header fields and one more fit.
  const { out, send } = session({ stats, maxHeaderBytes: 200 });
  const many = Array.from({ length: 20 }, (_, i): [string, string] => [`x-h${i}`, 'v'.repeat(10)]);
  send('request', headers(1, block(0x82, 0x86, [':path', '/many'], ...many), true));
  send('response', headers(1, OK, true));
  assert.equal(out[0]!.request.target, '/many');
  assert.equal(out[0]!.request.headers.length, 1);
  assert.equal(stats.get('HeadersTruncated'), 1);
});
