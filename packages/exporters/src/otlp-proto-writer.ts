/**
 * A protobuf writer over one growable, reused buffer: varints, fixed-width numbers, strings and
 * nested messages. A nested message reserves one length byte and is written in place; when it
 * ends up 128 bytes or longer its content is moved up to make room for the longer length (one
 * `copyWithin`, which most attribute-sized messages never need). No object is made per field.
 */
import { GrowableBuffer } from './growable-buffer.js';

const TWO_32 = 0x1_0000_0000;

/** Hex digit values by character code (255: not a hex digit). */
const HEX = new Uint8Array(128).fill(255);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[97 + i] = HEX[65 + i] = 10 + i;

/** Bytes the varint of a non-negative integer below 2^53 takes. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** A protobuf writer; `finish()` hands out the bytes written since the last `reset()`. */
export class ProtoWriter extends GrowableBuffer {
  /** A varint of a non-negative integer below 2^53. */
  varint(v: number): void {
    this.ensure(10);
    const buf = this.buf;
    let p = this.pos;
    while (v >= 128) {
      buf[p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[p++] = v;
    this.pos = p;
  }

  /**
   * An int64 varint of any integer-valued number: negatives as 64-bit two's complement (ten
   * bytes), magnitudes past 2^63 saturated.
   */
  int64(v: number): void {
    if (v >= 0 && v < 2 ** 53) {
      this.varint(v);
      return;
    }
    let lo: number;
    let hi: number;
    // Saturated at int64's range: -2^63 is exact as a double, 2^63 - 1 is not (the double
    // below 2^63 is 2^63 - 1024).
    const a = v < 0 ? Math.min(-v, 2 ** 63) : Math.min(v, 2 ** 63 - 1024);
    lo = a % TWO_32 >>> 0;
    hi = Math.floor(a / TWO_32) >>> 0;
    if (v < 0) {
      lo = ~lo + 1;
      hi = (~hi + (lo >>> 0 === 0 ? 1 : 0)) >>> 0;
      lo >>>= 0;
    }
    this.ensure(10);
    const buf = this.buf;
    let p = this.pos;
    // Seven bits at a time from the 64-bit (hi, lo) pair.
    while (hi !== 0 || lo >= 128) {
      buf[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[p++] = lo;
    this.pos = p;
  }

  /** A little-endian fixed32. */
  fixed32(v: number): void {
    this.ensure(4);
    const buf = this.buf;
    const p = this.pos;
    // By hand: writeUInt32LE's checks showed in profiles.
    buf[p] = v;
    buf[p + 1] = v >>> 8;
    buf[p + 2] = v >>> 16;
    buf[p + 3] = v >>> 24;
    this.pos = p + 4;
  }

  /** A little-endian fixed64 given as two 32-bit halves. */
  fixed64(lo: number, hi: number): void {
    this.fixed32(lo);
    this.fixed32(hi);
  }

  /**
   * Unix nanoseconds of an OTel `[seconds, nanoseconds]` time as a fixed64, exactly and without
   * BigInt: s·10⁹ = (s·1953125)·2⁹, and s·1953125 stays below 2⁵³ while s < 4.6·10⁹ (dates
   * before the year 2115).
   */
  hrTime(s: number, ns: number): void {
    const x = Math.trunc(s) * 1953125; // s * 10^9 / 2^9, exact
    let hi = Math.floor(x / 0x80_0000); // (x * 2^9) / 2^32 = x / 2^23
    let lo = (x - hi * 0x80_0000) * 512 + Math.trunc(ns);
    if (lo >= TWO_32) {
      const carry = Math.floor(lo / TWO_32);
      hi += carry;
      lo -= carry * TWO_32;
    }
    this.fixed64(lo, hi);
  }

  /** A little-endian double. */
  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** A length-prefixed UTF-8 string (the length varint included). */
  string(s: string): void {
    const n = s.length;
    // At most 3 bytes per UTF-16 unit, plus the length varint.
    this.ensure(n * 3 + 5);
    const buf = this.buf;
    const start = this.pos;
    if (n < 16) {
      // Short: ASCII by hand beats a native call (the length fits one byte whatever follows).
      let p = start + 1;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) {
          const len = buf.write(s, start + 1, 'utf8');
          buf[start] = len;
          this.pos = start + 1 + len;
          return;
        }
        buf[p++] = c;
      }
      buf[start] = n;
      this.pos = p;
      return;
    }
    // Longer: one native UTF-8 write after a one-byte length, moved up when the length needs
    // more bytes (a string of 128 bytes or more).
    const len = buf.write(s, start + 1, 'utf8');
    const extra = varintSize(len) - 1;
    if (extra > 0) buf.copyWithin(start + 1 + extra, start + 1, start + 1 + len);
    this.pos = start;
    this.varint(len);
    this.pos = start + 1 + extra + len;
  }

  /** Length-prefixed bytes from a hex string (trace and span ids). */
  hexBytes(hex: string): void {
    const n = hex.length >>> 1;
    if (n >= 128) {
      this.bytes(Buffer.from(hex, 'hex'));
      return;
    }
    this.ensure(n + 1);
    const buf = this.buf;
    const lenPos = this.pos;
    // By hand: Buffer#write(…, 'hex') costs a native call per id. Like it, stop at the first
    // pair that is not hex; the length says what was written.
    let p = lenPos + 1;
    for (let i = 0; i < n; i++) {
      const hi = HEX[hex.charCodeAt(2 * i)] ?? 255;
      const lo = HEX[hex.charCodeAt(2 * i + 1)] ?? 255;
      if ((hi | lo) > 15) break;
      buf[p++] = (hi << 4) | lo;
    }
    buf[lenPos] = p - lenPos - 1;
    this.pos = p;
  }

  /** Length-prefixed raw bytes. */
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.raw(b);
  }

  /** Starts a nested message: reserves its length byte; returns the mark {@link end} needs. */
  begin(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Ends the nested message begun at `mark`, writing its length. */
  end(mark: number): void {
    const len = this.pos - mark - 1;
    if (len < 128) {
      this.buf[mark] = len;
      return;
    }
    const extra = varintSize(len) - 1;
    this.ensure(extra);
    const buf = this.buf;
    buf.copyWithin(mark + 1 + extra, mark + 1, this.pos);
    let p = mark;
    let v = len;
    while (v >= 128) {
      buf[p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[p] = v;
    this.pos += extra;
  }

  /** A copy of what was written. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** The bytes of a field tag. */
export function tagBytes(field: number, wireType: number): number[] {
  const out: number[] = [];
  let v = field * 8 + wireType;
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
