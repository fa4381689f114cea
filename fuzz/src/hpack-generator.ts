/**
 * Generator of HPACK inputs alone: a run of header lists for one decoder (names that repeat so
 * the dynamic table is used, values long enough to evict, latin1 bytes past ASCII, empty names
 * and values), encoded by {@link HpackEncoder} in every representation.
 */
import { HpackEncoder, STATIC_TABLE, type Field } from './hpack-encoder.js';
import type { Segment } from './input.js';
import type { Rng } from './rng.js';

/** Header blocks and the lists they decode to, with the decoder settings they assume. */
export interface GeneratedHpack {
  readonly segments: Segment[];
  readonly lists: Field[][];
  /** The table size the encoder ends with (the decoder's must agree). */
  readonly tableSize: number;
  readonly params: { maxTableSize: number; memoryLimit: number };
}

function value(rng: Rng): string {
  const n = rng.chance(0.05) ? rng.range(200, 3000) : rng.small(40);
  let s = '';
  for (let i = 0; i < n; i++)
    s += String.fromCharCode(rng.chance(0.03) ? rng.int(256) : 0x20 + rng.int(0x5f));
  return s;
}

/** One random run of header blocks for one decoder. */
export function generateHpack(rng: Rng): GeneratedHpack {
  const maxTableSize = rng.pick([4096, 4096, 0, 100, 1024, 65536]);
  const params = { maxTableSize, memoryLimit: 64 * 1024 };
  const enc = new HpackEncoder(rng, maxTableSize);
  const pool: Field[] = [];
  const poolSize = rng.range(1, 30);
  for (let i = 0; i < poolSize; i++) {
    if (rng.chance(0.4)) {
      const [n, v] = rng.pick(STATIC_TABLE);
      pool.push([n, v && rng.chance(0.5) ? v : value(rng)]);
    } else {
      const name = rng.chance(0.02)
        ? ''
        : rng.text('abcdefghijklmnopqrstuvwxyz-_0123456789', rng.range(1, 24));
      pool.push([name, value(rng)]);
    }
  }
  const lists: Field[][] = [];
  const segments: Segment[] = [];
  const blocks = rng.range(1, 8);
  for (let b = 0; b < blocks; b++) {
    const list: Field[] = [];
    const fields = rng.small(16);
    for (let i = 0; i < fields; i++) list.push(rng.pick(pool));
    lists.push(list);
    segments.push({ dir: 'none', bytes: enc.encode(list) });
  }
  return { segments, lists, tableSize: enc.tableSize, params };
}
