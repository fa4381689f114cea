import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { KernelEvent } from '@traceable-ebpf/core';
import { RECORD_HEADER_BYTES, decodeBatch, formatAddress, idOf } from './decode.js';
import {
  CLOSE_EVENT_OFFSETS,
  DATA_EVENT_OFFSETS,
  EventKind,
  OPEN_EVENT_OFFSETS,
  Role,
} from './generated/layout.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

test('generated layout matches bpf/events.h and the compiled object (no drift)', (t) => {
  if (!existsSync(`${root}packages/bpf-source/bpf/tracer.bpf.o`)) {
    if (process.env.CI) assert.fail('tracer.bpf.o is not built');
    t.skip('tracer.bpf.o not built (pnpm build)');
    return;
  }
  execFileSync(process.execPath, [`${root}scripts/gen-layout.mjs`, '--check'], { stdio: 'pipe' });
});

function header(buf: DataView, kind: number) {
  buf.setBigUint64(0, 123456789n, true); // ts
  buf.setUint32(8, 42, true); // tgid
  buf.setInt32(12, 7, true); // fd
  buf.setBigUint64(16, 999n, true); // gen
  buf.setUint32(24, 43, true); // tid
  buf.setUint8(28, kind);
}

function batch(
  records: Uint8Array[],
  discarded = new Set<number>(),
): { buffer: ArrayBuffer; length: number } {
  const parts: Uint8Array[] = [];
  for (const [i, r] of records.entries()) {
    // ring buffer framing: u32 length (+ flags), u32 page offset, record, padding to 8
    const rec = new Uint8Array(RECORD_HEADER_BYTES + Math.ceil(r.length / 8) * 8);
    new DataView(rec.buffer).setUint32(
      0,
      (r.length | (discarded.has(i) ? 0x40000000 : 0)) >>> 0,
      true,
    );
    rec.set(r, RECORD_HEADER_BYTES);
    parts.push(rec);
  }
  const out = Buffer.concat(parts);
  const buffer = out.buffer.slice(out.byteOffset, out.byteOffset + out.length) as ArrayBuffer;
  return { buffer, length: out.length };
}

test('decodes open, data and close records; counts bad ones', () => {
  const open = new Uint8Array(OPEN_EVENT_OFFSETS.sizeof);
  const ov = new DataView(open.buffer);
  header(ov, EventKind.TE_EV_OPEN);
  ov.setUint8(OPEN_EVENT_OFFSETS.role, Role.TE_ROLE_SERVER);
  ov.setUint16(OPEN_EVENT_OFFSETS.family, 2, true);
  ov.setUint16(OPEN_EVENT_OFFSETS.local_port, 8080, true);
  ov.setUint16(OPEN_EVENT_OFFSETS.remote_port, 40000, true);
  open.set([127, 0, 0, 1], OPEN_EVENT_OFFSETS.local_addr);
  open.set([10, 1, 2, 3], OPEN_EVENT_OFFSETS.remote_addr);
  open.set(Buffer.from('nginx\0junk'), OPEN_EVENT_OFFSETS.comm);

  const payload = Buffer.from('GET / HTTP/1.1\r\n');
  const data = new Uint8Array(DATA_EVENT_OFFSETS.data + payload.length);
  const dv = new DataView(data.buffer);
  header(dv, EventKind.TE_EV_DATA);
  dv.setBigUint64(DATA_EVENT_OFFSETS.offset, 5000n, true);
  dv.setBigUint64(DATA_EVENT_OFFSETS.size, 100000n, true);
  dv.setUint32(DATA_EVENT_OFFSETS.len, payload.length, true);
  dv.setUint8(DATA_EVENT_OFFSETS.direction, 2);
  dv.setUint8(DATA_EVENT_OFFSETS.syscall, 3);
  data.set(payload, DATA_EVENT_OFFSETS.data);

  const close = new Uint8Array(CLOSE_EVENT_OFFSETS.sizeof);
  const cv = new DataView(close.buffer);
  header(cv, EventKind.TE_EV_CLOSE);
  cv.setBigUint64(CLOSE_EVENT_OFFSETS.sent_bytes, 11n, true);
  cv.setBigUint64(CLOSE_EVENT_OFFSETS.recv_bytes, 22n, true);

  const bogus = new Uint8Array(40);
  header(new DataView(bogus.buffer), 99);

  // The second `open` was discarded by the kernel (bpf_ringbuf_discard): skipped, not bad.
  const { buffer, length } = batch(
    [open, open, data, close, bogus, new Uint8Array(3)],
    new Set([1]),
  );
  const events: KernelEvent[] = [];
  const r = decodeBatch(buffer, length, (e) => events.push(e));
  assert.deepEqual(r, { events: 3, bad: 2, next: length });
  // Resumable: at most N events at a time, from where the last call stopped.
  const inSteps: KernelEvent[] = [];
  let at = 0;
  let calls = 0;
  while (at < length) {
    at = decodeBatch(buffer, length, (e) => inSteps.push(e), at, 1).next;
    calls++;
  }
  assert.deepEqual(inSteps, events);
  assert.ok(calls >= 3, `${calls} calls of one event each`);
  const [o, d, c] = events;
  assert.deepEqual(o, {
    kind: 'open',
    conn: '42:7:999',
    tgid: 42,
    fd: 7,
    tsNs: 123456789,
    tid: 43,
    role: 'server',
    family: 4,
    tls: false,
    local: { address: '127.0.0.1', port: 8080 },
    remote: { address: '10.1.2.3', port: 40000 },
    comm: 'nginx',
  });
  assert.equal(d!.kind, 'data');
  if (d?.kind === 'data') {
    assert.equal(d.direction, 'recv');
    assert.equal(d.offset, 5000);
    assert.equal(d.size, 100000);
    assert.equal(d.syscall, 'readv');
    assert.equal(Buffer.from(d.data).toString(), 'GET / HTTP/1.1\r\n');
  }
  assert.deepEqual(c, {
    kind: 'close',
    conn: '42:7:999',
    tgid: 42,
    fd: 7,
    tsNs: 123456789,
    sentBytes: 11,
    recvBytes: 22,
  });
});

test('IPv6 addresses are formatted per RFC 5952', () => {
  const v6 = (s: number[]) => new Uint8Array(s);
  assert.equal(formatAddress(10, v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])), '::1');
  assert.equal(
    formatAddress(10, v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
    '2001:db8::1',
  );
  assert.equal(
    formatAddress(10, v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1])),
    '::ffff:127.0.0.1',
  );
  assert.equal(
    formatAddress(10, v6([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2])),
    'fe80::1:0:0:2',
  );
});

test('connection ids: one string per connection, right across generations, fds and a full table', () => {
  assert.equal(idOf(1, 3, 0), '1:3:0');
  assert.equal(idOf(1, 3, 0), '1:3:0');
  assert.equal(idOf(1, 3, 1), '1:3:1', 'the fd reused: a new generation');
  assert.equal(idOf(1, 3, 0), '1:3:0', 'an older generation again');
  assert.equal(idOf(1, -1, 0), '1:-1:0');
  // The largest pid and fd keep their keys apart.
  assert.equal(idOf(4194303, 2147483647, 7), '4194303:2147483647:7');
  assert.equal(idOf(4194302, 2147483647, 7), '4194302:2147483647:7');
  assert.equal(idOf(4194303, 0, 7), '4194303:0:7');
  // Past the table's size it starts over and stays right.
  for (let fd = 0; fd < 70000; fd++) assert.equal(idOf(9, fd, 2), `9:${fd}:2`);
  assert.equal(idOf(1, 3, 1), '1:3:1');
});
