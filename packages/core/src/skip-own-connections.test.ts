import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Subject } from 'rxjs';
import { skipOwnConnections } from './skip-own-connections.js';
import { watchOwnSockets, type OwnSockets } from './own-sockets.js';
import { Stats } from './stats.js';
import type { Endpoint, KernelEvent } from './events.js';

/** The port the collector side of synthetic connections is on: the test server's. */
let collectorPort = 4318;

/** Synthetic kernel events of one connection as a collector on this node would have them. */
function connection(conn: string, remote: Endpoint, family: 4 | 6 = 4, localPort = collectorPort) {
  const base = { conn, tgid: 7, fd: Number(conn.split(':')[1]), tsNs: 1 };
  return {
    open: {
      ...base,
      kind: 'open',
      tid: 7,
      role: 'server',
      family,
      tls: false,
      comm: 'collector',
      local: { address: family === 4 ? '127.0.0.1' : '::ffff:127.0.0.1', port: localPort },
      remote,
    } satisfies KernelEvent,
    data: (offset: number): KernelEvent => ({
      ...base,
      kind: 'data',
      tid: 7,
      direction: 'recv',
      offset,
      size: 4,
      data: Buffer.from('POST'),
      syscall: 'read',
    }),
    close: { ...base, kind: 'close', sentBytes: 0, recvBytes: 8 } satisfies KernelEvent,
  };
}

/** A real registry, a server, and client sockets this process connects to it. */
async function ownSocketsWithServer(): Promise<{
  own: OwnSockets;
  connectFrom: (localPort?: number) => Promise<Socket>;
  done: () => Promise<void>;
}> {
  const own = watchOwnSockets();
  const sockets: Socket[] = [];
  const srv: Server = createServer((s) => s.resume());
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  collectorPort = port;
  return {
    own,
    async connectFrom(localPort) {
      const s = connect({ port, host: '127.0.0.1', ...(localPort ? { localPort } : {}) });
      sockets.push(s);
      await once(s, 'connect');
      return s;
    },
    async done() {
      for (const s of sockets) s.destroy();
      own.close();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** A port nothing is bound to now (the kernel's pick for a listener, closed again). */
async function unusedPort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** The stage on a Subject: what it passed on, what it disabled, its counters. */
function stage(own: OwnSockets, maxConnections?: number) {
  const input = new Subject<KernelEvent>();
  const out: KernelEvent[] = [];
  const disabled: string[] = [];
  const stats = new Stats();
  const sub = input
    .pipe(
      skipOwnConnections({
        sockets: own,
        stats,
        onOwnConnection: (id) => disabled.push(id),
        ...(maxConnections ? { maxConnections } : {}),
      }),
    )
    .subscribe((ev) => out.push(ev));
  const counts = () => [
    stats.get('OwnConnectionsSkipped'),
    stats.get('OwnConnectionEventsSkipped'),
  ];
  return { input, out, disabled, counts, sub };
}

test('a connection whose remote end is own at its open is dropped whole, disabled once, counted', async () => {
  const w = await ownSocketsWithServer();
  try {
    const s = await w.connectFrom();
    const own = connection('7:10:1', { address: '127.0.0.1', port: s.localPort! });
    const other = connection('7:11:1', { address: '127.0.0.1', port: 1 });
    const st = stage(w.own);
    for (const ev of [own.open, other.open, own.data(0), other.data(0), own.data(4), own.close])
      st.input.next(ev);
    assert.deepEqual(st.out, [other.open, other.data(0)]);
    assert.deepEqual(st.disabled, ['7:10:1']);
    assert.deepEqual(st.counts(), [1, 4]);
  } finally {
    await w.done();
  }
});

test('own found only at the first data event: data dropped, open and close passed on for later stages', async () => {
  const w = await ownSocketsWithServer();
  try {
    const port = await unusedPort();
    const c = connection('7:12:1', { address: '127.0.0.1', port });
    const st = stage(w.own);
    st.input.next(c.open); // before the registry has seen the socket's connect
    await w.connectFrom(port);
    st.input.next(c.data(0));
    st.input.next(c.data(4));
    st.input.next(c.close);
    assert.deepEqual(st.out, [c.open, c.close]);
    assert.deepEqual(st.disabled, ['7:12:1']);
    assert.deepEqual(st.counts(), [1, 2]);
  } finally {
    await w.done();
  }
});

test('a connection not own at its first data event is no longer checked', async () => {
  const w = await ownSocketsWithServer();
  try {
    const port = await unusedPort();
    const c = connection('7:13:1', { address: '127.0.0.1', port });
    const st = stage(w.own);
    st.input.next(c.open);
    st.input.next(c.data(0));
    await w.connectFrom(port); // the endpoint becomes own only now: too late to matter
    assert.equal(w.own.has({ address: '127.0.0.1', port }), true);
    st.input.next(c.data(4));
    st.input.next(c.close);
    assert.deepEqual(st.out, [c.open, c.data(0), c.data(4), c.close]);
    assert.deepEqual(st.disabled, []);
    assert.deepEqual(st.counts(), [0, 0]);
  } finally {
    await w.done();
  }
});

test('an IPv4-mapped remote end (a dual-stack collector) matches an IPv4 own socket', async () => {
  const w = await ownSocketsWithServer();
  try {
    const s = await w.connectFrom();
    const c = connection('7:14:1', { address: '::ffff:127.0.0.1', port: s.localPort! }, 6);
    const st = stage(w.own);
    st.input.next(c.open);
    st.input.next(c.data(0));
    st.input.next(c.close);
    assert.deepEqual(st.out, []);
    assert.deepEqual(st.counts(), [1, 3]);
  } finally {
    await w.done();
  }
});

test('a close ends what the stage holds about a connection', async () => {
  const w = await ownSocketsWithServer();
  try {
    const s = await w.connectFrom();
    const skipped = connection('7:15:1', { address: '127.0.0.1', port: s.localPort! });
    const port = await unusedPort();
    const unchecked = connection('7:16:1', { address: '127.0.0.1', port });
    const st = stage(w.own);
    st.input.next(skipped.open);
    st.input.next(skipped.close);
    st.input.next(unchecked.open);
    st.input.next(unchecked.close);
    await w.connectFrom(port);
    // Stray events after the closes: nothing remembered, so they pass like any orphan.
    st.input.next(skipped.data(0));
    st.input.next(unchecked.data(0));
    assert.deepEqual(st.out, [unchecked.open, unchecked.close, skipped.data(0), unchecked.data(0)]);
    assert.deepEqual(st.counts(), [1, 2]);
  } finally {
    await w.done();
  }
});

test('at most maxConnections are held: the oldest skipped connection is forgotten first', async () => {
  const w = await ownSocketsWithServer();
  try {
    const s = await w.connectFrom();
    const remote = { address: '127.0.0.1', port: s.localPort! };
    const conns = [1, 2, 3].map((i) => connection(`7:${20 + i}:1`, remote));
    const st = stage(w.own, 2);
    for (const c of conns) st.input.next(c.open);
    for (const c of conns) st.input.next(c.data(0));
    assert.deepEqual(st.out, [conns[0]!.data(0)]);
    assert.deepEqual(st.counts(), [3, 5]);
  } finally {
    await w.done();
  }
});

test('unsubscribing ends the subscription to the source; errors and completion pass through', async () => {
  const w = await ownSocketsWithServer();
  try {
    const st = stage(w.own);
    assert.equal(st.input.observed, true);
    st.sub.unsubscribe();
    assert.equal(st.input.observed, false);

    const input = new Subject<KernelEvent>();
    let completed = false;
    input
      .pipe(skipOwnConnections({ sockets: w.own }))
      .subscribe({ complete: () => (completed = true) });
    input.complete();
    assert.equal(completed, true);
    const failing = new Subject<KernelEvent>();
    let error: unknown;
    failing.pipe(skipOwnConnections({ sockets: w.own })).subscribe({ error: (e) => (error = e) });
    failing.error(new Error('source failed'));
    assert.equal((error as Error).message, 'source failed');
  } finally {
    await w.done();
  }
});

test('a connection from an own socket’s local port to another server is not own (ports are shared)', async () => {
  const w = await ownSocketsWithServer();
  try {
    const s = await w.connectFrom();
    // Another client on the node, by chance on the same local port, to a different server.
    const lookalike = connection('7:30:1', { address: '127.0.0.1', port: s.localPort! }, 4, 8080);
    const st = stage(w.own);
    for (const ev of [lookalike.open, lookalike.data(0), lookalike.close]) st.input.next(ev);
    assert.deepEqual(st.out, [lookalike.open, lookalike.data(0), lookalike.close]);
    assert.deepEqual(st.disabled, []);
    assert.deepEqual(st.counts(), [0, 0]);
    assert.equal(w.own.has({ address: '127.0.0.1', port: s.localPort! }, s.remotePort!), true);
    assert.equal(w.own.has({ address: '127.0.0.1', port: s.localPort! }, 8080), false);
  } finally {
    await w.done();
  }
});
