/**
 * The kernel event source end to end: real programs use every socket syscall variant; the
 * source (in this process, which it never captures) and reassembly must reproduce their byte
 * streams exactly, with the right connections, roles, addresses and processes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BehaviorSubject, Subject, from, lastValueFrom, of, toArray, type Observable } from 'rxjs';
import {
  Stats,
  reassemble,
  type ConnectionEvent,
  type ConnectionOpenEvent,
  type KernelEvent,
} from '@traceable-ebpf/core';
import { parseHttp } from '@traceable-ebpf/parsers';
import {
  bpfSource,
  inferRoles,
  type BpfSourceOptions,
  type CallStore,
  type CapturePolicy,
  type DataAttach,
  type EventTransport,
} from '@traceable-ebpf/bpf-source';
import { ROOT, kernelTestsPossible, kill } from './harness.js';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const PEER = `${ROOT}test/fixtures/peer.py`;

/** A peer.py process, driven one command at a time. */
class Peer {
  readonly child: ChildProcess;
  private readonly replies: string[] = [];
  private waiting: ((line: string) => void) | undefined;
  /** Why the peer can't answer any more (it exited), once it can't. */
  private gone: string | undefined;

  constructor() {
    this.child = spawn(PYTHON, [PEER], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(line);
      } else this.replies.push(line);
    });
    // A peer that dies answers every command still waiting, and every later one, with why.
    this.child.once('exit', (code, signal) => {
      this.gone = `the peer exited (${code ?? signal})`;
      this.waiting?.(this.gone);
      this.waiting = undefined;
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Runs one command; resolves with what follows 'ok' (fails at once if the peer died). */
  async cmd(line: string): Promise<string> {
    if (this.gone === undefined) this.child.stdin!.write(`${line}\n`);
    const reply =
      this.replies.shift() ??
      this.gone ??
      (await new Promise<string>((resolve) => (this.waiting = resolve)));
    assert.match(reply, /^ok/, `${line} -> ${reply}`);
    return reply.slice(3);
  }

  stop(): Promise<void> {
    return kill(this.child);
  }
}

/** Captures while `work` runs: the raw kernel events and the reassembled connection events. */
async function capture(
  policy$: Observable<CapturePolicy>,
  work: () => Promise<void>,
  options: {
    transport?: EventTransport;
    callStore?: CallStore;
    dataAttach?: DataAttach;
    coalesceMs?: number;
  } = {},
): Promise<{
  events: KernelEvent[];
  streams: ConnectionEvent[];
  transport: string;
  callStore: string;
  dataAttach: string;
}> {
  const stop$ = new Subject<void>();
  let applied!: () => void;
  let used = '';
  let store = '';
  let attach = '';
  const ready = new Promise<void>((resolve) => (applied = resolve));
  const done = lastValueFrom(
    bpfSource({
      policy$,
      transport: options.transport ?? 'ringbuf',
      callStore: options.callStore ?? 'auto',
      dataAttach: options.dataAttach ?? 'auto',
      coalesceMs: options.coalesceMs ?? 1,
      stopOn: stop$,
      onReady: (i) => {
        used = i.transport;
        store = i.callStore ?? '';
        attach = i.dataAttach ?? '';
      },
      onPolicyApplied: () => applied(),
    }).pipe(toArray()),
  );
  await Promise.race([ready, done]);
  try {
    await work();
  } finally {
    stop$.next(); // a failing step must not leave the capture running (the file would never end)
  }
  const events = await done;
  const streams = await lastValueFrom(from(events).pipe(reassemble(), toArray()));
  return { events, streams, transport: used, callStore: store, dataAttach: attach };
}

/** Resolves once `done()` holds, checking every 20 ms, or after 2 s (the assertions then fail). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
}

const policyOf = (...pids: number[]) =>
  of<CapturePolicy>({ processes: pids.map((pid) => ({ pid, mode: 'ingress_and_egress' })) });

/**
 * A running source whose events are collected as they come (`onEvent` sees each one after it
 * is kept), resolved once its policy is in the kernel. `stop()` flushes what the kernel holds
 * and resolves when the source completed.
 */
async function liveSource(
  options: Omit<BpfSourceOptions, 'stopOn' | 'onPolicyApplied'>,
  onEvent?: (e: KernelEvent) => void,
): Promise<{ events: KernelEvent[]; stop: () => Promise<void> }> {
  const stop$ = new Subject<void>();
  const events: KernelEvent[] = [];
  let applied!: () => void;
  const ready = new Promise<void>((resolve) => (applied = resolve));
  const done = new Promise<void>((resolve, reject) =>
    bpfSource({ ...options, stopOn: stop$, onPolicyApplied: () => applied() }).subscribe({
      next(e) {
        events.push(e);
        onEvent?.(e);
      },
      error: reject,
      complete: resolve,
    }),
  );
  await Promise.race([ready, done]);
  return {
    events,
    stop: () => {
      stop$.next();
      return done;
    },
  };
}

/** The bytes captured so far of one socket (`tgid`, `fd`) in one direction. */
const bytesOf = (events: KernelEvent[], tgid: number, fd: number, direction: 'send' | 'recv') =>
  events.reduce(
    (n, e) =>
      e.kind === 'data' && e.tgid === tgid && e.fd === fd && e.direction === direction
        ? n + e.data.length
        : n,
    0,
  );

/** The bytes of one connection direction, and its gaps. */
function stream(evs: ConnectionEvent[], conn: string, direction: 'send' | 'recv') {
  const data: Buffer[] = [];
  const gaps: Array<[number, number, string]> = [];
  for (const e of evs) {
    if (e.conn !== conn) continue;
    if (e.kind === 'data' && e.direction === direction) data.push(Buffer.from(e.data));
    if (e.kind === 'gap' && e.direction === direction) gaps.push([e.offset, e.length, e.reason]);
  }
  return { text: Buffer.concat(data).toString('latin1'), bytes: Buffer.concat(data), gaps };
}

const opens = (evs: KernelEvent[], tgid: number) =>
  evs.filter((e): e is ConnectionOpenEvent => e.kind === 'open' && e.tgid === tgid);
/** What `tgid` sent on the connections it opened (or found open), joined in order. */
const sentBy = (evs: KernelEvent[], streams: ConnectionEvent[], tgid: number) =>
  opens(evs, tgid)
    .filter((o) => o.role !== 'server')
    .map((o) => stream(streams, o.conn, 'send').text)
    .join('');
const connOf = (evs: KernelEvent[], tgid: number, fd: number) =>
  opens(evs, tgid).find((e) => e.fd === fd)!;
const syscallsOf = (evs: KernelEvent[], conn: string, direction: 'send' | 'recv') => [
  ...new Set(
    evs
      .filter((e) => e.kind === 'data' && e.conn === conn && e.direction === direction)
      .map((e) => (e.kind === 'data' ? e.syscall : '')),
  ),
];

// Data at the socket layer (6.3+); arguments read from registers at exit (5.15+), task storage
// (5.11+) and the hash older kernels use for calls in flight; perf buffers (< 5.8); draining
// after a 10 ms coalescing wait (the default), after 1 ms, and at once.
const DATA_PATHS = [
  ['ringbuf', 'registers', 'socket-layer', 10],
  ['ringbuf', 'registers', 'syscalls', 10],
  ['ringbuf', 'task-storage', 'syscalls', 1],
  ['ringbuf', 'hash', 'syscalls', 0],
  ['perfbuf', 'hash', 'syscalls', 1],
] as const;

for (const [transport, callStore, dataAttach, coalesceMs] of DATA_PATHS)
  test(`every data path (${transport}, calls in ${callStore}, data at ${dataAttach}, drained ${coalesceMs ? `${coalesceMs} ms after a wakeup` : 'at once'}): writev/readv, sendmsg/recvmsg, send/recv; roles and tuples`, async (t) => {
    if (!kernelTestsPossible(t)) return;
    const peer = new Peer();
    t.after(() => peer.stop());
    let fds: string[] = [];
    const {
      events,
      streams,
      transport: used,
      callStore: store,
      dataAttach: attach,
    } = await capture(
      policyOf(peer.pid),
      async () => {
        fds = (await peer.cmd('open4')).split(' ');
        await peer.cmd('writev abc|defg|hi');
        await peer.cmd('sendmsg 12|345|6');
        await peer.cmd('send plain');
        await peer.cmd('close');
      },
      { transport, callStore, coalesceMs, ...(callStore === 'registers' ? { dataAttach } : {}) },
    );
    assert.equal(used, transport);
    assert.equal(store, callStore);
    assert.equal(attach, dataAttach);
    const [cfd, sfd, cport, sport] = fds.map(Number) as [number, number, number, number];
    const client = connOf(events, peer.pid, cfd);
    const server = connOf(events, peer.pid, sfd);
    assert.equal(client.role, 'client');
    assert.equal(server.role, 'server');
    assert.deepEqual(
      [client.local, client.remote],
      [
        { address: '127.0.0.1', port: cport },
        { address: '127.0.0.1', port: sport },
      ],
    );
    assert.deepEqual(
      [server.local, server.remote],
      [
        { address: '127.0.0.1', port: sport },
        { address: '127.0.0.1', port: cport },
      ],
    );
    const expected = 'abcdefghi' + '123456' + 'plain';
    assert.equal(stream(streams, client.conn, 'send').text, expected);
    assert.equal(stream(streams, server.conn, 'recv').text, expected);
    assert.deepEqual(stream(streams, server.conn, 'recv').gaps, []);
    assert.deepEqual(syscallsOf(events, client.conn, 'send'), ['writev', 'sendmsg', 'sendto']);
    assert.deepEqual(syscallsOf(events, server.conn, 'recv'), ['readv', 'recvmsg', 'recvfrom']);
    for (const c of [client, server])
      assert.ok(
        events.some((e) => e.kind === 'close' && e.conn === c.conn),
        `${c.conn} closed`,
      );
  });

for (const how of ['write', 'writev'] as const)
  test(`a large ${how} is split into 16 KiB events up to the cap: its head and its last 16 KiB, the middle a truncated gap`, async (t) => {
    if (!kernelTestsPossible(t)) return;
    const peer = new Peer();
    t.after(() => peer.stop());
    let fds: string[] = [];
    let sent = 0;
    const { events, streams } = await capture(policyOf(peer.pid), async () => {
      fds = (await peer.cmd('open4')).split(' ');
      sent = Number(await peer.cmd(`${how === 'write' ? 'big' : 'bigv'} 100000`));
    });
    const client = connOf(events, peer.pid, Number(fds[0]));
    const writes = events.filter(
      (e) => e.kind === 'data' && e.conn === client.conn && e.direction === 'send',
    );
    const expectedBytes = Buffer.from(Array.from({ length: sent }, (_, i) => (i * 7) & 0xff));
    const s = stream(streams, client.conn, 'send');
    // Past the 64 KiB cap: the first 48 KiB and the last 16 KiB are copied.
    const over = sent > 65536;
    const head = over ? 49152 : sent;
    assert.deepEqual(
      s.bytes,
      Buffer.concat([
        expectedBytes.subarray(0, head),
        expectedBytes.subarray(over ? sent - 16384 : sent),
      ]),
    );
    assert.deepEqual(s.gaps, over ? [[head, sent - 65536, 'truncated']] : []);
    // One blocking write, so all of it (the peer reads only once it returned). Past the cap: three
    // 16 KiB pieces of its head and one of its tail, a piece never spanning two iovecs (the
    // writev's 9-byte first part is one more, and its tail spans the bulk and the 13-byte part).
    assert.equal(sent, 100000);
    assert.equal(writes.length, how === 'write' ? 3 + 1 : 1 + 3 + 2, `${writes.length} events`);
    assert.ok(writes.every((e) => e.kind === 'data' && e.data.length <= 16384));
    // The receiving side accounts for every byte too: data + gaps = what was sent.
    const server = connOf(events, peer.pid, Number(fds[1]));
    const r = stream(streams, server.conn, 'recv');
    assert.equal(r.bytes.length + r.gaps.reduce((n, g) => n + g[1], 0), sent);
  });

// Drained when the kernel wakes the worker (the default), and on a timer (drainIntervalMs), where a
// timer's drain can find room again before the main thread's ack comes.
for (const drainIntervalMs of [0, 5])
  test(`a main thread that falls behind pauses the worker (one batch in flight); the worker resumes once it catches up, before any stop (drainIntervalMs ${drainIntervalMs})`, async (t) => {
    if (!kernelTestsPossible(t)) return;
    const peer = new Peer();
    t.after(() => peer.stop());
    let blocked = false;
    const stats = new Stats();
    const source = await liveSource(
      {
        policy$: policyOf(peer.pid),
        transport: 'ringbuf',
        maxBytesInFlight: 1,
        coalesceMs: 1,
        drainIntervalMs,
        stats,
      },
      (e) => {
        if (blocked || e.kind !== 'data') return;
        // The first data event holds the main thread for 300 ms: the worker posts what comes
        // meanwhile only once this batch is done, so it pauses and must be woken.
        blocked = true;
        const until = Date.now() + 300;
        while (Date.now() < until);
      },
    );
    let sent = 0;
    let sfd = -1;
    try {
      sfd = Number((await peer.cmd('open4')).split(' ')[1]);
      sent = Number(await peer.cmd('burst 60 100'));
      const received = () => bytesOf(source.events, peer.pid, sfd, 'recv');
      // Everything arrives while the source runs (a stop would flush it regardless).
      await until(() => received() >= sent);
      assert.ok(blocked, 'the main thread was held');
      assert.equal(received(), sent, 'every byte of the burst, before the capture stopped');
      // The worker did wait: with 1 byte of credit any batch in flight leaves none (a worker that
      // never paused, as before bf8fb40, would have posted the burst as it came).
      assert.ok(stats.get('KernelReadPauses') >= 1, 'the worker paused and was woken');
      // And never more than one batch in flight (each is at most 1 MiB).
      const inFlight = stats.get('KernelBatchBytesInFlightMaxTillNow');
      assert.ok(inFlight > 0 && inFlight <= 1 << 20, `${inFlight} bytes in flight at most`);
    } finally {
      await source.stop();
    }
    assert.equal(sent, 6000);
    // Meanwhile the burst waited in the ring buffer (the worker's last counters come at the
    // stop): at least one of its 100-byte payloads' records.
    const waiting = stats.get('KernelRingBytesMaxTillNow');
    assert.ok(waiting >= 100 && waiting <= 8 << 20, `${waiting} bytes waiting at most`);
  });

test('a small ring buffer wraps many times: records that wrap its end arrive whole, every byte in order', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const peer = new Peer();
  t.after(() => peer.stop());
  const stats = new Stats();
  const { events, stop } = await liveSource({
    policy$: policyOf(peer.pid),
    transport: 'ringbuf',
    ringBufferBytes: 256 * 1024,
    coalesceMs: 1,
    stats,
  });
  // `big n` writes bytes (i * 7) & 0xff, i from 0, on each call. Both ends' records share the
  // ring (~90 KB per write): each write is waited for before the next, so the 256 KiB ring
  // never holds more than one, and 1.5 MB through it wrap it about six times.
  const sizes = Array.from({ length: 24 }, (_, i) => 20_000 + 997 * i);
  let fd = -1;
  const sentSoFar = () => bytesOf(events, peer.pid, fd, 'send');
  try {
    fd = Number((await peer.cmd('open4')).split(' ')[0]);
    let total = 0;
    for (const n of sizes) {
      assert.equal(Number(await peer.cmd(`big ${n}`)), n);
      total += n;
      await until(() => sentSoFar() >= total);
    }
  } finally {
    await stop();
  }
  assert.equal(stats.get('EventLost'), 0, 'the ring buffer never overflowed');
  // It held one write's records at a time, at most: ~90 KB of each end's, never more than fit.
  const waiting = stats.get('KernelRingBytesMaxTillNow');
  assert.ok(waiting >= 20_000 && waiting <= 256 * 1024, `${waiting} bytes waiting at most`);
  const streams = await lastValueFrom(from(events).pipe(reassemble(), toArray()));
  const conn = connOf(events, peer.pid, fd).conn;
  const expected = Buffer.concat(
    sizes.map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 0xff))),
  );
  const sent = stream(streams, conn, 'send');
  assert.deepEqual(sent.gaps, [], 'nothing lost or truncated');
  assert.equal(sent.bytes.length, expected.length);
  assert.ok(sent.bytes.equals(expected), 'the bytes as written, in order');
});

/** The two places data programs attach: each test of a path that differs between them runs on both. */
const ATTACH_POINTS: readonly DataAttach[] = ['socket-layer', 'syscalls'];

for (const dataAttach of ATTACH_POINTS)
  test(`sendfile (data at ${dataAttach}): sizes only, a sendfile gap of the exact length; the reader sees the bytes`, async (t) => {
    if (!kernelTestsPossible(t)) return;
    const peer = new Peer();
    t.after(() => peer.stop());
    let fds: string[] = [];
    const {
      events,
      streams,
      dataAttach: attach,
    } = await capture(
      policyOf(peer.pid),
      async () => {
        fds = (await peer.cmd('open4')).split(' ');
        await peer.cmd('sendfile 50000');
      },
      { dataAttach },
    );
    assert.equal(attach, dataAttach);
    const server = connOf(events, peer.pid, Number(fds[1]));
    const client = connOf(events, peer.pid, Number(fds[0]));
    const sentGaps = stream(streams, server.conn, 'send').gaps;
    assert.equal(
      sentGaps.reduce((n, g) => n + g[1], 0),
      50000,
    );
    assert.ok(sentGaps.every((g) => g[2] === 'sendfile'));
    assert.equal(stream(streams, client.conn, 'recv').text, 'f'.repeat(50000));
  });

// Every way a read's arguments reach the program that copies its bytes.
for (const [transport, callStore, dataAttach, coalesceMs] of DATA_PATHS)
  test(`reads with MSG_TRUNC (${transport}, calls in ${callStore}, data at ${dataAttach}): a gap of their size, never the bytes their buffers held`, async (t) => {
    if (!kernelTestsPossible(t)) return;
    const peer = new Peer();
    t.after(() => peer.stop());
    let fds: string[] = [];
    const {
      events,
      streams,
      transport: used,
      callStore: store,
      dataAttach: attach,
    } = await capture(
      policyOf(peer.pid),
      async () => {
        fds = (await peer.cmd('open4')).split(' ');
        await peer.cmd('trunc first|second-part|third-part-x|last');
      },
      { transport, callStore, coalesceMs, ...(callStore === 'registers' ? { dataAttach } : {}) },
    );
    assert.equal(used, transport);
    assert.equal(store, callStore);
    assert.equal(attach, dataAttach);
    const client = connOf(events, peer.pid, Number(fds[0]));
    const server = connOf(events, peer.pid, Number(fds[1]));
    assert.equal(stream(streams, client.conn, 'send').text, 'firstsecond-partthird-part-xlast');
    const read = stream(streams, server.conn, 'recv');
    // recv(MSG_TRUNC), then recvmsg(MSG_TRUNC): each a gap where its bytes stand in the stream.
    assert.equal(read.text, 'firstlast');
    assert.deepEqual(read.gaps, [
      [5, 11, 'truncated'],
      [16, 12, 'truncated'],
    ]);
    assert.ok(
      !events.some((e) => e.kind === 'data' && Buffer.from(e.data).includes('G')),
      "the buffers' own bytes are never copied",
    );
  });

test('sendmmsg/recvmmsg: every message, in order', async (t) => {
  if (!kernelTestsPossible(t, ['gcc'])) return;
  const bin = join(mkdtempSync(join(tmpdir(), 'te-mmsg-')), 'mmsg');
  const cc = spawnSync('gcc', ['-O2', '-o', bin, `${ROOT}test/fixtures/mmsg.c`], {
    encoding: 'utf8',
  });
  assert.equal(cc.status, 0, cc.stderr);
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => kill(child));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'ready');
  const { events, streams } = await capture(policyOf(child.pid!), async () => {
    child.stdin!.write('go\n');
    assert.equal((await lines.next()).value, 'ok');
  });
  const conns = [...new Set(events.filter((e) => e.kind === 'data').map((e) => e.conn))];
  const sendConn = conns.find((c) => syscallsOf(events, c, 'send').includes('sendmmsg'))!;
  const recvConn = conns.find((c) => syscallsOf(events, c, 'recv').includes('recvmmsg'))!;
  assert.equal(stream(streams, sendConn, 'send').text, 'alpha-one|beta-two|gamma-three');
  assert.equal(stream(streams, recvConn, 'recv').text, 'alpha-one|beta-two|gamma-three');
  // Pieces never span iovecs: 3 messages of 2 iovecs each are 6 events, in order.
  const sent = events.filter((e) => e.kind === 'data' && e.conn === sendConn);
  assert.deepEqual(
    sent.map((e) => (e.kind === 'data' ? Buffer.from(e.data).toString() : '')),
    ['alpha-', 'one|', 'beta-', 'two|', 'gamma-', 'three'],
  );
});

for (const dataAttach of ATTACH_POINTS)
  test(`an fd that held a file, then (dup2) a socket (data at ${dataAttach}): file bytes never copied, socket bytes are`, async (t) => {
    if (!kernelTestsPossible(t)) return;
    const peer = new Peer();
    t.after(() => peer.stop());
    let fd = 0;
    const { events, streams } = await capture(
      policyOf(peer.pid),
      async () => {
        await peer.cmd('open4');
        fd = Number(await peer.cmd('file-then-socket after-dup2'));
      },
      { dataAttach },
    );
    const dupConn = connOf(events, peer.pid, fd);
    assert.ok(dupConn, `the socket behind fd ${fd} is reported`);
    assert.equal(dupConn.role, 'unknown');
    assert.equal(stream(streams, dupConn.conn, 'send').text, 'after-dup2');
    assert.ok(
      !events.some(
        (e) => e.kind === 'data' && Buffer.from(e.data).toString('latin1').includes('file bytes'),
      ),
      'bytes written to the file are never copied',
    );
  });

test('an fd that held a tracked socket, then (dup2) another socket: the bytes after are the other connection’s (data at socket-layer)', async (t) => {
  // At the syscall exits such bytes would go on in the first connection's stream: nothing there
  // tells the socket behind an fd apart from the one it held (no close was seen).
  if (!kernelTestsPossible(t)) return;
  const peer = new Peer();
  t.after(() => peer.stop());
  let fd = 0;
  let port = 0;
  const { events, streams, dataAttach } = await capture(
    policyOf(peer.pid),
    async () => {
      await peer.cmd('open4');
      [fd, port] = (await peer.cmd('socket-over-socket after-dup2')).split(' ').map(Number) as [
        number,
        number,
      ];
    },
    { dataAttach: 'socket-layer' },
  );
  assert.equal(dataAttach, 'socket-layer');
  const atFd = opens(events, peer.pid).filter((o) => o.fd === fd);
  assert.equal(atFd.length, 2, 'the first connection, then the socket found behind its fd');
  const [first, second] = atFd as [(typeof atFd)[0], (typeof atFd)[0]];
  assert.equal(first.role, 'client');
  assert.equal(stream(streams, first.conn, 'send').text, 'before');
  assert.ok(
    events.some((e) => e.kind === 'close' && e.conn === first.conn),
    'the first connection ends where its fd was found holding another socket',
  );
  assert.equal(second.role, 'unknown');
  assert.equal(second.local.port, port);
  assert.equal(stream(streams, second.conn, 'send').text, 'after-dup2');
});

test('fd reuse: close and reopen on the same fd number are two connections', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const peer = new Peer();
  t.after(() => peer.stop());
  const fds: string[][] = [];
  const { events, streams } = await capture(policyOf(peer.pid), async () => {
    fds.push((await peer.cmd('open4')).split(' '));
    await peer.cmd('send one');
    await peer.cmd('close');
    fds.push((await peer.cmd('open4')).split(' '));
    await peer.cmd('send two');
    await peer.cmd('close');
  });
  assert.equal(fds[0]![0], fds[1]![0], 'the client fd number was reused');
  const clients = opens(events, peer.pid).filter((e) => e.role === 'client');
  assert.equal(clients.length, 2);
  assert.notEqual(clients[0]!.conn, clients[1]!.conn);
  assert.deepEqual(
    clients.map((c) => stream(streams, c.conn, 'send').text),
    ['one', 'two'],
  );
});

test('fork inheritance: a selected process’s new child is captured under its own pid', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const peer = new Peer();
  t.after(() => peer.stop());
  let child = 0;
  const { events, streams } = await capture(policyOf(peer.pid), async () => {
    await peer.cmd('open4');
    child = Number(await peer.cmd('fork from-the-child'));
  });
  const c = opens(events, child);
  assert.equal(c.length, 1, 'the child’s connection was captured');
  assert.equal(c[0]!.role, 'client');
  assert.equal(stream(streams, c[0]!.conn, 'send').text, 'from-the-child');
});

test('a new policy keeps the forked children of the processes it keeps and drops the others', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const a = new Peer();
  const b = new Peer();
  t.after(async () => {
    await a.stop();
    await b.stop();
  });
  const policy$ = new BehaviorSubject<CapturePolicy>({
    processes: [{ pid: a.pid, mode: 'ingress_and_egress' }],
  });
  let applications = 0;
  const applied = async (n: number) => {
    while (applications < n) await new Promise((r) => setTimeout(r, 20));
  };
  const stop$ = new Subject<void>();
  const done = lastValueFrom(
    bpfSource({ policy$, stopOn: stop$, onPolicyApplied: () => void ++applications }).pipe(
      toArray(),
    ),
  );
  await applied(1);
  await a.cmd('open4');
  // Each child is forked while `a` is selected (the kernel marks it), connects, and sends only
  // once the next policy is in place.
  const kept = Number(await a.cmd('fork-hold'));
  policy$.next({
    processes: [
      { pid: a.pid, mode: 'ingress_and_egress' },
      { pid: b.pid, mode: 'ingress_and_egress' },
    ],
  });
  await applied(2);
  await a.cmd('release kept-child');
  const dropped = Number(await a.cmd('fork-hold'));
  policy$.next({ processes: [{ pid: b.pid, mode: 'ingress_and_egress' }] });
  await applied(3);
  await a.cmd('release dropped-child');
  stop$.next();
  const events = await done;
  const streams = await lastValueFrom(from(events).pipe(reassemble(), toArray()));
  assert.equal(
    sentBy(events, streams, kept),
    'kept-child',
    'a child of a process still selected stays selected',
  );
  assert.equal(
    events.filter((e) => e.tgid === dropped && e.kind === 'data').length,
    0,
    'a child of a deselected process is deselected with it',
  );
});

test('a policy change applies while running; unselected processes produce nothing', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const a = new Peer();
  const b = new Peer();
  const never = new Peer();
  t.after(async () => {
    await a.stop();
    await b.stop();
    await never.stop();
  });
  const policy$ = new BehaviorSubject<CapturePolicy>({
    processes: [{ pid: a.pid, mode: 'ingress_and_egress' }],
  });
  let appliedTwice!: () => void;
  const second = new Promise<void>((resolve) => (appliedTwice = resolve));
  let applications = 0;
  const stop$ = new Subject<void>();
  const done = lastValueFrom(
    bpfSource({
      policy$,
      stopOn: stop$,
      onPolicyApplied: () => (++applications === 2 ? appliedTwice() : undefined),
    }).pipe(toArray()),
  );
  await a.cmd('open4');
  await never.cmd('open4');
  // Wait until the first policy is in the kernel: the source was loading meanwhile.
  while (applications < 1) await new Promise((r) => setTimeout(r, 20));
  await a.cmd('send a1');
  await never.cmd('send n1');
  policy$.next({ processes: [{ pid: b.pid, mode: 'ingress_and_egress' }] });
  await second;
  await a.cmd('send a2');
  await b.cmd('open4');
  await b.cmd('send b1');
  stop$.next();
  const events = await done;
  const streams = await lastValueFrom(from(events).pipe(reassemble(), toArray()));
  assert.equal(sentBy(events, streams, a.pid), 'a1', 'a2 was sent after a was deselected');
  assert.equal(sentBy(events, streams, b.pid), 'b1');
  assert.equal(events.filter((e) => e.tgid === never.pid).length, 0);
});

for (const family of ['open4', 'open6'] as const)
  test(`connections opened before capture began (${family}): tuple from the socket, role from the listeners in /proc`, async (t) => {
    if (!kernelTestsPossible(t)) return;
    const peer = new Peer();
    t.after(() => peer.stop());
    const [cfd, sfd, cport, sport] = (await peer.cmd(family)).split(' ').map(Number) as [
      number,
      number,
      number,
      number,
    ];
    const { events, streams } = await capture(policyOf(peer.pid), async () => {
      await peer.cmd('send late-bytes'); // not HTTP: only the listeners can tell the roles
    });
    const c = connOf(events, peer.pid, cfd);
    const s = connOf(events, peer.pid, sfd);
    assert.equal(c.role, 'unknown', 'the kernel cannot tell');
    assert.deepEqual([c.local.port, c.remote.port], [cport, sport]);
    assert.deepEqual([s.local.port, s.remote.port], [sport, cport]);
    assert.equal(stream(streams, c.conn, 'send').text, 'late-bytes');
    assert.equal(stream(streams, s.conn, 'recv').text, 'late-bytes');
    // The peer still runs: its /proc tells the accepted socket from the connected one.
    const stats = new Stats();
    const inferred = await lastValueFrom(from(events).pipe(inferRoles({ stats }), toArray()));
    assert.equal(connOf(inferred, peer.pid, cfd).role, 'client');
    assert.equal(connOf(inferred, peer.pid, sfd).role, 'server');
    assert.equal(stats.get('RolesFromListeners'), 2);
  });

test('IPv6: addresses and family', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const peer = new Peer();
  t.after(() => peer.stop());
  let fds: string[] = [];
  const { events, streams } = await capture(policyOf(peer.pid), async () => {
    fds = (await peer.cmd('open6')).split(' ');
    await peer.cmd('send over-six');
  });
  const c = connOf(events, peer.pid, Number(fds[0]));
  assert.equal(c.family, 6);
  assert.deepEqual([c.local.address, c.remote.address], ['::1', '::1']);
  assert.deepEqual([c.local.port, c.remote.port], [Number(fds[2]), Number(fds[3])]);
  assert.equal(stream(streams, c.conn, 'send').text, 'over-six');
});

test('perf buffer transport: a write larger than 16 KiB is one event, its full size kept', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const peer = new Peer();
  t.after(() => peer.stop());
  let fds: string[] = [];
  let sent = 0;
  const { events, streams } = await capture(
    policyOf(peer.pid),
    async () => {
      fds = (await peer.cmd('open4')).split(' ');
      sent = Number(await peer.cmd('big 100000'));
    },
    { transport: 'perfbuf' },
  );
  const client = connOf(events, peer.pid, Number(fds[0]));
  const writes = events.filter(
    (e) => e.kind === 'data' && e.conn === client.conn && e.direction === 'send',
  );
  assert.equal(writes.length, 1);
  const s = stream(streams, client.conn, 'send');
  const expected = Buffer.from(Array.from({ length: sent }, (_, i) => (i * 7) & 0xff));
  assert.deepEqual(s.bytes, expected.subarray(0, 16384));
  assert.deepEqual(s.gaps, [[16384, sent - 16384, 'truncated']]);
});

test('a connection that is not HTTP is disabled in the kernel: later bytes are not copied', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const peer = new Peer();
  t.after(() => peer.stop());
  const stats = new Stats();
  const disable$ = new Subject<string>();
  const stop$ = new Subject<void>();
  let applied!: () => void;
  const ready = new Promise<void>((resolve) => (applied = resolve));
  const exchanges = lastValueFrom(
    bpfSource({
      pids: [peer.pid],
      stats,
      disable$,
      stopOn: stop$,
      countersIntervalMs: 50,
      onPolicyApplied: () => applied(),
    }).pipe(
      reassemble({ stats }),
      parseHttp({ stats, onUnsupported: (id) => disable$.next(id) }),
      toArray(),
    ),
  );
  await ready;
  await peer.cmd('open4');
  await peer.cmd('send HELLO-this-is-not-http');
  // The parser decides on the first bytes and tells the kernel; wait until it has. The peer
  // holds both ends of the connection, so both (client and server side) are disabled.
  await until(() => stats.get('ConnectionsDisabled') >= 2);
  assert.equal(stats.get('ConnectionsDisabled'), 2);
  // The worker writes the disable map; nothing acknowledges it, so this one wait is fixed.
  await new Promise((r) => setTimeout(r, 50));
  await peer.cmd('send more-bytes-on-the-disabled-connection');
  const skipped = 2 * 'more-bytes-on-the-disabled-connection'.length;
  // The kernel's counters are read every 50 ms.
  await until(() => stats.get('BytesOnDisabledConnections') >= skipped);
  stop$.next();
  assert.deepEqual(await exchanges, []);
  // Both ends of the connection are the peer's: the sender's and the receiver's bytes are skipped.
  assert.equal(stats.get('BytesOnDisabledConnections'), skipped);
});

test('connections found already open: the mode applies once /proc tells the role (ingress only: the outgoing one is dropped and disabled)', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const peer = new Peer();
  t.after(() => peer.stop());
  const [cfd, sfd] = (await peer.cmd('open4')).split(' ').map(Number) as [number, number];
  const stats = new Stats();
  const disable$ = new Subject<string>();
  const stop$ = new Subject<void>();
  let applied!: () => void;
  const ready = new Promise<void>((resolve) => (applied = resolve));
  const events = lastValueFrom(
    bpfSource({
      pids: [peer.pid],
      mode: 'ingress',
      stats,
      disable$,
      stopOn: stop$,
      countersIntervalMs: 50,
      onPolicyApplied: () => applied(),
    }).pipe(inferRoles({ stats, onOutsideMode: (id) => disable$.next(id) }), toArray()),
  );
  await ready;
  await peer.cmd('send first'); // the kernel finds both ends open, role unknown
  await until(() => stats.get('ConnectionsDisabled') >= 1);
  assert.equal(stats.get('ConnectionsOutsideMode'), 1);
  // The worker writes the disable map; nothing acknowledges it, so this one wait is fixed.
  await new Promise((r) => setTimeout(r, 50));
  await peer.cmd('send second');
  // The kernel's counters are read every 50 ms.
  await until(() => stats.get('BytesOnDisabledConnections') >= 'second'.length);
  stop$.next();
  const out = await events;
  const accepted = connOf(out, peer.pid, sfd);
  assert.equal(accepted.role, 'server');
  assert.equal(accepted.mode, 'ingress');
  assert.equal(
    opens(out, peer.pid).find((e) => e.fd === cfd),
    undefined,
    'the connected end is outside the ingress mode',
  );
  const received = out
    .filter((e) => e.kind === 'data' && e.conn === accepted.conn)
    .map((e) => (e.kind === 'data' ? Buffer.from(e.data).toString() : ''))
    .join('');
  assert.equal(received, 'firstsecond');
  assert.equal(out.filter((e) => e.tgid === peer.pid && e.fd === cfd).length, 0);
  assert.equal(stats.get('EventsOutsideMode'), 1, "'first' as sent, before the disable");
  assert.equal(stats.get('BytesOnDisabledConnections'), 'second'.length);
});

for (const dataAttach of ATTACH_POINTS)
  test(`an fd that was a pipe, closed, then a new socket on the same number (data at ${dataAttach}): the socket is copied`, async (t) => {
    if (!kernelTestsPossible(t)) return;
    const peer = new Peer();
    t.after(() => peer.stop());
    await peer.cmd('open4'); // the listener
    let fds: number[] = [];
    const { events, streams } = await capture(
      policyOf(peer.pid),
      async () => {
        // Several rounds: the freed file's memory is reused by the socket often, not always.
        for (let i = 0; i < 5; i++)
          fds.push(...(await peer.cmd(`pipe-then-socket round-${i}`)).split(' ').map(Number));
      },
      { dataAttach },
    );
    fds = fds.filter((_, i) => i % 2 === 1);
    const sent = opens(events, peer.pid)
      .filter((o) => o.role === 'client' && fds.includes(o.fd))
      .map((o) => stream(streams, o.conn, 'send').text)
      .sort();
    assert.deepEqual(sent, ['round-0', 'round-1', 'round-2', 'round-3', 'round-4']);
    const pipeBytes = events.filter(
      (e) => e.kind === 'data' && Buffer.from(e.data).toString().includes('pipe'),
    );
    assert.equal(pipeBytes.length, 0, 'pipe bytes are never copied');
  });
