/**
 * HPACK header block decoding (RFC 7541): the static table, one dynamic table per connection
 * direction, size updates bounded by SETTINGS_HEADER_TABLE_SIZE, Huffman strings. Returns a
 * status instead of throwing.
 *
 * Strict on a connection seen from its start. Lenient on one joined mid-stream: the dynamic
 * table's earlier entries were never seen, so an index past what is known becomes a marked
 * placeholder and decoding goes on; the block is flagged partial.
 */
import { FIELD_OVERHEAD_BYTES } from '../shared/header-caps.js';
import type { HeaderList } from '@traceable-ebpf/core';
import { huffmanDecodeRange } from './hpack-huffman.js';
import { latin1 } from '../shared/latin1.js';

/** RFC 7541 Appendix A: the static table, index 1 first. */
// prettier-ignore
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''],
  ['accept', ''], ['access-control-allow-origin', ''], ['age', ''], ['allow', ''],
  ['authorization', ''], ['cache-control', ''], ['content-disposition', ''],
  ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''],
  ['if-match', ''], ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''],
  ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''], ['location', ''],
  ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''],
  ['vary', ''], ['via', ''], ['www-authenticate', ''],
];

/** Bytes an entry counts for in the dynamic table (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;
/** Integers past this are invalid here (no header block field needs more). */
const MAX_INTEGER = 2 ** 31;

/** What a placeholder for an entry never seen looks like (name and value). */
export const UNKNOWN_ENTRY = (index: number): string => `<unknown hpack index ${index}>`;

/** The outcome of decoding one header block. */
export type HpackResult =
  | {
      readonly status: 'ok';
      readonly headers: HeaderList;
      /** Some entries were unknown (lenient mode): placeholders stand in for them. */
      readonly partial: boolean;
      /** Fields past `maxListBytes` were decoded (the table stays in step) but not kept. */
      readonly truncated: boolean;
    }
  | { readonly status: 'invalid'; readonly reason: string };

/** Options of {@link HpackDecoder}. */
export interface HpackDecoderOptions {
  /** SETTINGS_HEADER_TABLE_SIZE this side announced (the bound on size updates). Default 4096. */
  readonly maxTableSize?: number;
  /** Joined mid-stream: unknown indexes become placeholders instead of errors. Default false. */
  readonly lenient?: boolean;
  /**
   * Bytes the dynamic table may hold here, whatever the peer's SETTINGS allow (memory bound:
   * a table announced at 4 GB is kept at this). Entries the encoder still has but this bound
   * evicted become placeholders, never other entries. Default 64 KiB.
   */
  readonly memoryLimit?: number;
}

class Invalid extends Error {}

/** What {@link HpackDecoder} reads between blocks (it holds on to no block). */
const NO_BLOCK = new Uint8Array(0);

/** The HPACK decoding state of one direction of one connection. */
export class HpackDecoder {
  /** Newest first (index 62 is entries[0]). */
  private entries: Array<readonly [string, string]> = [];
  private size = 0;
  private maxSize: number;
  private settingsMax: number;
  private lenient: boolean;
  private readonly memoryLimit: number;
  /** The memory limit evicted entries the encoder may still refer to. */
  private shortened = false;
  /**
   * Placeholders, and table entries whose name was one (a literal with incremental indexing
   * naming an entry never seen): a field made from one is not known, and says so (`partial`).
   */
  private readonly unknown = new WeakSet<readonly [string, string]>();

  constructor(options: HpackDecoderOptions = {}) {
    this.settingsMax = options.maxTableSize ?? 4096;
    this.maxSize = this.settingsMax;
    this.lenient = options.lenient ?? false;
    this.memoryLimit = options.memoryLimit ?? 64 * 1024;
  }

  /** The table size bound the peer must respect (from SETTINGS_HEADER_TABLE_SIZE). */
  setMaxTableSize(n: number): void {
    this.settingsMax = n;
    if (this.maxSize > n) this.resize(n);
  }

  /**
   * Header blocks were lost (a gap in the stream): the table is emptied and decoding turns
   * lenient. Entries added from here on are the newest of the encoder's table too, so their
   * indexes stay right; older ones become placeholders.
   */
  forget(): void {
    this.entries = [];
    this.size = 0;
    this.lenient = true;
  }

  /** Entries in the dynamic table, newest first (for tests and diagnostics). */
  get dynamicTable(): ReadonlyArray<readonly [string, string]> {
    return this.entries;
  }

  /** The dynamic table's size in RFC 7541 terms. */
  get tableSize(): number {
    return this.size;
  }

  /**
   * Decodes one complete header block (HEADERS or PUSH_PROMISE plus its CONTINUATIONs). Fields
   * past `maxListBytes` (names and values plus {@link FIELD_OVERHEAD_BYTES} each, so empty fields
   * count too; a block of references can name a 4 KiB entry thousands of times) are decoded for
   * the table's sake but not kept.
   */
  decode(block: Uint8Array, maxListBytes = Infinity): HpackResult {
    // The block being read: fields of the decoder, not closures made per block.
    this.block = block;
    this.pos = 0;
    this.partial = false;
    const headers: Array<readonly [string, string]> = [];
    let listBytes = 0;
    let truncated = false;
    let fieldsSeen = false;
    try {
      while (this.pos < block.length) {
        const b = block[this.pos]!;
        let field: readonly [string, string];
        if (b & 0x80) {
          // Indexed header field (§6.1): the table's own entry, shared (lists are read-only).
          field = this.entry(this.integer(7));
        } else if (b & 0x40) {
          // Literal with incremental indexing (§6.2.1).
          const index = this.integer(6);
          const named = index ? this.entry(index) : undefined;
          const name = named ? named[0] : this.string();
          // An entry named by a placeholder stays unknown when later blocks refer to it.
          field = this.add(name, this.string(), named !== undefined && this.unknown.has(named));
        } else if (b & 0x20) {
          // Dynamic table size update (§6.3): only before the block's first field.
          if (fieldsSeen) throw new Invalid('table size update after a header field');
          const n = this.integer(5);
          if (n > this.settingsMax) throw new Invalid(`table size ${n} over the limit`);
          this.resize(n);
          continue;
        } else {
          // Literal without indexing (§6.2.2) or never indexed (§6.2.3).
          const index = this.integer(4);
          const name = index ? this.entry(index)[0] : this.string();
          field = [name, this.string()];
        }
        fieldsSeen = true;
        listBytes += field[0].length + field[1].length + FIELD_OVERHEAD_BYTES;
        if (listBytes > maxListBytes) truncated = true;
        else headers.push(field);
      }
    } catch (err) {
      if (err instanceof Invalid) return { status: 'invalid', reason: err.message };
      throw err;
    } finally {
      this.block = NO_BLOCK;
    }
    return { status: 'ok', headers, partial: this.partial, truncated };
  }

  /** The block {@link decode} reads, where it is in it, and whether an entry was unknown. */
  private block: Uint8Array = NO_BLOCK;
  private pos = 0;
  private partial = false;

  /** An integer with a `prefixBits`-bit prefix (§5.1). */
  private integer(prefixBits: number): number {
    const block = this.block;
    if (this.pos >= block.length) throw new Invalid('truncated integer');
    const max = (1 << prefixBits) - 1;
    let value = block[this.pos++]! & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= block.length) throw new Invalid('truncated integer');
      const b = block[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INTEGER) throw new Invalid('integer too large');
      if ((b & 0x80) === 0) return value;
      shift += 7;
    }
  }

  /** A string literal (§5.2), Huffman-coded or not. */
  private string(): string {
    const block = this.block;
    if (this.pos >= block.length) throw new Invalid('truncated string');
    const huffman = (block[this.pos]! & 0x80) !== 0;
    const length = this.integer(7);
    const start = this.pos;
    if (start + length > block.length) throw new Invalid('truncated string');
    this.pos += length;
    if (!huffman) return latin1(block, start, start + length);
    const text = huffmanDecodeRange(block, start, start + length);
    if (text === undefined) throw new Invalid('invalid Huffman string');
    return text;
  }

  /** The entry at `index` of the static and dynamic tables (§2.3.3). */
  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new Invalid('index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const i = index - STATIC_TABLE.length - 1;
    if (i < this.entries.length) {
      const e = this.entries[i]!;
      if (this.unknown.has(e)) this.partial = true;
      return e;
    }
    if (!this.lenient && !this.shortened)
      throw new Invalid(`index ${index} past the dynamic table`);
    this.partial = true;
    const placeholder = [UNKNOWN_ENTRY(index), UNKNOWN_ENTRY(index)] as const;
    this.unknown.add(placeholder);
    return placeholder;
  }

  /** Adds a field to the dynamic table (§4.4) and returns it. */
  private add(name: string, value: string, unknownName: boolean): readonly [string, string] {
    const e = [name, value] as const;
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.maxSize) {
      // An entry larger than the table empties it (§4.4), here as in the encoder.
      this.entries = [];
      this.size = 0;
      return e;
    }
    // What this side keeps: the peer's table size, or less for memory's sake.
    const room = Math.min(this.maxSize, this.memoryLimit);
    if (size > room) {
      // The encoder keeps it; this table can't: emptied, and what it lost becomes placeholders.
      this.entries = [];
      this.size = 0;
      this.shortened = true;
      return e;
    }
    if (room < this.maxSize && this.size + size > room) this.shortened = true;
    this.evictTo(room - size);
    if (unknownName) this.unknown.add(e);
    this.entries.unshift(e);
    this.size += size;
    return e;
  }

  private resize(n: number): void {
    this.maxSize = n;
    this.evictTo(n);
  }

  /** Evicts the oldest entries until the table takes at most `limit` bytes. */
  private evictTo(limit: number): void {
    while (this.size > limit && this.entries.length > 0) {
      const [name, value] = this.entries.pop()!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
    }
    if (this.entries.length === 0) this.size = 0;
  }
}
