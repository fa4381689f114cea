import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ApiExchange, MonotonicClock } from '@traceable-ebpf/core';
import { createSpanMapper, parseTraceparent, REDACTED } from './span-mapping.js';
import { JsonlExporter, formatSpanLine, spanToJson } from './line-exporters.js';

const clock: MonotonicClock = {
  offsetNs: 1_700_000_000_000_000_000n,
  toEpochNs: (ns) => 1_700_000_000_000_000_000n + BigInt(ns),
};

function exchange(
  over: Partial<ApiExchange> = {},
  role: 'server' | 'client' = 'server',
): ApiExchange {
  return {
    protocol: 'http1',
    partial: false,
    connection: {
      id: '42:7:1',
      tgid: 42,
      fd: 7,
      role,
      family: 4,
      tls: false,
      comm: 'shop',
      local: { address: '10.0.0.1', port: role === 'server' ? 8080 : 51000 },
      remote: { address: '10.0.0.2', port: role === 'server' ? 51000 : 8080 },
    },
    request: {
      method: 'POST',
      target: '/api/items?id=3&x=y',
      version: '1.1',
      headers: [
        ['Host', 'shop.local:8080'],
        ['User-Agent', 'curl/8'],
        ['Authorization', 'Bearer s3cret'],
        ['X-Multi', 'a'],
        ['x-multi', 'b'],
      ],
      body: Buffer.from('{"a":1}'),
      bodySize: 70000,
      startNs: 1_000,
      endNs: 2_000,
    },
    response: {
      status: 201,
      version: '1.1',
      headers: [
        ['Set-Cookie', 'id=1'],
        ['Content-Type', 'application/json'],
      ],
      body: Buffer.from('ok'),
      bodySize: 2,
      startNs: 5_000,
      endNs: 2_501_000,
    },
    ...over,
  };
}

test('server exchange: kind, semantic-convention attributes, sizes, timing', () => {
  const span = createSpanMapper({ clock })(exchange());
  assert.equal(span.kind, SpanKind.SERVER);
  assert.equal(span.name, 'POST');
  const a = span.attributes;
  assert.equal(a['http.request.method'], 'POST');
  assert.equal(a['url.path'], '/api/items');
  assert.equal(a['url.query'], 'id=3&x=y');
  assert.equal(a['url.scheme'], 'http');
  assert.equal(a['http.response.status_code'], 201);
  assert.equal(a['server.address'], 'shop.local');
  assert.equal(a['server.port'], 8080);
  assert.equal(a['client.address'], '10.0.0.2');
  assert.equal(a['client.port'], 51000);
  assert.equal(a['network.protocol.version'], '1.1');
  assert.equal(a['user_agent.original'], 'curl/8');
  assert.equal(a['http.request.body.size'], 70000);
  assert.equal(a['http.response.body.size'], 2);
  assert.equal(a['traceable.module.name'], 'ebpf');
  assert.equal(span.resource.attributes['process.pid'], 42);
  assert.deepEqual(span.startTime, [1_700_000_000, 1_000]);
  assert.deepEqual(span.endTime, [1_700_000_000, 2_501_000]);
  assert.deepEqual(span.duration, [0, 2_500_000]);
  assert.equal(span.status.code, SpanStatusCode.UNSET);
});

test('headers are captured as arrays, sensitive ones redacted', () => {
  const a = createSpanMapper({ clock })(exchange()).attributes;
  assert.deepEqual(a['http.request.header.authorization'], [REDACTED]);
  assert.deepEqual(a['http.response.header.set-cookie'], [REDACTED]);
  assert.deepEqual(a['http.request.header.x-multi'], ['a', 'b']);
  assert.deepEqual(a['http.response.header.content-type'], ['application/json']);
  const custom = createSpanMapper({ clock, redactHeaders: ['x-multi'] })(exchange()).attributes;
  assert.deepEqual(custom['http.request.header.authorization'], ['Bearer s3cret']);
  assert.deepEqual(custom['http.request.header.x-multi'], [REDACTED, REDACTED]);
});

test('client exchange: kind CLIENT, server is the remote end, 4xx is an error', () => {
  const ex = exchange({}, 'client');
  const span = createSpanMapper({ clock })({ ...ex, response: { ...ex.response!, status: 404 } });
  assert.equal(span.kind, SpanKind.CLIENT);
  assert.equal(span.attributes['server.port'], 8080);
  assert.equal(span.attributes['network.peer.port'], 8080);
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.attributes['error.type'], '404');
});

test('server 5xx is an error, 4xx is not', () => {
  const ex = exchange();
  const map = createSpanMapper({ clock });
  assert.equal(
    map({ ...ex, response: { ...ex.response!, status: 503 } }).status.code,
    SpanStatusCode.ERROR,
  );
  assert.equal(
    map({ ...ex, response: { ...ex.response!, status: 404 } }).status.code,
    SpanStatusCode.UNSET,
  );
});

test('a traceparent header puts the span into that trace', () => {
  const ex = exchange();
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const span = createSpanMapper({ clock })({
    ...ex,
    request: { ...ex.request, headers: [['traceparent', tp]] },
  });
  assert.equal(span.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(span.parentSpanContext?.spanId, 'b7ad6b7169203331');
  assert.notEqual(span.spanContext().spanId, 'b7ad6b7169203331');
  assert.equal(
    parseTraceparent('00-00000000000000000000000000000000-b7ad6b7169203331-01'),
    undefined,
  );
  assert.equal(parseTraceparent('garbage'), undefined);
});

test('trailers are captured apart from headers, redacted alike', () => {
  const base = exchange();
  const a = createSpanMapper({ clock, redactHeaders: ['x-secret'] })({
    ...base,
    response: {
      ...base.response!,
      trailers: [
        ['X-Checksum', 'abc'],
        ['X-Secret', 'k'],
      ],
    },
  }).attributes;
  assert.deepEqual(a['http.response.trailer.x-checksum'], ['abc']);
  assert.deepEqual(a['http.response.trailer.x-secret'], [REDACTED]);
  assert.equal(a['http.response.header.x-checksum'], undefined);
});

test('no response: marked, times from the request; bodies only when asked', () => {
  const span = createSpanMapper({ clock })(
    exchange({ response: undefined, unanswered: 'timeout' }),
  );
  assert.equal(span.attributes['traceable.response.missing'], true);
  assert.equal(span.attributes['traceable.response.missing_reason'], 'timeout');
  assert.equal(span.attributes['http.response.status_code'], undefined);
  assert.deepEqual(span.endTime, [1_700_000_000, 2_000]);
  assert.equal(span.attributes['http.request.body'], undefined);
  const withBodies = createSpanMapper({ clock, captureBodies: true })(exchange());
  assert.equal(withBodies.attributes['http.request.body'], '{"a":1}');
});

test('console line and JSON forms', () => {
  const span = createSpanMapper({ clock })(exchange());
  const line = formatSpanLine(span);
  assert.match(
    line,
    /^2023-11-14T22:13:20\.000Z pid=42 \S+ POST \/api\/items\?id=3&x=y -> 201 2\.50ms server peer=10\.0\.0\.2:51000$/,
  );
  const json = spanToJson(span);
  assert.equal(json.kind, 'server');
  assert.equal(json.startTimeUnixNano, '1700000000000001000');
  // The JSONL exporter serialises each resource once; its lines are spanToJson's JSON exactly.
  const lines: string[] = [];
  const jsonl = new JsonlExporter({ sink: { write: (t) => lines.push(t) } });
  jsonl.export([span, span], () => {});
  assert.equal(lines[0], `${JSON.stringify(json)}\n${JSON.stringify(json)}\n`);
});

test('another stage’s protocol (redis) maps to a span named by it, without claiming HTTP', () => {
  const base = exchange({}, 'client');
  const redis = exchange(
    {
      protocol: 'redis',
      request: { ...base.request, method: 'GET', target: 'cart:42', version: '3', headers: [] },
      response: { ...base.response!, status: 200, version: '3', headers: [] },
    },
    'client',
  );
  const span = createSpanMapper({ clock })(redis);
  assert.equal(span.name, 'GET');
  assert.equal(span.kind, SpanKind.CLIENT);
  assert.equal(span.status.code, SpanStatusCode.UNSET);
  const a = span.attributes;
  assert.equal(a['network.protocol.name'], 'redis');
  assert.equal(a['network.protocol.version'], '3');
  assert.equal(a['url.scheme'], undefined);
  // The connection's facts are the same as for any protocol.
  assert.equal(a['network.transport'], 'tcp');
  assert.equal(a['server.address'], '10.0.0.2');
  assert.equal(a['server.port'], 8080);
  assert.equal(a['network.peer.address'], '10.0.0.2');
  assert.equal(a['traceable.connection.id'], '42:7:1');
  assert.match(formatSpanLine(span), / GET cart:42 -> 200 [\d.]+ms client peer=10\.0\.0\.2:8080$/);
  // No version: none said.
  const versionless = createSpanMapper({ clock })({
    ...redis,
    protocol: 'memcached',
    request: { ...redis.request, version: '' },
  });
  assert.equal(versionless.attributes['network.protocol.name'], 'memcached');
  assert.equal('network.protocol.version' in versionless.attributes, false);
});

test('HTTP/2 and gRPC: authority as server.address, rpc attributes, name, status by side', () => {
  const base = exchange();
  const grpcExchange = (statusCode: number, role: 'server' | 'client'): ApiExchange => {
    const b = exchange({}, role);
    return {
      ...b,
      protocol: 'http2',
      request: {
        ...b.request,
        method: 'POST',
        target: '/helloworld.Greeter/SayHello',
        version: '2',
        authority: 'greeter.local:50051',
        headers: [['content-type', 'application/grpc']],
      },
      response: { ...b.response!, status: 200, version: '2' },
      grpc: {
        service: 'helloworld.Greeter',
        method: 'SayHello',
        statusCode,
        requestMessages: 1,
        responseMessages: 40,
        requestMessageBytes: 7,
        responseMessageBytes: 400,
        compressed: true,
        messages: [
          { direction: 'request', size: 7, compressed: false, tsNs: 1_000 },
          ...Array.from({ length: 32 }, (_, i) => ({
            direction: 'response' as const,
            size: 10,
            compressed: i === 0,
            tsNs: 2_000 + i,
          })),
        ],
      },
    };
  };
  const map = createSpanMapper({ clock });
  const ok = map(grpcExchange(0, 'server'));
  assert.match(formatSpanLine(map(grpcExchange(5, 'client'))), / -> 200 grpc=5 \S+ms client /);
  assert.equal(ok.name, 'helloworld.Greeter/SayHello');
  assert.equal(ok.attributes['rpc.system'], 'grpc');
  assert.equal(ok.attributes['rpc.service'], 'helloworld.Greeter');
  assert.equal(ok.attributes['rpc.method'], 'SayHello');
  assert.equal(ok.attributes['rpc.grpc.status_code'], 0);
  assert.equal(ok.attributes['network.protocol.version'], '2');
  assert.equal(ok.attributes['server.address'], 'greeter.local');
  assert.equal(ok.attributes['traceable.grpc.response.messages'], 40);
  assert.equal(ok.attributes['traceable.grpc.request.message_bytes'], 7);
  assert.equal(ok.attributes['traceable.grpc.response.message_bytes'], 400);
  assert.equal(ok.attributes['traceable.grpc.compressed'], true);
  // One rpc.message event per kept message: the server received the request, sent responses;
  // the 8 responses past the 32 kept are counted as dropped events.
  assert.deepEqual(
    ok.events.slice(0, 3).map((e) => [e.name, e.attributes]),
    [
      [
        'rpc.message',
        { 'rpc.message.type': 'RECEIVED', 'rpc.message.id': 1, 'rpc.message.uncompressed_size': 7 },
      ],
      [
        'rpc.message',
        { 'rpc.message.type': 'SENT', 'rpc.message.id': 1, 'rpc.message.compressed_size': 10 },
      ],
      [
        'rpc.message',
        { 'rpc.message.type': 'SENT', 'rpc.message.id': 2, 'rpc.message.uncompressed_size': 10 },
      ],
    ],
  );
  assert.equal(ok.events.length, 33);
  assert.equal(ok.droppedEventsCount, 8);
  assert.deepEqual(
    map(grpcExchange(0, 'client'))
      .events.slice(0, 2)
      .map((e) => e.attributes!['rpc.message.type']),
    ['SENT', 'RECEIVED'],
  );
  assert.equal(ok.status.code, 0);
  // NOT_FOUND (5): the server did its job; the client's call failed.
  assert.equal(map(grpcExchange(5, 'server')).status.code, 0);
  assert.equal(map(grpcExchange(5, 'client')).status.code, 2);
  // INTERNAL (13): a server failure.
  const internal = map(grpcExchange(13, 'server'));
  assert.equal(internal.status.code, 2);
  assert.equal(internal.attributes['error.type'], '13');
  // A reset stream is marked; plain HTTP/2 keeps the method as the name.
  const reset = map({
    ...base,
    protocol: 'http2',
    response: undefined,
    aborted: true,
    unanswered: 'reset',
  });
  assert.equal(reset.attributes['traceable.stream.reset'], true);
  assert.equal(reset.attributes['traceable.response.missing_reason'], 'reset');
  assert.equal(reset.name, 'POST');
});

test('many header lines (past the scan limit) group by name alike, in wire order', () => {
  const headers = Array.from(
    { length: 40 },
    (_, i) => [i % 2 ? `X-H${i % 3}` : `x-h${i % 3}`, `v${i}`] as const,
  );
  const base = exchange();
  const a = createSpanMapper({ clock })({
    ...base,
    request: { ...base.request, headers },
  }).attributes;
  for (let k = 0; k < 3; k++)
    assert.deepEqual(
      a[`http.request.header.x-h${k}`],
      headers.filter((_, i) => i % 3 === k).map(([, v]) => v),
    );
});

test('an enriched exchange’s resource attributes land on its span’s resource; the configured service name wins', () => {
  const pod = { 'k8s.pod.name': 'web-1', 'k8s.namespace.name': 'shop', 'service.name': 'web-svc' };
  const map = createSpanMapper({ clock });
  const plain = map(exchange());
  const a = map(exchange({ resource: pod }));
  const b = map(exchange({ resource: pod }));
  assert.equal(plain.resource.attributes['service.name'], 'shop');
  assert.equal(plain.resource.attributes['k8s.pod.name'], undefined);
  assert.equal(a.resource.attributes['service.name'], 'web-svc');
  assert.equal(a.resource.attributes['k8s.pod.name'], 'web-1');
  assert.equal(a.resource.attributes['process.pid'], 42);
  assert.equal(b.resource, a.resource, 'one resource while the attributes object stays the same');
  // The same pid in another pod (reused): a new resource.
  const other = map(exchange({ resource: { ...pod, 'k8s.pod.name': 'web-2' } }));
  assert.equal(other.resource.attributes['k8s.pod.name'], 'web-2');
  const named = createSpanMapper({ clock, serviceName: 'configured' })(exchange({ resource: pod }));
  assert.equal(named.resource.attributes['service.name'], 'configured');
});
