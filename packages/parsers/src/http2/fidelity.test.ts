/**
 * HTTP/2 through the parsing stage: detection by the client preface, a server's SETTINGS that
 * arrive first, multiplexed streams, and what happens when bytes are lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastValueFrom, Subject, toArray } from 'rxjs';
import { reassemble, Stats, type KernelEvent } from '@traceable-ebpf/core';
import { parseHttp } from '../parse-http.js';
import { CLIENT_PREFACE, FrameFlag, FrameType } from './frame-layout.js';
import { chunks, close, h2frame, hpackBlock, open, run } from '../testing/streams.js';

const SETTINGS = h2frame(FrameType.SETTINGS, 0, 0, '');
const request = (id: number, path: string, end = true) =>
  h2frame(
    FrameType.HEADERS,
    FrameFlag.END_HEADERS | (end ? FrameFlag.END_STREAM : 0),
    id,
    hpackBlock(0x82, 0x86, [':path', path], [':authority', 'h2.local']),
  );
const response = (id: number, status: string, body: string) =>
  Buffer.concat([
    h2frame(FrameType.HEADERS, FrameFlag.END_HEADERS, id, hpackBlock([':status', status])),
    h2frame(FrameType.DATA, FrameFlag.END_STREAM, id, body),
  ]);

/**
 * A request whose :authority is a literal added to the dynamic table (it becomes entry 62), or,
 * with `ref`, a reference to entry 62.
 */
const indexedRequest = (id: number, path: string, authority: string) =>
  h2frame(
    FrameType.HEADERS,
    FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
    id,
    Uint8Array.from([
      0x82,
      0x86,
      0x04,
      path.length,
      ...Buffer.from(path),
      ...(authority === 'ref' ? [0xbe] : [0x41, authority.length, ...Buffer.from(authority)]),
    ]),
  );

test('HTTP/2 with prior knowledge: detected by the preface, streams become exchanges, split anywhere', async () => {
  const client = Buffer.concat([CLIENT_PREFACE, SETTINGS, request(1, '/one'), request(3, '/two')]);
  // The server's SETTINGS come before the client's preface is seen (held, not judged as HTTP/1).
  const server = Buffer.concat([SETTINGS, response(3, '404', 'no'), response(1, '200', 'hello')]);
  for (const cut of [1, 5, 20, 24, 30, 50]) {
    const stats = new Stats();
    const exs = await run(
      [
        open('server'),
        ...chunks('send', server.subarray(0, 9), [], 5),
        ...chunks('recv', client, [cut], 10),
        ...chunks('send', server.subarray(9), [cut], 20, 9),
        close(server.length, client.length),
      ],
      stats,
    );
    assert.deepEqual(
      exs.map((e) => [
        e.protocol,
        e.request.method,
        e.request.target,
        e.response?.status,
        e.response?.bodySize,
      ]),
      [
        ['http2', 'GET', '/two', 404, 2],
        ['http2', 'GET', '/one', 200, 5],
      ],
      `cut ${cut}`,
    );
    assert.equal(stats.get('TotalRequestsParsed'), 2);
    assert.equal(stats.get('ReqParsingErrors') + stats.get('ResParsingErrors'), 0);
  }
});

test('HTTP/2 client role, and http2: false leaves such connections to HTTP/1 (given up)', async () => {
  const client = Buffer.concat([CLIENT_PREFACE, SETTINGS, request(1, '/c')]);
  const server = Buffer.concat([SETTINGS, response(1, '200', 'ok')]);
  const events = [
    open('client'),
    ...chunks('send', client, [], 10),
    ...chunks('recv', server, [], 20),
  ];
  const exs = await run(events);
  assert.deepEqual(
    exs.map((e) => [e.connection.role, e.request.target, e.response?.status]),
    [['client', '/c', 200]],
  );
  const disabled: string[] = [];
  const off = await run(
    events,
    new Stats(),
    undefined,
    {},
    {
      http2: false,
      onUnsupported: (id) => disabled.push(id),
    },
  );
  assert.deepEqual(off, []);
  assert.equal(disabled.length, 1);
});

test('header blocks lost in a gap: frames found again, the HPACK table forgotten (no stale entry decoded), counted', async () => {
  const stats = new Stats();
  const disabled: string[] = [];
  const client = Buffer.concat([
    CLIENT_PREFACE,
    SETTINGS,
    indexedRequest(1, '/before', 'old.local'),
  ]);
  // Lost: a request that made "lost.local" entry 62 (and "old.local" 63).
  const lost = indexedRequest(3, '/lost', 'lost.local');
  const after = Buffer.concat([
    indexedRequest(5, '/after', 'ref'),
    indexedRequest(7, '/refilled', 'new.local'),
  ]);
  const again = indexedRequest(9, '/again', 'ref');
  const exs = await run(
    [
      open('server'),
      ...chunks('recv', client, [], 10),
      ...chunks('recv', after, [], 30, client.length + lost.length),
      ...chunks('recv', again, [], 40, client.length + lost.length + after.length),
    ],
    stats,
    undefined,
    {},
    { onUnsupported: (id) => disabled.push(id) },
  );
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.request.authority, e.partial, e.unanswered]),
    [
      ['/before', 'old.local', false, 'closed'], // its request had ended before the gap
      ['/after', undefined, true, 'closed'], // entry 62 is unknown now, never "old.local"
      ['/refilled', 'new.local', false, 'closed'],
      ['/again', 'new.local', false, 'closed'],
    ],
  );
  assert.equal(stats.get('Http2GapsResynced'), 1);
  assert.equal(stats.get('Http2ConnectionsAbandoned'), 0);
  assert.deepEqual(disabled, []);
});

test('a gap inside a DATA frame is absorbed: sizes exact, the stream flagged partial, gRPC messages still counted', async () => {
  const stats = new Stats();
  const grpcRequest = h2frame(
    FrameType.HEADERS,
    FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
    1,
    hpackBlock(0x83, 0x86, [':path', '/pkg.Svc/Get'], ['content-type', 'application/grpc']),
  );
  // Two length-prefixed messages (10 and 3 bytes) in one DATA frame.
  const messages = Buffer.concat([
    Buffer.from([0, 0, 0, 0, 10]),
    Buffer.from('0123456789'),
    Buffer.from([0, 0, 0, 0, 3]),
    Buffer.from('abc'),
  ]);
  const data = h2frame(FrameType.DATA, 0, 1, messages);
  const head = Buffer.concat([
    SETTINGS,
    h2frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 1, hpackBlock([':status', '200'])),
    data.subarray(0, 9 + 7), // frame header, prefix, "01"
  ]);
  const tail = Buffer.concat([
    data.subarray(9 + 11), // after "2345": "6789", the second message
    h2frame(
      FrameType.HEADERS,
      FrameFlag.END_HEADERS | FrameFlag.END_STREAM,
      1,
      hpackBlock(['grpc-status', '0']),
    ),
    response(3, '200', 'fine'),
  ]);
  const client = Buffer.concat([CLIENT_PREFACE, SETTINGS, grpcRequest, request(3, '/next')]);
  const exs = await run(
    [
      open('server'),
      ...chunks('recv', client, [], 10),
      ...chunks('send', head, [], 20),
      ...chunks('send', tail, [], 30, head.length + 4),
    ],
    stats,
  );
  assert.deepEqual(
    exs.map((e) => [
      e.request.target,
      e.response?.status,
      e.response?.bodySize,
      Buffer.from(e.response?.body ?? []).toString('latin1'),
      e.grpc?.statusCode,
      e.grpc?.responseMessages,
      e.partial,
    ]),
    [
      ['/pkg.Svc/Get', 200, messages.length, '\0\0\0\0\n01', 0, 2, true],
      ['/next', 200, 4, 'fine', undefined, undefined, false],
    ],
  );
  assert.equal(stats.get('GapsAbsorbedInBodies'), 1);
  assert.equal(stats.get('Http2GapsResynced'), 0);
});

test('an HTTP/2 connection joined mid-stream: recognised by frame shape, unknown table entries make partial exchanges', async () => {
  const stats = new Stats();
  // Requests whose :authority sits in a dynamic table entry the tracer never saw (index 62),
  // then one naming it anew (literal with incremental indexing): the later reference decodes.
  const recv = [
    indexedRequest(41, '/x', 'ref'),
    indexedRequest(43, '/y', 'h2.local'),
    indexedRequest(45, '/z', 'ref'),
  ];
  const send = [response(41, '200', 'a'), response(43, '200', 'b'), response(45, '204', '')];
  const events = [open('server', { midStream: true })];
  // The kernel counts a connection found open from 0 in each direction.
  let r = 0;
  let s = 0;
  for (let i = 0; i < 3; i++) {
    events.push(...chunks('recv', recv[i]!, [], 100 * i + 10, r));
    events.push(...chunks('send', send[i]!, [], 100 * i + 50, s));
    r += recv[i]!.length;
    s += send[i]!.length;
  }
  const exs = await run(events, stats);
  assert.deepEqual(
    exs.map((e) => [
      e.protocol,
      e.request.target,
      e.request.authority,
      e.response?.status,
      e.partial,
    ]),
    [
      ['http2', '/x', undefined, 200, true], // the unknown entry can't be named :authority
      ['http2', '/y', 'h2.local', 200, false],
      ['http2', '/z', 'h2.local', 204, false],
    ],
  );
  assert.equal(stats.get('Http2ConnectionsAbandoned'), 0);
});

test('a connection whose accept was missed: the server SETTINGS come first, then the client preface', async () => {
  const stats = new Stats();
  const client = Buffer.concat([CLIENT_PREFACE, SETTINGS, request(1, '/late-accept')]);
  const server = Buffer.concat([SETTINGS, response(1, '200', 'ok')]);
  const exs = await run(
    [
      open('server', { midStream: true }),
      ...chunks('send', server.subarray(0, SETTINGS.length), [], 5),
      ...chunks('recv', client, [], 10),
      ...chunks('send', server.subarray(SETTINGS.length), [], 20, SETTINGS.length),
    ],
    stats,
  );
  assert.deepEqual(
    exs.map((e) => [e.request.target, e.response?.status, e.partial]),
    [['/late-accept', 200, false]],
  );
  assert.equal(stats.get('Http2ConnectionsAbandoned'), 0);
});

test('Upgrade: h2c — the upgrading HTTP/1.1 request is answered on stream 1, later streams follow, split anywhere', async () => {
  // HTTP2-Settings carries SETTINGS_HEADER_TABLE_SIZE = 0 for the server's encoder.
  const settings = Buffer.from([0, 1, 0, 0, 0, 0]).toString('base64url');
  const upgradeRequest =
    'GET /first HTTP/1.1\r\nHost: h2.local\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
    `Upgrade: h2c\r\nHTTP2-Settings: ${settings}\r\n\r\n`;
  const switching =
    'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';
  const client = Buffer.concat([
    Buffer.from(upgradeRequest, 'latin1'),
    CLIENT_PREFACE,
    SETTINGS,
    request(3, '/second'),
  ]);
  const server = Buffer.concat([
    Buffer.from(switching, 'latin1'),
    SETTINGS,
    response(1, '200', 'first!'),
    response(3, '404', 'no'),
  ]);
  const prefaceAt = upgradeRequest.length;
  const framesAt = switching.length;
  for (const [c, s] of [
    [prefaceAt, framesAt],
    [prefaceAt + 5, framesAt - 3],
    [10, framesAt + 4],
  ] as const) {
    const stats = new Stats();
    const exs = await run(
      [
        open('server'),
        ...chunks('recv', client.subarray(0, prefaceAt), [c], 10),
        ...chunks('send', server.subarray(0, framesAt), [s], 20),
        ...chunks('recv', client.subarray(prefaceAt), [c - prefaceAt], 30, prefaceAt),
        ...chunks('send', server.subarray(framesAt), [s - framesAt], 40, framesAt),
        close(server.length, client.length),
      ],
      stats,
    );
    assert.deepEqual(
      exs.map((e) => [
        e.protocol,
        e.request.method,
        e.request.target,
        e.request.version,
        e.request.authority,
        e.response?.status,
        e.response?.version,
        Buffer.from(e.response?.body ?? []).toString(),
        e.partial,
      ]),
      [
        ['http2', 'GET', '/first', '1.1', undefined, 200, '2', 'first!', false],
        ['http2', 'GET', '/second', '2', 'h2.local', 404, '2', 'no', false],
      ],
      `cuts ${c} ${s}`,
    );
    assert.equal(stats.get('Http2ConnectionsAbandoned'), 0);
    assert.equal(stats.get('TotalEventsDroppedAtParsing'), 0);
  }
});

test('Upgrade: h2c refused (the server answers in HTTP/1.1): the connection goes on in HTTP/1', async () => {
  const ask = (path: string) =>
    `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n` +
    'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n';
  const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const stats = new Stats();
  const first = ask('/a');
  const exs = await run(
    [
      open('client'),
      ...chunks('send', first, [], 10),
      ...chunks('recv', ok('A'), [], 20),
      ...chunks('send', ask('/b') + 'GET /c HTTP/1.1\r\nHost: x\r\n\r\n', [], 30, first.length),
      ...chunks('recv', ok('B') + ok('C'), [], 40, ok('A').length),
    ],
    stats,
  );
  assert.deepEqual(
    exs.map((e) => [e.protocol, e.request.target, e.response?.status, e.response?.bodySize]),
    [
      ['http1', '/a', 200, 1],
      ['http1', '/b', 200, 1],
      ['http1', '/c', 200, 1],
    ],
  );
  assert.equal(stats.get('TotalEventsDroppedAtParsing'), 0);
});

test('a refused upgrade or CONNECT with the next request already sent: held, then parsed once the answer comes', async () => {
  const next = 'GET /next HTTP/1.1\r\nHost: x\r\n\r\n';
  const answers = (status: string) =>
    `HTTP/1.1 ${status}\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`;
  for (const [ask, status, target] of [
    [
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      '400 Bad Request',
      '/ws',
    ],
    [
      'CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n',
      '407 Proxy Authentication Required',
      'db:5432',
    ],
  ] as const) {
    for (const cut of [20, 70, 90]) {
      const stats = new Stats();
      const exs = await run(
        [
          open('server'),
          ...chunks('recv', ask + next, [cut], 10),
          ...chunks('send', answers(status), [cut], 20),
        ],
        stats,
      );
      assert.deepEqual(
        exs.map((e) => [e.request.target, e.response?.status]),
        [
          [target, Number(status.slice(0, 3))],
          ['/next', 200],
        ],
        `${target} cut ${cut}`,
      );
      assert.equal(stats.get('ReqParsingErrors') + stats.get('TotalEventsDroppedAtParsing'), 0);
    }
  }
});

test('an HTTP/2 stream unanswered for the response timeout is reported while the connection lives', async () => {
  const stats = new Stats();
  const input = new Subject<KernelEvent>();
  const out = lastValueFrom(
    input.pipe(reassemble({ stats }), parseHttp({ stats, responseTimeoutMs: 40 }), toArray()),
  );
  const client = Buffer.concat([CLIENT_PREFACE, SETTINGS, request(1, '/slow')]);
  input.next(open('server'));
  for (const e of chunks('recv', client, [], 10)) input.next(e);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(stats.get('RequestsWithoutResponse'), 1, 'reported while the connection lives');
  const server = Buffer.concat([SETTINGS, response(1, '200', 'late')]);
  for (const e of chunks('send', server, [], 20)) input.next(e);
  input.complete();
  assert.deepEqual(
    (await out).map((e) => [e.request.target, e.response?.status, e.unanswered]),
    [['/slow', undefined, 'timeout']],
  );
  assert.equal(stats.get('ResponsesAfterTimeout'), 1);
});

test('an HTTP/2 connection of unknown role joined mid-stream: the role comes from the first header block that names :status or a request pseudo-header', async () => {
  for (const [role, reqDir] of [
    ['server', 'recv'],
    ['client', 'send'],
  ] as const) {
    const resDir = reqDir === 'recv' ? 'send' : 'recv';
    const stats = new Stats();
    const exs = await run(
      [
        open('unknown', { midStream: true }),
        // DATA and WINDOW_UPDATE tell nothing: not taken.
        ...chunks(resDir, h2frame(FrameType.DATA, FrameFlag.END_STREAM, 39, 'tail'), [], 5),
        ...chunks(resDir, response(41, '200', 'a'), [], 10, 13),
        ...chunks(reqDir, request(43, '/next'), [], 20),
        ...chunks(resDir, response(43, '404', 'b'), [], 30, 13 + response(41, '200', 'a').length),
      ],
      stats,
    );
    assert.deepEqual(
      exs.map((e) => [e.connection.role, e.request.target, e.response?.status, e.partial]),
      // Stream 41's request was before the join: its response tells the role, and is counted
      // and dropped (nothing to pair it with).
      [[role, '/next', 404, false]],
      role,
    );
    assert.equal(stats.get('ResponsesWithoutRequest'), 1);
    assert.equal(stats.get('TotalEventsDroppedAtParsing'), 13);
    assert.equal(stats.get('MidStreamConnectionsUnsynced'), 0);
  }
});

test('3000 concurrent streams on one connection, answered in reverse: every one exact; bodies past the stage budget not kept, sizes kept', async () => {
  const n = 3000;
  const requests: Buffer[] = [CLIENT_PREFACE, SETTINGS];
  for (let i = 0; i < n; i++)
    requests.push(
      request(2 * i + 1, `/s${i}`, false),
      h2frame(FrameType.DATA, FrameFlag.END_STREAM, 2 * i + 1, 'q'.repeat(100)),
    );
  const responses: Buffer[] = [SETTINGS];
  for (let i = n - 1; i >= 0; i--) responses.push(response(2 * i + 1, '200', 'x'.repeat(100)));
  const client = Buffer.concat(requests);
  const server = Buffer.concat(responses);
  const stats = new Stats();
  const exs = await run(
    [
      open('server'),
      ...chunks(
        'recv',
        client,
        Array.from({ length: 40 }, (_, i) => (i + 1) * 1500),
        10,
      ),
      ...chunks(
        'send',
        server,
        Array.from({ length: 40 }, (_, i) => (i + 1) * 4000),
        100,
      ),
    ],
    stats,
    undefined,
    {},
    { maxPendingBodyBytes: 64 * 1024 },
  );
  assert.equal(exs.length, n);
  assert.deepEqual(
    exs.map((e) => e.request.target),
    Array.from({ length: n }, (_, i) => `/s${n - 1 - i}`),
  );
  assert.ok(exs.every((e) => e.response?.status === 200 && e.response.bodySize === 100));
  assert.ok(exs.every((e) => e.request.bodySize === 100 && !e.partial));
  assert.equal(stats.get('Http2StreamsEvicted'), 0);
  // 3000 request bodies of 100 bytes wait for their answers: 64 KiB of them are kept.
  const kept = exs.filter((e) => e.request.body.length === 100).length;
  assert.equal(kept, Math.floor((64 * 1024) / 100));
  // Responses that came while the budget was full were not kept (or only their first piece);
  // each one counted once.
  const responsesNotKept = exs.filter((e) => e.response!.body.length < 100).length;
  assert.equal(stats.get('BodiesNotKeptAtMemoryLimit'), n - kept + responsesNotKept);
});
