/**
 * A small HPACK encoder (RFC 7541) for generating header blocks: every representation the
 * format has (indexed static and dynamic fields, literals with and without indexing and never
 * indexed, indexed or literal names, Huffman or raw strings, table size updates), chosen at
 * random, with its own model of the dynamic table so the blocks it makes decode to its input.
 */
import type { Rng } from './rng.js';
import { huffmanEncode } from './huffman-code.js';

/** The static table (RFC 7541 Appendix A), index 1 first. */
// prettier-ignore
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''], ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''],
  ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''],
  ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''],
  ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''],
  ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''],
  ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/** A header field as HPACK sees it. */
export type Field = readonly [name: string, value: string];

/** RFC 7541 §4.1: an entry's size is its name, its value and 32 bytes. */
export const entrySize = ([n, v]: Field): number => n.length + v.length + 32;

/** Appends an HPACK integer (§5.1) with `prefixBits` bits of prefix, ORing `first` in. */
export function encodeInteger(out: number[], value: number, prefixBits: number, first: number) {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/** Appends a string literal (§5.2), Huffman-coded or raw. */
export function encodeString(out: number[], text: string, huffman: boolean) {
  if (huffman) {
    const coded = huffmanEncode(text);
    encodeInteger(out, coded.length, 7, 0x80);
    for (const b of coded) out.push(b);
    return;
  }
  encodeInteger(out, text.length, 7, 0);
  for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i) & 0xff);
}

/** One direction's encoder: blocks it makes must be decoded in order by one decoder. */
export class HpackEncoder {
  /** Newest first, like the decoder's (index 62 is `table[0]`). */
  private table: Field[] = [];
  private size = 0;
  private maxSize: number;
  /** The first block must announce a table size other than the initial 4096 (§4.2). */
  private announce: boolean;

  /** `maxTableSize`: the decoder's SETTINGS_HEADER_TABLE_SIZE (the bound on size updates). */
  constructor(
    private readonly rng: Rng,
    private readonly maxTableSize = 4096,
  ) {
    this.maxSize = maxTableSize;
    this.announce = maxTableSize !== 4096;
  }

  /** The dynamic table size now (RFC terms). */
  get tableSize(): number {
    return this.size;
  }

  /** Encodes one header block of `fields`, choosing representations at random. */
  encode(fields: readonly Field[]): Uint8Array {
    const out: number[] = [];
    const rng = this.rng;
    if (this.announce || rng.chance(0.08)) {
      this.announce = false;
      // Size updates (§6.3) at the start of the block: one or two, the last one counts.
      const updates = rng.chance(0.3) ? 2 : 1;
      for (let i = 0; i < updates; i++) {
        const n = rng.chance(0.5) ? this.maxTableSize : rng.int(this.maxTableSize + 1);
        encodeInteger(out, n, 5, 0x20);
        this.resize(n);
      }
    }
    for (const field of fields) this.field(out, field);
    return Uint8Array.from(out);
  }

  private field(out: number[], field: Field): void {
    const rng = this.rng;
    const [name, value] = field;
    const exact = this.find(field, true);
    if (exact > 0 && rng.chance(0.8)) {
      encodeInteger(out, exact, 7, 0x80); // indexed field (§6.1)
      return;
    }
    const nameIndex = rng.chance(0.7) ? this.find(field, false) : 0;
    const huff = () => rng.chance(0.5);
    const kind = rng.int(4);
    if (kind <= 1) {
      // Literal with incremental indexing (§6.2.1).
      encodeInteger(out, nameIndex, 6, 0x40);
      if (!nameIndex) encodeString(out, name, huff());
      encodeString(out, value, huff());
      this.add(field);
    } else {
      // Without indexing (§6.2.2, 0x00) or never indexed (§6.2.3, 0x10).
      encodeInteger(out, nameIndex, 4, kind === 2 ? 0x00 : 0x10);
      if (!nameIndex) encodeString(out, name, huff());
      encodeString(out, value, huff());
    }
  }

  /** The index of an entry with this name (and value when `exact`), static or dynamic; 0 if none. */
  private find([name, value]: Field, exact: boolean): number {
    const candidates: number[] = [];
    STATIC_TABLE.forEach(([n, v], i) => {
      if (n === name && (!exact || v === value)) candidates.push(i + 1);
    });
    this.table.forEach(([n, v], i) => {
      if (n === name && (!exact || v === value)) candidates.push(STATIC_TABLE.length + 1 + i);
    });
    return candidates.length ? this.rng.pick(candidates) : 0;
  }

  private add(field: Field): void {
    const size = entrySize(field);
    if (size > this.maxSize) {
      this.table = [];
      this.size = 0;
      return;
    }
    this.evictTo(this.maxSize - size);
    this.table.unshift(field);
    this.size += size;
  }

  private resize(n: number): void {
    this.maxSize = n;
    this.evictTo(n);
  }

  private evictTo(limit: number): void {
    while (this.size > limit && this.table.length > 0) this.size -= entrySize(this.table.pop()!);
  }
}
