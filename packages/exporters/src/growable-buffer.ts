/**
 * A growable byte buffer that is written into and reused: the part the protobuf and JSON
 * writers share. Growing copies what was written into a buffer twice as large.
 */

/** Bytes written at `pos` into `buf`, which grows when it fills. */
export class GrowableBuffer {
  /** The buffer written into; replaced by a larger one when it fills. */
  buf: Buffer;
  /** Next byte to write. */
  pos = 0;

  /** Writes into `buffer` when given (grown into a new one if it fills), else a new one. */
  constructor(initialBytes = 64 * 1024, buffer?: Buffer) {
    this.buf = buffer ?? Buffer.allocUnsafe(Math.max(16, initialBytes));
  }

  /** Forgets what was written (the buffer is kept for reuse). */
  reset(): void {
    this.pos = 0;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** One byte. */
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** `n` bytes of `src` from `start`, by hand: for the few bytes of an id, cheaper than a call. */
  copyFrom(src: Uint8Array, start: number, n: number): void {
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    for (let i = start; i < start + n; i++) buf[p++] = src[i]!;
    this.pos = p;
  }

  /** Raw bytes (pre-encoded fields). */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    const buf = this.buf;
    let p = this.pos;
    // Below a few bytes a loop beats set()'s call; above it, set() (a memcpy) wins.
    if (n < 8) for (let i = 0; i < n; i++) buf[p++] = bytes[i]!;
    else {
      buf.set(bytes, p);
      p += n;
    }
    this.pos = p;
  }
}
