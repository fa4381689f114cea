/**
 * Decodes a batch of raw kernel records (as the worker hands them over) into KernelEvents, using
 * the readers generated from bpf/events.h. Data payloads are views into the batch, not copies.
 */
import { connectionId, type CaptureMode, type KernelEvent, type Role } from '@traceable-ebpf/core';
import {
  CONN_ID_OFFSETS,
  DATA_EVENT_OFFSETS,
  EVENT_HEADER_OFFSETS,
  EventKind,
  Direction,
  Mode,
  Role as RoleCode,
  Syscall,
  readRawCloseEvent,
  readRawOpenEvent,
} from './generated/layout.js';

const ROLES: Record<number, Role> = {
  [RoleCode.TE_ROLE_SERVER]: 'server',
  [RoleCode.TE_ROLE_CLIENT]: 'client',
  [RoleCode.TE_ROLE_UNKNOWN]: 'unknown',
};

/** Mode bits of an open event; 0 (not known) has no entry. */
const MODES: Record<number, CaptureMode> = {
  [Mode.TE_MODE_INGRESS]: 'ingress',
  [Mode.TE_MODE_EGRESS]: 'egress',
  [Mode.TE_MODE_INGRESS | Mode.TE_MODE_EGRESS]: 'ingress_and_egress',
};

const SYSCALL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Syscall).map(([k, v]) => [v, k.replace(/^TE_SYS_/, '').toLowerCase()]),
);

/** Formats a 16-byte address field: IPv4 in the first 4 bytes, or IPv6. */
export function formatAddress(family: number, bytes: Uint8Array): string {
  if (family === 2) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // IPv4-mapped (::ffff:a.b.c.d)
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Connection ids kept for {@link idOf}; past it the table starts over. */
const MAX_IDS = 65536;
interface KnownId {
  gen: number;
  id: string;
}
/** Ids by tgid, then by fd: small-integer keys (one number of both would be a heap double). */
const ids = new Map<number, Map<number, KnownId>>();
let idCount = 0;
/** The process of the last lookup and its fds (events come in runs of one process's calls). */
let lastTgid = -1;
let lastFds = new Map<number, KnownId>();

/**
 * The id string of a connection, the same string for every event of it: no string is built per
 * event, and the stages' map lookups by it hit the hash the string already computed. Keyed by
 * tgid and fd, checked against the generation.
 */
export function idOf(tgid: number, fd: number, gen: number): string {
  if (fd < 0) return connectionId(tgid, fd, gen);
  let fds = lastFds;
  if (tgid !== lastTgid) {
    let known = ids.get(tgid);
    if (known === undefined) {
      known = new Map();
      ids.set(tgid, known);
    }
    fds = lastFds = known;
    lastTgid = tgid;
  }
  const hit = fds.get(fd);
  if (hit !== undefined && hit.gen === gen) return hit.id;
  const id = connectionId(tgid, fd, gen);
  if (hit !== undefined) {
    hit.gen = gen;
    hit.id = id;
    return id;
  }
  if (idCount >= MAX_IDS) {
    for (const m of ids.values()) m.clear();
    ids.clear();
    ids.set(tgid, fds);
    idCount = 0;
  }
  fds.set(fd, { gen, id });
  idCount++;
  return id;
}

/** The bytes of every data event that carries none (empty: nothing can be written into it). */
const NO_BYTES = new Uint8Array(0);

const u64 = (v: DataView, o: number) =>
  v.getUint32(o, true) + v.getUint32(o + 4, true) * 4294967296;

/**
 * A batch is a run of ring buffer records as the kernel framed them: a u32 length whose top bits
 * flag BUSY and DISCARD, a u32 page offset, the record, padding to 8 bytes.
 */
export const RECORD_HEADER_BYTES = 8;
const DISCARD_BIT = 0x40000000;
const LENGTH_MASK = 0x3fffffff;

/**
 * Decodes the records of a batch, from byte `from` (default 0) and at most `maxEvents` of them
 * (default all); discarded ones are skipped, malformed ones counted in `bad`. `next` is where
 * to go on (`length` once the batch is done).
 */
export function decodeBatch(
  buffer: ArrayBuffer,
  length: number,
  emit: (ev: KernelEvent) => void,
  from = 0,
  maxEvents = Infinity,
): { events: number; bad: number; next: number } {
  const v = new DataView(buffer, 0, length);
  let pos = from;
  let events = 0;
  let bad = 0;
  while (pos + RECORD_HEADER_BYTES <= length && events < maxEvents) {
    const word = v.getUint32(pos, true);
    const size = word & LENGTH_MASK;
    const o = pos + RECORD_HEADER_BYTES;
    pos = (o + size + 7) & ~7;
    if (word & DISCARD_BIT) continue;
    if (size < EVENT_HEADER_OFFSETS.sizeof || o + size > length) {
      bad++;
      continue;
    }
    const idAt = o + EVENT_HEADER_OFFSETS.conn;
    const tgid = v.getUint32(idAt + CONN_ID_OFFSETS.tgid, true);
    const fd = v.getInt32(idAt + CONN_ID_OFFSETS.fd, true);
    const tsNs = u64(v, o + EVENT_HEADER_OFFSETS.ts_ns);
    const conn = idOf(tgid, fd, u64(v, idAt + CONN_ID_OFFSETS.gen));
    const tid = v.getUint32(o + EVENT_HEADER_OFFSETS.tid, true);
    switch (v.getUint8(o + EVENT_HEADER_OFFSETS.kind)) {
      case EventKind.TE_EV_DATA: {
        if (size < DATA_EVENT_OFFSETS.data) {
          bad++;
          continue;
        }
        // The hot path: fields read in place at the generated offsets (readRawDataEvent would
        // allocate nested objects per event).
        const sys = v.getUint8(o + DATA_EVENT_OFFSETS.syscall);
        const len = Math.min(
          v.getUint32(o + DATA_EVENT_OFFSETS.len, true),
          size - DATA_EVENT_OFFSETS.data,
        );
        emit({
          kind: 'data',
          conn,
          tgid,
          fd,
          tsNs,
          tid,
          direction:
            v.getUint8(o + DATA_EVENT_OFFSETS.direction) === Direction.TE_DIR_SEND
              ? 'send'
              : 'recv',
          offset: u64(v, o + DATA_EVENT_OFFSETS.offset),
          size: u64(v, o + DATA_EVENT_OFFSETS.size),
          // A size-only event (sendfile, a call past the copy cap) shares one empty view.
          data: len > 0 ? new Uint8Array(buffer, o + DATA_EVENT_OFFSETS.data, len) : NO_BYTES,
          syscall: SYSCALL_NAMES[sys] ?? `syscall-${sys}`,
        });
        break;
      }
      case EventKind.TE_EV_OPEN: {
        const ev = readRawOpenEvent(v, o);
        emit({
          kind: 'open',
          conn,
          tgid,
          fd,
          tsNs,
          tid,
          role: ROLES[ev.role] ?? 'unknown',
          ...(MODES[ev.mode] ? { mode: MODES[ev.mode] } : {}),
          ...(ev.role === RoleCode.TE_ROLE_UNKNOWN ? { midStream: true } : {}),
          family: ev.family === 10 ? 6 : 4,
          local: { address: formatAddress(ev.family, ev.localAddr), port: ev.localPort },
          remote: { address: formatAddress(ev.family, ev.remoteAddr), port: ev.remotePort },
          tls: false,
          comm: ev.comm,
        });
        break;
      }
      case EventKind.TE_EV_CLOSE: {
        const ev = readRawCloseEvent(v, o);
        emit({
          kind: 'close',
          conn,
          tgid,
          fd,
          tsNs,
          sentBytes: ev.sentBytes,
          recvBytes: ev.recvBytes,
        });
        break;
      }
      default:
        bad++;
        continue;
    }
    events++;
  }
  return { events, bad, next: pos + RECORD_HEADER_BYTES <= length ? pos : length };
}
