/**
 * HTTP/2 end to end (issue 5, first part): a Node http2 server and client without TLS (h2c,
 * prior knowledge), concurrent streams on one connection; the real tracer CLI; spans received
 * over OTLP.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestsOf, startOtlpReceiver, SPAN_KIND, type ReceivedSpan } from './otlp-receiver.js';
import {
  ROOT,
  freePort,
  kernelTestsPossible,
  kill,
  run,
  startTracer,
  waitForOutput,
} from './harness.js';
import { tracedNghttpd } from './nghttpd.js';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { renderChart, renderedConfig } from '../../examples/daemonset-tracer/dist/testing/helm.js';

const H2_SERVER = `
const http2 = require('node:http2');
const srv = http2.createServer();
srv.on('stream', (stream, headers) => {
  const path = headers[':path'];
  let size = 0;
  stream.on('data', (c) => (size += c.length));
  stream.on('end', () => {
    if (path === '/missing') { stream.respond({ ':status': 404 }); stream.end(); return; }
    if (path === '/upload') { stream.respond({ ':status': 201 }); stream.end(String(size)); return; }
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end('x'.repeat(1000));
  });
});
srv.listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'));
`;

/** The request function both Node http2 client scripts use (one stream; resolves with :status). */
const H2_REQUEST = `function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': method, ':path': path });
    let status = 0;
    req.on('response', (h) => (status = h[':status']));
    req.on('data', () => {});
    req.on('end', () => resolve(status));
    req.on('error', reject);
    req.end(body);
  });
}`;

const H2_CLIENT = `
const http2 = require('node:http2');
let session;
${H2_REQUEST}
process.stdin.once('data', async () => {
  // Connected once the tracer runs (a connection joined mid-stream is another test's matter).
  session = http2.connect('http://127.0.0.1:' + process.argv[1]);
  // Concurrent streams on one connection, then one more.
  const codes = await Promise.all([request('GET', '/a'), request('GET', '/missing')]);
  codes.push(await request('POST', '/upload', 'hello-h2'));
  console.log(codes.join(' '));
  session.close();
});
console.log('ready');
`;

/**
 * Runs the Node http2 server and \`client\` (a script that prints 'ready', waits for a line,
 * then makes GET /a, GET /missing and POST /upload) with the tracer on both; checks that each
 * side reports the three requests once. Returns the spans and pids for further checks.
 */
async function nodeH2Pair(t: TestContext, clientScript: string) {
  const port = await freePort();
  const receiver = await startOtlpReceiver();
  const server: ChildProcess = spawn(process.execPath, ['-e', H2_SERVER, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(async () => {
    await kill(server);
    await receiver.close();
  });
  await waitForOutput(server, 'stdout', 'listening');
  const client: ChildProcess = spawn(process.execPath, ['-e', clientScript, String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => kill(client));
  await waitForOutput(client, 'stdout', 'ready');
  const tracer = await startTracer([server.pid!, client.pid!], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  });
  try {
    const done = waitForOutput(client, 'stdout', /\d+ \d+ \d+\n/);
    client.stdin!.write('go\n');
    assert.match(await done, /200 404 201/);
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  const expected = ['GET /a 200', 'GET /missing 404', 'POST /upload 201'];
  const servers = receiver.spans.filter((s) => s.kind === SPAN_KIND.SERVER);
  const clients = receiver.spans.filter((s) => s.kind === SPAN_KIND.CLIENT);
  assert.deepEqual(requestsOf(servers), expected);
  assert.deepEqual(requestsOf(clients), expected);
  return { spans: receiver.spans, servers, clients, port, server: server.pid, client: client.pid };
}

test('Node http2 server and client (h2c, prior knowledge): one SERVER and one CLIENT span per stream, version 2', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const { spans, servers, clients, port, server, client } = await nodeH2Pair(t, H2_CLIENT);
  assert.equal(spans.length, 6);
  for (const s of spans) {
    assert.equal(s.attributes['network.protocol.version'], '2');
    assert.equal(s.attributes['server.port'], port);
    assert.equal(s.attributes['traceable.partial'], undefined);
  }
  for (const s of servers) assert.equal(s.resource['process.pid'], server);
  for (const s of clients) assert.equal(s.resource['process.pid'], client);
  const a = servers.find((s) => s.attributes['url.path'] === '/a')!;
  assert.equal(a.attributes['http.response.body.size'], 1000);
  const up = servers.find((s) => s.attributes['url.path'] === '/upload')!;
  assert.equal(up.attributes['http.request.body.size'], 'hello-h2'.length);
});

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const GRPC_PEER = `${ROOT}test/fixtures/grpc_peer.py`;

/**
 * A Python server (Debian's python3: its grpcio and h2) that binds port 0 and prints
 * "listening PORT" (a port probed free first could be taken before it binds); killed after the
 * test.
 */
async function pythonServer(t: TestContext, args: string[]) {
  const server: ChildProcess = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => kill(server));
  const listening = await waitForOutput(server, 'stdout', /listening \d+\n/);
  return { server, port: Number(/listening (\d+)/.exec(listening)![1]) };
}

/**
 * Runs grpc_peer.py's server and a client in `mode` (both traced), starts the calls once the
 * tracer is ready and checks the client's output; resolves with the spans received and the
 * tracer's last stats line.
 */
async function tracedGrpcCalls(
  t: TestContext,
  mode: 'client' | 'big',
  output: RegExp,
): Promise<{ spans: ReceivedSpan[]; stats: string }> {
  const receiver = await startOtlpReceiver();
  t.after(() => receiver.close());
  const { server, port } = await pythonServer(t, [GRPC_PEER, 'server', '0']);
  const client: ChildProcess = spawn(PYTHON, [GRPC_PEER, mode, String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => kill(client));
  const tracer = await startTracer([server.pid!, client.pid!], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  });
  try {
    const done = waitForOutput(client, 'stdout', /\n/);
    client.stdin!.write('go\n');
    assert.match(await done, output);
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  const stats =
    tracer
      .stderr()
      .split('\n')
      .filter((l) => l.includes('"stats"'))
      .at(-1) ?? '';
  return { spans: receiver.spans, stats };
}

/** Rows in one order (spans arrive in any). */
const sorted = (rows: unknown[][]) =>
  rows.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** For each span of `kind`: its name and the attributes named, sorted. */
const spanRows = (spans: ReceivedSpan[], kind: number, attributes: string[]) =>
  sorted(
    spans
      .filter((s) => s.kind === kind)
      .map((s) => [s.name, ...attributes.map((a) => s.attributes[a])]),
  );

test('Python grpcio: unary, a NOT_FOUND status, server and client streaming — service, method, status, message counts', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const { spans, stats } = await tracedGrpcCalls(
    t,
    'client',
    /^echo:hi NOT_FOUND part-0,part-1,part-2 got-3\n$/,
  );
  const receiver = { spans };
  const calls = (kind: number) =>
    spanRows(spans, kind, [
      'rpc.system',
      'rpc.grpc.status_code',
      'traceable.grpc.request.messages',
      'traceable.grpc.response.messages',
      'network.protocol.version',
    ]);
  const expected = [
    ['demo.Echo/ClientStream', 'grpc', 0, 3, 1, '2'],
    ['demo.Echo/Fail', 'grpc', 5, 1, 0, '2'],
    ['demo.Echo/ServerStream', 'grpc', 0, 1, 3, '2'],
    ['demo.Echo/Unary', 'grpc', 0, 1, 1, '2'],
  ];
  const why = `${receiver.spans.length} spans; tracer: ${stats}`;
  assert.deepEqual(calls(SPAN_KIND.SERVER), expected, why);
  assert.deepEqual(calls(SPAN_KIND.CLIENT), expected, why);
  assert.equal(receiver.spans.length, 8);
  // NOT_FOUND fails the client's span, not the server's (OTel's gRPC conventions).
  const fail = (kind: number) =>
    receiver.spans.find((s) => s.kind === kind && s.name === 'demo.Echo/Fail')!;
  assert.equal(fail(SPAN_KIND.SERVER).statusCode, 0);
  assert.equal(fail(SPAN_KIND.CLIENT).statusCode, 2);
  for (const s of receiver.spans) {
    assert.equal(s.attributes['url.path'], `/${s.name}`);
    assert.equal(s.attributes['traceable.partial'], undefined);
  }
  // Message sizes from the length prefixes, as rpc.message events and byte totals.
  const messages = (kind: number, name: string) => {
    const s = receiver.spans.find((x) => x.kind === kind && x.name === name)!;
    return [
      s.attributes['traceable.grpc.request.message_bytes'],
      s.attributes['traceable.grpc.response.message_bytes'],
      s.events.map((e) => [
        e.attributes['rpc.message.type'],
        e.attributes['rpc.message.id'],
        e.attributes['rpc.message.uncompressed_size'],
      ]),
      s.events.every(
        (e) => e.name === 'rpc.message' && e.timeNs >= s.startNs && e.timeNs <= s.endNs,
      ),
    ];
  };
  assert.deepEqual(messages(SPAN_KIND.SERVER, 'demo.Echo/Unary'), [
    2,
    7,
    [
      ['RECEIVED', 1, 2], // "hi"
      ['SENT', 1, 7], // "echo:hi"
    ],
    true,
  ]);
  assert.deepEqual(messages(SPAN_KIND.CLIENT, 'demo.Echo/ClientStream'), [
    3,
    5,
    [
      ['SENT', 1, 1],
      ['SENT', 2, 1],
      ['SENT', 3, 1],
      ['RECEIVED', 1, 5], // "got-3"
    ],
    true,
  ]);
});

test('grpcio with a 300 KB message, past what the kernel copies of one call: the gap falls inside a DATA frame, later calls are whole', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const { spans, stats } = await tracedGrpcCalls(t, 'big', /^300005 echo:after NOT_FOUND\n$/);
  const seen = (kind: number) =>
    spanRows(spans, kind, [
      'rpc.grpc.status_code',
      'http.request.body.size',
      'http.response.body.size',
      'traceable.grpc.request.messages',
      'traceable.grpc.response.messages',
      'traceable.partial',
    ]);
  // Sizes of the big call are exact, its bytes in the middle uncopied (partial); the kernel
  // copied the end of each large call, so the frames after it parse and HPACK stays in step.
  const expected = sorted([
    ['demo.Echo/Unary', 0, 300005, 300010, 1, 1, true],
    ['demo.Echo/Unary', 0, 10, 15, 1, 1, undefined],
    ['demo.Echo/Fail', 5, 6, 0, 1, 0, undefined],
  ]);
  assert.deepEqual(seen(SPAN_KIND.CLIENT), expected, stats);
  assert.deepEqual(seen(SPAN_KIND.SERVER), expected, stats);
  assert.equal(spans.length, 6);
  assert.match(stats, /"Http2GapsResynced":0,/);
  assert.match(stats, /"Http2ConnectionsAbandoned":0,/);
});

test('nghttpd with nghttp (100 concurrent streams on one connection) and curl --http2-prior-knowledge: every stream once', async (t) => {
  if (!kernelTestsPossible(t, ['nghttpd', 'nghttp', 'curl'])) return;
  const dir = mkdtempSync(join(tmpdir(), 'te-h2-'));
  writeFileSync(join(dir, 'a.txt'), 'hello from nghttpd');
  const { url, receiver, tracer } = await tracedNghttpd(t, dir);
  try {
    run('nghttp', ['-n', '-m', '100', `${url}/a.txt`]);
    run('nghttp', ['-n', `${url}/missing`]);
    assert.equal(
      run('curl', [
        '-sS',
        '--http2-prior-knowledge',
        '-o',
        '/dev/null',
        '-w',
        '%{http_version}',
        `${url}/a.txt?curl=1`,
      ]),
      '2',
    );
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  const counts = new Map<string, number>();
  for (const r of requestsOf(receiver.spans)) counts.set(r, (counts.get(r) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(counts), {
    'GET /a.txt 200': 100,
    'GET /a.txt?curl=1 200': 1,
    'GET /missing 404': 1,
  });
  for (const s of receiver.spans) {
    assert.equal(s.kind, SPAN_KIND.SERVER);
    assert.equal(s.attributes['network.protocol.version'], '2');
    assert.equal(s.attributes['traceable.partial'], undefined);
    if (s.attributes['url.path'] === '/a.txt')
      assert.equal(s.attributes['http.response.body.size'], 'hello from nghttpd'.length);
  }
});

const H2C_SERVER = `${ROOT}test/fixtures/h2c_server.py`;

test('Upgrade: h2c from HTTP/1.1 (curl --http2, nghttp -u) against an h2 server, and refused upgrades that stay HTTP/1.1', async (t) => {
  if (!kernelTestsPossible(t, ['curl', 'nghttp'])) return;
  const receiver = await startOtlpReceiver();
  t.after(() => receiver.close());
  const { server, port } = await pythonServer(t, [H2C_SERVER]);
  const tracer = await startTracer([server.pid!], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  });
  const url = `http://127.0.0.1:${port}`;
  const curl = (...paths: string[]) =>
    run('curl', ['-sS', '--http2', '-w', '%{http_version} ', ...paths.map((p) => url + p)]);
  try {
    // The first request upgrades (stream 1); the second reuses the connection as stream 3.
    assert.equal(curl('/h2c/one', '/h2c/missing'), 'served /h2c/one\n2 not found\n2 ');
    assert.match(run('nghttp', ['-u', `${url}/h2c/nghttp`]), /served \/h2c\/nghttp/);
    // The server refuses these: both requests go in HTTP/1.1 on one kept-alive connection.
    assert.equal(curl('/plain/a', '/plain/b'), 'served /plain/a\n1.1 served /plain/b\n1.1 ');
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  const seen = receiver.spans
    .map((s) => [
      `${s.attributes['http.request.method']} ${s.attributes['url.path']} ${s.attributes['http.response.status_code']}`,
      s.attributes['network.protocol.version'],
      s.kind,
      s.attributes['traceable.partial'],
    ])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  assert.deepEqual(seen, [
    ['GET /h2c/missing 404', '2', SPAN_KIND.SERVER, undefined],
    ['GET /h2c/nghttp 200', '2', SPAN_KIND.SERVER, undefined],
    ['GET /h2c/one 200', '2', SPAN_KIND.SERVER, undefined],
    ['GET /plain/a 200', '1.1', SPAN_KIND.SERVER, undefined],
    ['GET /plain/b 200', '1.1', SPAN_KIND.SERVER, undefined],
  ]);
  const one = receiver.spans.find((s) => s.attributes['url.path'] === '/h2c/one')!;
  assert.equal(one.attributes['http.response.body.size'], 'served /h2c/one\n'.length);
});

test("Helm's ebpfHttp2CaptureEnabled reaches the tracer: with the chart's config nghttpd's streams are spans; set false, none are and copying stops", async (t) => {
  if (!kernelTestsPossible(t, ['nghttpd', 'nghttp'])) return;
  const dir = mkdtempSync(join(tmpdir(), 'te-helm-'));
  writeFileSync(join(dir, 'a.txt'), 'hello');
  for (const enabled of [true, false]) {
    // The chart's config as rendered by helm, but outside Kubernetes: capturing only the chosen
    // pid here, this host's /proc, no health port.
    const config = join(dir, `config-${enabled}.yaml`);
    const rendered = parseYaml(
      renderedConfig(renderChart(['--set', `ebpfHttp2CaptureEnabled=${enabled}`])),
    ) as Record<string, unknown>;
    writeFileSync(
      config,
      stringifyYaml({
        ...rendered,
        k8s_enabled: false,
        proc_fs_path: '/proc',
        health: { enabled: false },
      }),
    );
    const { url, receiver, tracer, server } = await tracedNghttpd(t, dir, ['--config', config]);
    try {
      run('nghttp', ['-n', `${url}/a.txt`]);
    } finally {
      assert.equal(await tracer.stop(), 0, tracer.stderr());
    }
    assert.deepEqual(requestsOf(receiver.spans), enabled ? ['GET /a.txt 200'] : [], `${enabled}`);
    if (!enabled) assert.match(tracer.stderr(), /"ConnectionsDisabled":[1-9]/);
    await kill(server);
  }
});

const H2_CLIENT_EARLY = `
const http2 = require('node:http2');
const session = http2.connect('http://127.0.0.1:' + process.argv[1]);
${H2_REQUEST}
(async () => {
  await request('GET', '/warmup'); // before the tracer: fills HPACK tables it never sees
  console.log('ready');
  process.stdin.once('data', async () => {
    const codes = [await request('GET', '/a'), await request('GET', '/missing')];
    codes.push(await request('POST', '/upload', 'hello-h2'));
    console.log(codes.join(' '));
    session.close();
  });
})();
`;

test('the tracer started while an HTTP/2 connection is open: later streams are reported (frame shape, lenient HPACK)', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const { spans, servers } = await nodeH2Pair(t, H2_CLIENT_EARLY);
  for (const s of spans) assert.equal(s.attributes['network.protocol.version'], '2');
  const up = servers.find((s) => s.attributes['url.path'] === '/upload')!;
  assert.equal(up.attributes['http.request.body.size'], 'hello-h2'.length);
});
