/**
 * Mutations of an input's events: bit flips, byte inserts, deletes, overwrites with interesting
 * values (0, 0xff, 0x7f, lengths near boundaries), duplicated ranges, truncation, new event
 * boundaries, and gaps (a range dropped and marked lost, as a truncated kernel copy marks it).
 */
import type { FuzzEvent, FuzzInput } from './input.js';
import type { Rng } from './rng.js';

/** Values that sit on boundaries parsers check. */
const INTERESTING_BYTES = [
  0x00, 0xff, 0x7f, 0x80, 0x01, 0x3f, 0x40, 0x0d, 0x0a, 0x20, 0x3a, 0x30, 0x39,
];
/** 16-, 24- and 32-bit values near length boundaries, written big-endian. */
const INTERESTING_WIDE = [
  0, 1, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x4001, 0x7fff, 0x8000, 0xffff, 0x10000, 0xffffff,
  0x7fffffff, 0x80000000, 0xffffffff,
];

/** The mutation operators, by name (the name goes into the failure report). */
export const MUTATORS = [
  'bitflip',
  'byte',
  'interesting',
  'insert',
  'delete',
  'duplicate',
  'truncate',
  'split',
  'gap',
  'drop-event',
  'swap-events',
] as const;
/** One operator's name. */
export type MutatorName = (typeof MUTATORS)[number];

function withData(e: FuzzEvent, data: Uint8Array): FuzzEvent {
  return { dir: e.dir, data, ...(e.lost ? { lost: e.lost } : {}) };
}

/** Applies one random operator to a copy of `events`; returns its name. */
function mutateOnce(rng: Rng, events: FuzzEvent[]): MutatorName {
  const name = rng.pick(MUTATORS);
  if (events.length === 0) return name;
  const k = rng.int(events.length);
  const e = events[k]!;
  const data = Uint8Array.from(e.data);
  const at = rng.int(data.length);
  switch (name) {
    case 'bitflip':
      if (data.length) data[at]! ^= 1 << rng.int(8);
      events[k] = withData(e, data);
      break;
    case 'byte':
      if (data.length) data[at] = rng.int(256);
      events[k] = withData(e, data);
      break;
    case 'interesting': {
      if (!data.length) break;
      if (rng.chance(0.5)) data[at] = rng.pick(INTERESTING_BYTES);
      else {
        const width = rng.pick([2, 3, 4]);
        let v = rng.pick(INTERESTING_WIDE) + rng.range(-1, 1);
        for (let i = width - 1; i >= 0; i--) {
          if (at + i < data.length) data[at + i] = v & 0xff;
          v = Math.floor(v / 256);
        }
      }
      events[k] = withData(e, data);
      break;
    }
    case 'insert': {
      const extra = rng.chance(0.5)
        ? Uint8Array.of(rng.pick(INTERESTING_BYTES))
        : rng.bytes(rng.range(1, 16));
      events[k] = withData(e, Buffer.concat([data.subarray(0, at), extra, data.subarray(at)]));
      break;
    }
    case 'delete': {
      const n = rng.range(1, 16);
      events[k] = withData(e, Buffer.concat([data.subarray(0, at), data.subarray(at + n)]));
      break;
    }
    case 'duplicate': {
      const n = rng.range(1, 64);
      const range = data.subarray(at, at + n);
      const to = rng.int(data.length + 1);
      events[k] = withData(e, Buffer.concat([data.subarray(0, to), range, data.subarray(to)]));
      break;
    }
    case 'truncate':
      // The input ends early: this event cut short, the ones after it gone.
      events.splice(k + 1);
      events[k] = withData(e, data.subarray(0, at));
      break;
    case 'split':
      if (data.length > 1)
        events.splice(
          k,
          1,
          { dir: e.dir, data: data.subarray(0, at) },
          withData(e, data.subarray(at)),
        );
      break;
    case 'gap': {
      // Bytes [at, at + n) never copied: the event carries what came before, then a gap.
      const n = rng.chance(0.7) ? rng.range(1, 64) : rng.range(1, Math.max(1, data.length - at));
      const end = Math.min(data.length, at + n);
      const before = { dir: e.dir, data: data.subarray(0, at), lost: end - at };
      events.splice(k, 1, before, withData(e, data.subarray(end)));
      break;
    }
    case 'drop-event':
      // A whole event lost: its bytes marked lost on the one before (or kept as a lost run).
      events.splice(k, 1, {
        dir: e.dir,
        data: new Uint8Array(0),
        lost: data.length + (e.lost ?? 0),
      });
      break;
    case 'swap-events': {
      // Two neighbouring events of different directions change order (the other side's bytes
      // seen first); each direction's own bytes stay in order.
      const next = events[k + 1];
      if (next && next.dir !== e.dir) {
        events[k] = next;
        events[k + 1] = e;
      }
      break;
    }
  }
  return name;
}

/**
 * A mutated copy of `input` (1 to 8 operators) and the operators applied. Connection inputs are
 * sometimes also joined mid-stream (`join-midstream`: flagged `midStream`, the role sometimes
 * unknown, the first events sometimes never seen).
 */
export function mutate(
  rng: Rng,
  input: FuzzInput,
): { input: FuzzInput; applied: Array<MutatorName | 'join-midstream' | 'join-late'> } {
  let events = [...input.events];
  const applied: Array<MutatorName | 'join-midstream' | 'join-late'> = [];
  let joined: Pick<FuzzInput, 'role' | 'midStream'> = {};
  if (input.role && rng.chance(0.1)) {
    joined = { role: rng.chance(0.5) ? 'unknown' : input.role, midStream: true };
    applied.push('join-midstream');
    if (rng.chance(0.6)) {
      events = events.slice(rng.int(Math.ceil(events.length / 2)) + 1);
      applied.push('join-late');
    }
  }
  const count = rng.chance(0.5) ? 1 : rng.range(2, 8);
  for (let i = 0; i < count; i++) applied.push(mutateOnce(rng, events));
  return {
    input: { ...input, ...joined, events: events.filter((e) => e.data.length || e.lost) },
    applied,
  };
}
