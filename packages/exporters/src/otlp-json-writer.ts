/**
 * A JSON text writer over one growable, reused buffer: UTF-8 bytes written as they are made, so
 * a span's JSON is never a string (no rope of small strings to flatten and re-encode).
 */
import { GrowableBuffer } from './growable-buffer.js';

/** The character codes of the hex digits. */
const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** Writes JSON text as UTF-8 bytes. */
export class JsonWriter extends GrowableBuffer {
  /** ASCII text that needs no escaping (numbers, field names, hex ids). */
  ascii(s: string): void {
    const n = s.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** `n` bytes of `src` from `start` as a quoted string of lower-case hex digits (an id). */
  hex(src: Uint8Array, start: number, n: number): void {
    this.ensure(2 * n + 2);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = 0x22;
    for (let i = start; i < start + n; i++) {
      const b = src[i]!;
      buf[p++] = HEX_DIGITS[b >> 4]!;
      buf[p++] = HEX_DIGITS[b & 15]!;
    }
    buf[p++] = 0x22;
    this.pos = p;
  }

  /** A number as JSON: finite ones as they print, others as the protobuf JSON mapping's strings. */
  double(v: number): void {
    if (Number.isFinite(v)) this.ascii(String(v));
    else this.ascii(Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"');
  }

  /** A quoted, escaped JSON string. */
  str(s: string): void {
    const n = s.length;
    // Worst case for ASCII is \u00XX (6 bytes a character); other characters take the slow path.
    this.ensure(n * 6 + 2);
    const buf = this.buf;
    let p = this.pos;
    buf[p++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) {
        buf[p++] = c;
      } else if (c < 0x80) {
        buf[p++] = 0x5c;
        if (c === 0x22 || c === 0x5c) buf[p++] = c;
        else if (c === 0x0a)
          buf[p++] = 0x6e; // \n
        else if (c === 0x0d)
          buf[p++] = 0x72; // \r
        else if (c === 0x09)
          buf[p++] = 0x74; // \t
        else {
          const hex = c.toString(16).padStart(4, '0');
          buf[p++] = 0x75; // \u
          for (let k = 0; k < 4; k++) buf[p++] = hex.charCodeAt(k);
        }
      } else {
        // Past ASCII: JSON.stringify escapes lone surrogates; UTF-8 encode the rest at once.
        const rest = JSON.stringify(s.slice(i));
        this.pos = p;
        this.ensure(rest.length * 3);
        this.pos += this.buf.write(rest.slice(1), this.pos, 'utf8');
        return;
      }
    }
    buf[p++] = 0x22;
    this.pos = p;
  }
}
