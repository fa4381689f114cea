/**
 * From generated segments to input events (each direction's bytes cut at random places, as
 * syscalls would move them), and from input events to the kernel events the real pipeline takes.
 */
import type { KernelEvent, Role } from '@traceable-ebpf/core';
import type { FuzzEvent, FuzzInput, Segment } from './input.js';
import type { Rng } from './rng.js';

/** The fuzz connection's id and process. */
export const FUZZ_CONN = '41:7:1';
const TGID = 41;
const FD = 7;

/**
 * Cuts each segment into events at random positions; consecutive segments of one direction are
 * sometimes joined first (several frames or messages in one syscall).
 */
export function cutIntoEvents(rng: Rng, segments: readonly Segment[]): FuzzEvent[] {
  const joined: Segment[] = [];
  for (const s of segments) {
    const last = joined[joined.length - 1];
    if (last && last.dir === s.dir && rng.chance(0.5))
      joined[joined.length - 1] = { dir: s.dir, bytes: Buffer.concat([last.bytes, s.bytes]) };
    else joined.push(s);
  }
  const events: FuzzEvent[] = [];
  for (const s of joined) {
    const n = s.bytes.length;
    if (n === 0) continue;
    if (n < 3000 && rng.chance(0.02)) {
      // A byte or a few at a time: every held-bytes path gets its turn.
      for (let at = 0; at < n; ) {
        const k = rng.range(1, 3);
        events.push({ dir: s.dir, data: s.bytes.subarray(at, at + k) });
        at += k;
      }
      continue;
    }
    const cuts = rng.chance(0.5) ? 0 : rng.small(Math.min(8, n - 1));
    const at = new Set<number>();
    for (let i = 0; i < cuts; i++) at.add(1 + rng.int(n - 1));
    const bounds = [0, ...[...at].sort((a, b) => a - b), n];
    for (let i = 0; i + 1 < bounds.length; i++)
      events.push({ dir: s.dir, data: s.bytes.subarray(bounds[i]!, bounds[i + 1]!) });
  }
  return events;
}

/**
 * The kernel events of a connection carrying `input`: its open, one data event per input event
 * (offsets following on per direction; `lost` bytes make the event's size exceed its data, a
 * truncated copy), then its close. Times rise by 1 µs per event.
 */
export function kernelEvents(input: FuzzInput): KernelEvent[] {
  const role: Role = input.role ?? 'server';
  const out: KernelEvent[] = [
    {
      kind: 'open',
      conn: FUZZ_CONN,
      tgid: TGID,
      fd: FD,
      tid: TGID,
      tsNs: 1000,
      role,
      ...(input.midStream ? { midStream: true } : {}),
      family: 4,
      tls: false,
      comm: 'fuzz',
      local: { address: '10.0.0.1', port: 8080 },
      remote: { address: '10.0.0.2', port: 43210 },
    },
  ];
  const offset = { send: 0, recv: 0 };
  let ts = 1000;
  for (const e of input.events) {
    if (e.dir === 'none') continue;
    ts += 1000;
    const size = e.data.length + (e.lost ?? 0);
    out.push({
      kind: 'data',
      conn: FUZZ_CONN,
      tgid: TGID,
      fd: FD,
      tid: TGID,
      tsNs: ts,
      direction: e.dir,
      offset: offset[e.dir],
      size,
      data: e.data,
      syscall: e.dir === 'send' ? 'write' : 'read',
    });
    offset[e.dir] += size;
  }
  out.push({
    kind: 'close',
    conn: FUZZ_CONN,
    tgid: TGID,
    fd: FD,
    tsNs: ts + 1000,
    sentBytes: offset.send,
    recvBytes: offset.recv,
  });
  return out;
}
