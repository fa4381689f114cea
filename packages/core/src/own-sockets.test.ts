import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, get as httpGet, Agent } from 'node:http';
import { Socket, connect, createServer, type AddressInfo, type Server } from 'node:net';
import { normaliseAddress, watchOwnSockets } from './own-sockets.js';

/** A TCP server on `host` (random port) that remembers the peers of the sockets it accepts. */
async function server(host = '127.0.0.1'): Promise<{ srv: Server; port: number; peers: Socket[] }> {
  const peers: Socket[] = [];
  const srv = createServer((s) => {
    peers.push(s);
    s.resume();
  });
  srv.listen(0, host);
  await once(srv, 'listening');
  return { srv, port: (srv.address() as AddressInfo).port, peers };
}

const closeServer = (srv: { close(cb: () => void): void }) =>
  new Promise<void>((r) => srv.close(() => r()));

async function connected(port: number, host = '127.0.0.1', localPort?: number): Promise<Socket> {
  const s = connect({ port, host, ...(localPort ? { localPort } : {}) });
  await once(s, 'connect');
  return s;
}

async function closed(s: Socket): Promise<void> {
  const done = once(s, 'close');
  s.destroy();
  await done;
}

test('IPv4-mapped IPv6 addresses are written as IPv4; others are kept (lower case)', () => {
  assert.equal(normaliseAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(normaliseAddress('::FFFF:10.1.2.3'), '10.1.2.3');
  assert.equal(normaliseAddress('127.0.0.1'), '127.0.0.1');
  assert.equal(normaliseAddress('2001:DB8::1'), '2001:db8::1');
  assert.equal(normaliseAddress('::1'), '::1');
});

test("a client socket's local end is own from its connect; the server's view of it matches", async () => {
  const own = watchOwnSockets();
  const { srv, port, peers } = await server();
  try {
    const s = await connected(port);
    while (peers.length < 1) await new Promise((r) => setImmediate(r));
    // What a collector on this node would see as the remote end of the export connection.
    assert.equal(own.has({ address: peers[0]!.remoteAddress!, port: peers[0]!.remotePort! }), true);
    assert.equal(own.has({ address: '127.0.0.1', port: s.localPort! }), true);
    assert.equal(own.has({ address: '::ffff:127.0.0.1', port: s.localPort! }), true);
    // The server's listening port and other hosts' ports are not own.
    assert.equal(own.has({ address: '127.0.0.1', port }), false);
    assert.equal(own.has({ address: '10.0.0.9', port: s.localPort! }), false);
    await closed(s);
  } finally {
    own.close();
    await closeServer(srv);
  }
});

test('a closed socket stays own for forgetAfterMs, then is forgotten', async () => {
  let now = 1000;
  const own = watchOwnSockets({ forgetAfterMs: 500, now: () => now });
  const { srv, port } = await server();
  try {
    const s = await connected(port);
    const local = { address: s.localAddress!, port: s.localPort! };
    await closed(s);
    assert.equal(own.has(local), true, 'just closed: the peer side can still be reported');
    now += 500;
    assert.equal(own.has(local), true);
    now += 1;
    assert.equal(own.has(local), false);
    assert.equal(own.size, 0);
  } finally {
    own.close();
    await closeServer(srv);
  }
});

test('sockets of an IPv4-mapped connection to a dual-stack server are found in both forms', async (t) => {
  const dual = await server('::').catch(() => undefined);
  if (!dual) return t.skip('no IPv6 on this machine');
  const own = watchOwnSockets();
  try {
    const s = await connected(dual.port, '::ffff:127.0.0.1');
    assert.equal(s.localAddress, '::ffff:127.0.0.1');
    assert.equal(own.has({ address: '127.0.0.1', port: s.localPort! }), true);
    assert.equal(own.has({ address: '::ffff:127.0.0.1', port: s.localPort! }), true);
    await closed(s);
  } finally {
    own.close();
    await closeServer(dual.srv);
  }
});

test("sockets of Node's HTTP agent, fetch, and an HTTP request on a socket made by hand are all own", async () => {
  const own = watchOwnSockets();
  // The remote ends the server saw, read at accept (a closed socket no longer knows them).
  const peers: Array<{ address: string; port: number }> = [];
  const srv = createHttpServer((_req, res) => res.end('ok'));
  srv.on('connection', (s: Socket) =>
    peers.push({ address: s.remoteAddress!, port: s.remotePort! }),
  );
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true });
  try {
    const fetched = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await fetched.text(), 'ok');
    const viaAgent = await new Promise<string>((resolve, reject) =>
      httpGet({ port, host: '127.0.0.1', agent }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      }).on('error', reject),
    );
    assert.equal(viaAgent, 'ok');
    // `new Socket().connect()` is not published on net.client.socket; the HTTP request is.
    const byHand = await new Promise<string>((resolve, reject) =>
      httpGet(
        {
          port,
          host: '127.0.0.1',
          // With no agent the request uses this (an agent would make its own with net.connect).
          createConnection: () => new Socket().connect(port, '127.0.0.1'),
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        },
      ).on('error', reject),
    );
    assert.equal(byHand, 'ok');
    assert.equal(peers.length, 3);
    for (const p of peers) assert.equal(own.has(p), true, `${p.address}:${p.port}`);
  } finally {
    agent.destroy();
    own.close();
    srv.closeAllConnections();
    await closeServer(srv);
  }
});

test('a socket made before the registry is followed once tracked by hand, and only once', async () => {
  const { srv, port } = await server();
  const s = await connected(port);
  const own = watchOwnSockets();
  try {
    assert.equal(own.has({ address: '127.0.0.1', port: s.localPort! }), false);
    own.track(s);
    own.track(s);
    assert.equal(own.size, 1);
    assert.equal(own.has({ address: '127.0.0.1', port: s.localPort! }), true);
    await closed(s);
    assert.equal(own.size, 1, 'remembered a while after its close');
  } finally {
    own.close();
    await closeServer(srv);
  }
});

test('at most maxSockets are remembered: closed ones are forgotten first, then the oldest open', async () => {
  const own = watchOwnSockets({ maxSockets: 3 });
  const { srv, port } = await server();
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 2; i++) sockets.push(await connected(port));
    await closed(sockets[0]!);
    sockets.push(await connected(port), await connected(port));
    assert.equal(own.size, 3);
    const has = (s: Socket) => own.has({ address: '127.0.0.1', port: s.localPort ?? -1 });
    assert.deepEqual(sockets.slice(1).map(has), [true, true, true]);
    sockets.push(await connected(port));
    assert.equal(own.size, 3);
    assert.deepEqual(sockets.slice(1).map(has), [false, true, true, true]);
  } finally {
    for (const s of sockets) s.destroy();
    own.close();
    await closeServer(srv);
  }
});

test('close() stops following: new sockets are not own and nothing is remembered', async () => {
  const own = watchOwnSockets();
  const { srv, port } = await server();
  try {
    const before = await connected(port);
    own.close();
    assert.equal(own.size, 0);
    const after = await connected(port);
    assert.equal(own.has({ address: '127.0.0.1', port: before.localPort! }), false);
    assert.equal(own.has({ address: '127.0.0.1', port: after.localPort! }), false);
    await closed(before);
    await closed(after);
    assert.equal(own.size, 0);
  } finally {
    await closeServer(srv);
  }
});
