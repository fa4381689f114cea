/**
 * HTTP/1 end to end: real servers and clients on this machine, the real tracer CLI with eBPF,
 * spans received by an OTLP/HTTP receiver and decoded. Every request must appear exactly once
 * with its exact method, path, status, kind, server port and process id.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestsOf, startOtlpReceiver, SPAN_KIND } from './otlp-receiver.js';
import {
  freePort,
  kernelTestsPossible,
  kill,
  run,
  startNginx,
  startTracer,
  waitForOutput,
  waitForPort,
} from './harness.js';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function webRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'te-e2e-'));
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(dir, 'www', 'index.html'), '<h1>hello</h1>\n');
  writeFileSync(join(dir, 'www', 'a.txt'), 'a'.repeat(1234));
  writeFileSync(join(dir, 'www', 'big.bin'), Buffer.alloc(200_000, 7));
  return dir;
}

test('python http.server with curl: GET, HEAD, POST, 404, query string (OTLP protobuf)', async (t) => {
  if (!kernelTestsPossible(t, ['curl'])) return;
  const dir = webRoot();
  const port = await freePort();
  const receiver = await startOtlpReceiver();
  const server = spawn(
    PYTHON,
    ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', join(dir, 'www')],
    { stdio: 'ignore' },
  );
  t.after(async () => {
    await kill(server);
    await receiver.close();
  });
  await waitForPort(port);
  const tracer = await startTracer([server.pid!], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    run('curl', ['-sS', '-o', '/dev/null', `${url}/a.txt`]);
    run('curl', ['-sS', '-o', '/dev/null', '-I', `${url}/a.txt`]);
    run('curl', ['-sS', '-o', '/dev/null', '-X', 'POST', '--data', 'x=1', `${url}/a.txt`]);
    run('curl', ['-sS', '-o', '/dev/null', `${url}/missing.html`]);
    run('curl', ['-sS', '-o', '/dev/null', `${url}/index.html?lang=en&q=2`]);
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  assert.ok(
    receiver.contentTypes.every((c) => c === 'application/x-protobuf'),
    receiver.contentTypes.join(),
  );
  assert.deepEqual(requestsOf(receiver.spans), [
    'GET /a.txt 200',
    'GET /index.html?lang=en&q=2 200',
    'GET /missing.html 404',
    'HEAD /a.txt 200',
    'POST /a.txt 501',
  ]);
  for (const s of receiver.spans) {
    assert.equal(s.kind, SPAN_KIND.SERVER);
    assert.equal(s.attributes['server.port'], port);
    assert.equal(s.resource['process.pid'], server.pid);
    assert.equal(s.attributes['network.protocol.version'], '1.1');
    assert.match(String(s.attributes['user_agent.original']), /^curl\//);
    assert.ok(s.endNs >= s.startNs);
  }
  const get = receiver.spans.find(
    (s) => s.attributes['url.path'] === '/a.txt' && s.attributes['http.request.method'] === 'GET',
  )!;
  assert.equal(get.attributes['http.response.body.size'], 1234);
  const post = receiver.spans.find((s) => s.attributes['http.request.method'] === 'POST')!;
  assert.equal(post.attributes['http.request.body.size'], 3);
});

test('nginx serving files to one curl run over one keep-alive connection (OTLP JSON)', async (t) => {
  if (!kernelTestsPossible(t, ['curl', 'nginx'])) return;
  const dir = webRoot();
  const port = await freePort();
  const receiver = await startOtlpReceiver();
  const { nginx, workers } = await startNginx(dir, port);
  t.after(async () => {
    await kill(nginx, 'SIGQUIT');
    await receiver.close();
  });
  const tracer = await startTracer([nginx.pid!], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  });
  let curlOut: string;
  try {
    const url = `http://127.0.0.1:${port}`;
    // One curl run, several URLs: curl keeps one connection alive for all of them.
    curlOut = run('curl', [
      '-sS',
      '-w',
      '%{num_connects} %{http_code}\\n',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      `${url}/index.html`,
      `${url}/a.txt`,
      `${url}/nothing-here`,
      `${url}/a.txt?v=2`,
      `${url}/big.bin`,
    ]);
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  // curl opened one connection and reused it four times.
  assert.deepEqual(curlOut.trim().split('\n'), ['1 200', '0 200', '0 404', '0 200', '0 200']);
  assert.ok(
    receiver.contentTypes.every((c) => c.startsWith('application/json')),
    receiver.contentTypes.join(),
  );
  assert.deepEqual(requestsOf(receiver.spans), [
    'GET /a.txt 200',
    'GET /a.txt?v=2 200',
    'GET /big.bin 200',
    'GET /index.html 200',
    'GET /nothing-here 404',
  ]);
  const conns = new Set(receiver.spans.map((s) => s.attributes['traceable.connection.id']));
  assert.equal(conns.size, 1, 'all five requests travelled on one connection');
  // Bodies sent with sendfile never pass through user memory: sizes are still exact.
  const big = receiver.spans.find((s) => s.attributes['url.path'] === '/big.bin')!;
  assert.equal(big.attributes['http.response.body.size'], 200_000);
  assert.equal(big.attributes['traceable.partial'], undefined);
  for (const s of receiver.spans) {
    assert.equal(s.kind, SPAN_KIND.SERVER);
    assert.equal(s.attributes['server.port'], port);
    assert.ok(
      workers.includes(Number(s.resource['process.pid'])),
      `pid ${String(s.resource['process.pid'])} is an nginx worker`,
    );
    assert.equal(s.resource['process.executable.name'], 'nginx');
  }
  assert.equal(
    receiver.spans.find((s) => s.attributes['url.path'] === '/a.txt')!.attributes[
      'http.response.body.size'
    ],
    1234,
  );
});

const NODE_SERVER = `
const http = require('node:http');
const srv = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/hello') { res.end('hi'); return; }
    if (req.url === '/big') { res.end(Buffer.alloc(100000, 120)); return; }
    if (req.url.startsWith('/json')) { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ ok: true })); return; }
    if (req.url === '/echo') { res.writeHead(201); res.end(Buffer.concat(chunks)); return; }
    res.writeHead(500); res.end('boom');
  });
});
srv.listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'));
`;

const NODE_CLIENT = `
const http = require('node:http');
const port = Number(process.argv[1]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}
process.stdin.once('data', async () => {
  const codes = [];
  codes.push(await request('GET', '/hello'));
  codes.push(await request('GET', '/json?id=7'));
  codes.push(await request('POST', '/echo', 'x'.repeat(5000)));
  codes.push(await request('DELETE', '/fail'));
  codes.push(await request('GET', '/big'));
  console.log(codes.join(' '));
  agent.destroy();
});
console.log('ready');
`;

test('node http server and node client: one SERVER and one CLIENT span per request', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const port = await freePort();
  const receiver = await startOtlpReceiver();
  const server: ChildProcess = spawn(process.execPath, ['-e', NODE_SERVER, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const client: ChildProcess = spawn(process.execPath, ['-e', NODE_CLIENT, String(port)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(async () => {
    await kill(server);
    await kill(client);
    await receiver.close();
  });
  await waitForOutput(server, 'stdout', 'listening');
  await waitForOutput(client, 'stdout', 'ready');
  const tracer = await startTracer([server.pid!, client.pid!], {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  });
  try {
    const done = waitForOutput(client, 'stdout', /\d+ \d+ \d+ \d+ \d+\n/);
    client.stdin!.write('go\n');
    assert.match(await done, /200 200 201 500 200/);
  } finally {
    assert.equal(await tracer.stop(), 0, tracer.stderr());
  }
  const expected = [
    'DELETE /fail 500',
    'GET /big 200',
    'GET /hello 200',
    'GET /json?id=7 200',
    'POST /echo 201',
  ];
  const servers = receiver.spans.filter((s) => s.kind === SPAN_KIND.SERVER);
  const clients = receiver.spans.filter((s) => s.kind === SPAN_KIND.CLIENT);
  assert.deepEqual(requestsOf(servers), expected);
  assert.deepEqual(requestsOf(clients), expected);
  assert.equal(receiver.spans.length, 10);
  // 100 kB written at once: the kernel copies 16 KiB, the rest is a gap inside the body.
  for (const s of receiver.spans.filter((x) => x.attributes['url.path'] === '/big')) {
    assert.equal(s.attributes['http.response.body.size'], 100_000);
    assert.equal(s.attributes['traceable.partial'], undefined);
  }
  for (const s of servers) {
    assert.equal(s.resource['process.pid'], server.pid);
    assert.equal(s.attributes['server.port'], port);
  }
  for (const s of clients) {
    assert.equal(s.resource['process.pid'], client.pid);
    assert.equal(s.attributes['server.port'], port);
    assert.equal(s.attributes['network.peer.port'], port);
  }
  const echo = servers.find((s) => s.attributes['url.path'] === '/echo')!;
  assert.equal(echo.attributes['http.request.body.size'], 5000);
  assert.equal(echo.attributes['http.response.body.size'], 5000);
  assert.equal(
    clients.find((s) => s.attributes['url.path'] === '/fail')!.statusCode,
    2,
    'client 5xx is an error',
  );
});
