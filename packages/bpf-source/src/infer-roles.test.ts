import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { Stats, type ConnectionOpenEvent, type KernelEvent } from '@traceable-ebpf/core';
import { inferRoles, isAccepted, parseListeners, procAddress } from './infer-roles.js';

const TCP_HEAD =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const TCP6_HEAD =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (local: string, remote: string, st: string) =>
  `   0: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000     0        0 1145 1 0000000000000000 100 0 0 10 0\n`;

// 0.0.0.0:2024 and 127.0.0.1:8080 listening; an established 127.0.0.1:8080 <- 127.0.0.1:40000.
const TCP =
  TCP_HEAD +
  row('00000000:07E8', '00000000:0000', '0A') +
  row('0100007F:1F90', '00000000:0000', '0A') +
  row('0100007F:1F90', '0100007F:9C40', '01');
// [::]:443 and [::1]:9000 listening.
const TCP6 =
  TCP6_HEAD +
  row('00000000000000000000000000000000:01BB', '00000000000000000000000000000000:0000', '0A') +
  row('00000000000000000000000001000000:2328', '00000000000000000000000000000000:0000', '0A');

test('/proc/net/tcp addresses decode as the kernel decoder formats them', () => {
  assert.equal(procAddress('0100007F'), '127.0.0.1');
  assert.equal(procAddress('00000000'), '0.0.0.0');
  assert.equal(procAddress('00000000000000000000000001000000'), '::1');
  assert.equal(procAddress('0000000000000000FFFF00000100007F'), '::ffff:127.0.0.1');
  assert.equal(procAddress('B80D0120000000000000000001000000'), '2001:db8::1');
});

test('only listening sockets are parsed; headers and other states are skipped', () => {
  assert.deepEqual(parseListeners(TCP), [
    { address: '0.0.0.0', port: 2024 },
    { address: '127.0.0.1', port: 8080 },
  ]);
  assert.deepEqual(parseListeners(TCP6), [
    { address: '::', port: 443 },
    { address: '::1', port: 9000 },
  ]);
  assert.deepEqual(parseListeners(''), []);
  assert.deepEqual(parseListeners('garbage\nnot a row\n'), []);
});

const open = (local: string, port: number, family: 4 | 6 = 4): ConnectionOpenEvent => ({
  kind: 'open',
  conn: `1:${port}:1`,
  tgid: 1,
  fd: 5,
  tsNs: 1,
  tid: 1,
  role: 'unknown',
  family,
  local: { address: local, port },
  remote: { address: local, port: 40000 },
  tls: false,
  comm: 'x',
});

test('a local end on a listening address and port was accepted; any other was connected', () => {
  const listeners = [...parseListeners(TCP), ...parseListeners(TCP6)];
  assert.equal(isAccepted(open('127.0.0.1', 8080), listeners), true); // exact
  assert.equal(isAccepted(open('10.1.2.3', 2024), listeners), true); // 0.0.0.0
  assert.equal(isAccepted(open('::ffff:10.1.2.3', 443, 6), listeners), true); // [::], mapped
  assert.equal(isAccepted(open('::1', 9000, 6), listeners), true);
  assert.equal(isAccepted(open('10.1.2.3', 8080), listeners), false); // other address
  assert.equal(isAccepted(open('127.0.0.1', 40000), listeners), false); // ephemeral port
  assert.equal(isAccepted(open('fe80::1', 2024, 6), listeners), false); // 0.0.0.0 is IPv4 only
});

/** A /proc with process 42 in a network namespace whose listening sockets are TCP's. */
function fakeProc(): string {
  const proc = mkdtempSync(join(tmpdir(), 'te-proc-'));
  mkdirSync(join(proc, '42', 'ns'), { recursive: true });
  mkdirSync(join(proc, '42', 'net'));
  symlinkSync('net:[4026531840]', join(proc, '42', 'ns', 'net'));
  writeFileSync(join(proc, '42', 'net', 'tcp'), TCP);
  return proc;
}

test('inferRoles sets unknown roles from /proc, leaves the rest, counts both outcomes', async () => {
  const proc = fakeProc();
  const stats = new Stats();
  const events: KernelEvent[] = [
    { ...open('127.0.0.1', 8080), tgid: 42 },
    { ...open('127.0.0.1', 40000), tgid: 42 },
    { ...open('127.0.0.1', 8080), tgid: 43 }, // gone: no /proc entry
    { ...open('127.0.0.1', 8080), tgid: 42, role: 'client' }, // known: untouched
    { kind: 'close', conn: '42:5:1', tgid: 42, fd: 5, tsNs: 2, sentBytes: 0, recvBytes: 0 },
  ];
  const out = await lastValueFrom(
    from(events).pipe(inferRoles({ procRoot: proc, stats }), toArray()),
  );
  assert.deepEqual(
    out.map((e) => (e.kind === 'open' ? e.role : e.kind)),
    ['server', 'client', 'unknown', 'client', 'close'],
  );
  assert.equal(stats.get('RolesFromListeners'), 2);
  assert.equal(stats.get('RolesUnresolved'), 1);
});

test('a role the process mode excludes drops the connection, asks to disable it, counts it', async () => {
  const proc = fakeProc();
  const stats = new Stats();
  const disabled: string[] = [];
  const data = (conn: string): KernelEvent => ({
    kind: 'data',
    conn,
    tgid: 42,
    fd: 5,
    tsNs: 2,
    tid: 42,
    direction: 'send',
    offset: 0,
    size: 1,
    data: new Uint8Array([0x41]),
    syscall: 'write',
  });
  const close = (conn: string): KernelEvent => ({
    kind: 'close',
    conn,
    tgid: 42,
    fd: 5,
    tsNs: 3,
    sentBytes: 1,
    recvBytes: 0,
  });
  const events: KernelEvent[] = [
    // ingress-only process: its accepted connection stays, its outgoing one goes
    { ...open('127.0.0.1', 8080), conn: 'in', tgid: 42, mode: 'ingress' },
    { ...open('127.0.0.1', 40000), conn: 'out', tgid: 42, mode: 'ingress' },
    data('out'),
    data('in'),
    close('out'),
    data('out'), // a later connection reusing the id is not dropped (it would have an open)
    // egress-only: the accepted one goes; no mode known: both stay
    { ...open('127.0.0.1', 8080), conn: 'srv', tgid: 42, mode: 'egress' },
    { ...open('127.0.0.1', 40000), conn: 'any', tgid: 42 },
  ];
  const out = await lastValueFrom(
    from(events).pipe(
      inferRoles({ procRoot: proc, stats, onOutsideMode: (c) => disabled.push(c) }),
      toArray(),
    ),
  );
  assert.deepEqual(
    out.map((e) => `${e.kind}:${e.conn}`),
    ['open:in', 'data:in', 'data:out', 'open:any'],
  );
  assert.deepEqual(disabled, ['out', 'srv']);
  assert.equal(stats.get('ConnectionsOutsideMode'), 2);
  assert.equal(stats.get('EventsOutsideMode'), 2); // the data and the close of 'out'
});
