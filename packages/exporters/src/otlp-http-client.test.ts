import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createOtlpHttpClient, type OtlpHttpClientOptions } from './otlp-http-client.js';

interface Received {
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly socket: unknown;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

/** A local collector on 127.0.0.1:0 answering as `handler` says; records what it received. */
async function collector(handler: Handler, server: http.Server = http.createServer()) {
  const received: Received[] = [];
  let connections = 0;
  server.on('connection', () => connections++);
  server.on('secureConnection', () => connections++);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      received.push({ headers: req.headers, body, socket: req.socket });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const scheme = server instanceof https.Server ? 'https' : 'http';
  return {
    url: `${scheme}://127.0.0.1:${port}/v1/traces`,
    received,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** protobuf: a length-delimited field. */
const ld = (field: number, bytes: Uint8Array) =>
  Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes]);
/** protobuf: a varint field (values < 128). */
const vi = (field: number, v: number) => Buffer.from([field << 3, v]);

async function withClient<T>(
  options: OtlpHttpClientOptions,
  fn: (c: ReturnType<typeof createOtlpHttpClient>) => Promise<T>,
): Promise<T> {
  const client = createOtlpHttpClient(options);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

const BODY = new Uint8Array([1, 2, 3, 4]);

test('2xx with a protobuf partial_success: ok with the rejected spans and message', async () => {
  const c = await collector((_req, res) => {
    const ps = Buffer.concat([vi(1, 5), ld(2, Buffer.from('spans too old'))]);
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(ld(1, ps));
  });
  const outcome = await withClient({ url: c.url }, (client) => client.send(BODY));
  assert.deepEqual(outcome, { kind: 'ok', rejectedSpans: 5, message: 'spans too old' });
  assert.equal(c.received[0]!.headers['content-type'], 'application/x-protobuf');
  assert.deepEqual([...c.received[0]!.body], [...BODY]);
  await c.close();
});

test('2xx with a JSON partialSuccess (rejectedSpans as a string); empty and garbage bodies', async () => {
  const answers = [
    JSON.stringify({ partialSuccess: { rejectedSpans: '7', errorMessage: 'quota' } }),
    '',
    '{}',
    'not json',
  ];
  const c = await collector((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(answers.shift()),
  );
  await withClient({ url: c.url, protocol: 'http/json' }, async (client) => {
    assert.deepEqual(await client.send(BODY), { kind: 'ok', rejectedSpans: 7, message: 'quota' });
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await client.send(BODY), { kind: 'ok', rejectedSpans: 0 });
    }
  });
  assert.equal(c.received[0]!.headers['content-type'], 'application/json');
  await c.close();
});

test('2xx with a garbage protobuf body: ok, nothing rejected', async () => {
  const bodies = [Buffer.from([0x0a, 0x7f, 1]), Buffer.from([0xff, 0xff, 0xff]), ld(1, vi(1, 0))];
  const c = await collector((_req, res) => res.writeHead(200).end(bodies.shift()));
  await withClient({ url: c.url }, async (client) => {
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await client.send(BODY), { kind: 'ok', rejectedSpans: 0 });
    }
  });
  await c.close();
});

test('503 with Retry-After: 1 is retryable after 1000 ms; 429, 502 and 504 are retryable too', async () => {
  const statuses = [503, 429, 502, 504];
  const c = await collector((_req, res) => {
    const status = statuses.shift()!;
    res.writeHead(status, status === 503 ? { 'retry-after': '1' } : {}).end();
  });
  await withClient({ url: c.url }, async (client) => {
    assert.deepEqual(await client.send(BODY), {
      kind: 'retryable',
      status: 503,
      message: 'HTTP 503 Service Unavailable',
      retryAfterMs: 1000,
    });
    for (const status of [429, 502, 504]) {
      const o = await client.send(BODY);
      assert.equal(o.kind, 'retryable');
      assert.equal(o.kind === 'retryable' && o.status, status);
    }
  });
  await c.close();
});

test('400 with a google.rpc.Status body is rejected with its message (protobuf, JSON, text)', async () => {
  const answers: Array<[string, Buffer | string]> = [
    ['application/x-protobuf', Buffer.concat([vi(1, 3), ld(2, Buffer.from('invalid span id'))])],
    ['application/json', JSON.stringify({ code: 3, message: 'bad trace id' })],
    ['text/plain', `nope\n${'x'.repeat(500)}`],
  ];
  const c = await collector((_req, res) => {
    const [type, body] = answers.shift()!;
    res.writeHead(400, { 'content-type': type }).end(body);
  });
  await withClient({ url: c.url }, async (client) => {
    assert.deepEqual(await client.send(BODY), {
      kind: 'rejected',
      status: 400,
      message: 'invalid span id',
    });
    assert.deepEqual(await client.send(BODY), {
      kind: 'rejected',
      status: 400,
      message: 'bad trace id',
    });
    const text = await client.send(BODY);
    assert.equal(text.kind, 'rejected');
    assert.equal(text.kind === 'rejected' && text.message, `nope ${'x'.repeat(195)}`);
  });
  await c.close();
});

test('a response body past the bound is cut: still classified', async () => {
  const c = await collector((_req, res) =>
    res.writeHead(413, { 'content-type': 'text/plain' }).end('too big '.repeat(20_000)),
  );
  await withClient({ url: c.url, maxResponseBytes: 1024 }, async (client) => {
    const o = await client.send(BODY);
    assert.equal(o.kind, 'rejected');
    assert.ok(o.kind === 'rejected' && o.message.startsWith('too big too big'));
  });
  await c.close();
});

test('connection refused is retryable', async () => {
  const c = await collector(() => {});
  await c.close(); // nothing listens on that port now
  const o = await withClient({ url: c.url }, (client) => client.send(BODY));
  assert.equal(o.kind, 'retryable');
  assert.match(o.kind === 'retryable' ? o.message : '', /ECONNREFUSED/);
});

test('no answer within the timeout is retryable; an abort is retryable', async () => {
  const c = await collector(() => {}); // never answers
  await withClient({ url: c.url, timeoutMs: 150 }, async (client) => {
    const started = Date.now();
    assert.deepEqual(await client.send(BODY), {
      kind: 'retryable',
      message: 'no answer within 150 ms',
    });
    assert.ok(Date.now() - started >= 140);
  });
  await withClient({ url: c.url }, async (client) => {
    const ac = new AbortController();
    const pending = client.send(BODY, ac.signal);
    setTimeout(() => ac.abort(), 30);
    assert.deepEqual(await pending, { kind: 'retryable', message: 'aborted' });
    assert.deepEqual(await client.send(BODY, ac.signal), { kind: 'retryable', message: 'aborted' });
  });
  await c.close();
});

test('a connection cut in the middle of the answer is retryable', async () => {
  const c = await collector((_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial');
    setTimeout(() => res.socket?.destroy(), 20);
  });
  const o = await withClient({ url: c.url }, (client) => client.send(BODY));
  assert.equal(o.kind, 'retryable', JSON.stringify(o));
  await c.close();
});

test('gzip: the body carries Content-Encoding and decodes on the server', async () => {
  const c = await collector((_req, res) => res.writeHead(200).end());
  const body = new TextEncoder().encode('span '.repeat(1000));
  await withClient({ url: c.url, compression: 'gzip' }, (client) => client.send(body));
  const r = c.received[0]!;
  assert.equal(r.headers['content-encoding'], 'gzip');
  assert.ok(Number(r.headers['content-length']) < body.length / 10);
  assert.deepEqual(new Uint8Array(r.body), body);
  await c.close();
});

test('keep-alive: sequential sends reuse one socket; extra headers are sent', async () => {
  const c = await collector((_req, res) => res.writeHead(200).end());
  await withClient(
    { url: c.url, headers: { 'X-Api-Token': 's3cret', 'User-Agent': 'mine' } },
    async (client) => {
      for (let i = 0; i < 5; i++) assert.equal((await client.send(BODY)).kind, 'ok');
    },
  );
  assert.equal(c.connections(), 1);
  assert.equal(new Set(c.received.map((r) => r.socket)).size, 1);
  assert.equal(c.received[0]!.headers['x-api-token'], 's3cret');
  assert.equal(c.received[0]!.headers['user-agent'], 'mine');
  await c.close();
});

test('several requests at once open at most maxSockets connections', async () => {
  const c = await collector((_req, res) => setTimeout(() => res.writeHead(200).end(), 20));
  await withClient({ url: c.url, maxSockets: 2 }, async (client) => {
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => client.send(BODY)));
    assert.ok(outcomes.every((o) => o.kind === 'ok'));
  });
  assert.equal(c.connections(), 2);
  await c.close();
});

test('close is idempotent; a send after it is retryable', async () => {
  const client = createOtlpHttpClient({ url: 'http://127.0.0.1:9/v1/traces' });
  client.close();
  client.close();
  assert.equal((await client.send(BODY)).kind, 'retryable');
});

test('bad options are one-line config errors', () => {
  assert.throws(() => createOtlpHttpClient({ url: 'collector:4318' }), {
    code: 'E_CONFIG',
    message: "OTLP endpoint 'collector:4318' must start with http:// or https://",
  });
  assert.throws(() => createOtlpHttpClient({ url: 'nope' }), { code: 'E_CONFIG' });
  assert.throws(
    () => createOtlpHttpClient({ url: 'https://x/v1/traces', cert: 'pem' }),
    /certificate and its key go together/,
  );
});

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCerts() {
  const dir = mkdtempSync(join(tmpdir(), 'otlp-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }
  const read = (f: string) => readFileSync(join(dir, f));
  return {
    ca: read('ca.crt'),
    server: { cert: read('server.crt'), key: read('server.key') },
    client: { cert: read('client.crt'), key: read('client.key') },
  };
}

test(
  'https with a CA and a client certificate (mutual TLS)',
  { skip: !haveOpenssl() && 'no openssl' },
  async () => {
    const certs = makeCerts();
    const server = https.createServer({
      ...certs.server,
      ca: certs.ca,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const peers: string[] = [];
    const c = await collector((req, res) => {
      const socket = req.socket as import('node:tls').TLSSocket;
      peers.push(String(socket.getPeerCertificate().subject?.CN));
      res.writeHead(200).end();
    }, server);
    await withClient({ url: c.url, ca: certs.ca, ...certs.client }, async (client) => {
      assert.deepEqual(await client.send(BODY), { kind: 'ok', rejectedSpans: 0 });
    });
    assert.deepEqual(peers, ['client']);
    // Without the client certificate the server refuses the handshake; without the CA the
    // client refuses the server: both are connection errors, hence retryable.
    for (const options of [{ ca: certs.ca }, { ...certs.client }]) {
      const o = await withClient({ url: c.url, timeoutMs: 2000, ...options }, (cl) =>
        cl.send(BODY),
      );
      assert.equal(o.kind, 'retryable', JSON.stringify(o));
    }
    await c.close();
  },
);
