/**
 * The fuzzer's only source of randomness: a small deterministic generator, so that input `i` of a
 * run is a function of `(seed, i)` alone and any input can be made again from those two numbers.
 */

/** Mixes a 32-bit value (the finaliser of MurmurHash3): nearby inputs give unrelated outputs. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A xorshift128 generator seeded through {@link mix32}; never all-zero state. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator for one `(seed, index)` pair (both 32-bit unsigned). */
  constructor(seed: number, index = 0) {
    this.a = mix32(seed ^ 0x9e3779b9);
    this.b = mix32(index ^ 0x7f4a7c15);
    this.c = mix32(this.a ^ Math.imul(this.b, 0x27d4eb2f));
    this.d = mix32(this.c ^ 0x165667b1) | 1;
  }

  /** The next 32 random bits, unsigned. */
  u32(): number {
    let t = this.d;
    const s = this.a;
    this.d = this.c;
    this.c = this.b;
    this.b = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.a = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.a;
  }

  /** An integer in `[0, n)`; 0 when `n <= 0`. */
  int(n: number): number {
    if (n <= 1) return 0;
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** An integer in `[lo, hi]`. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Small numbers much more often than large ones: `[0, max]`, roughly log-uniform. */
  small(max: number): number {
    const bits = this.int(Math.ceil(Math.log2(max + 1)) + 1);
    return Math.min(max, this.int(2 ** bits));
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A string of `n` characters drawn from `alphabet`. */
  text(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }

  /** A fresh 32-bit seed (for a random run). */
  static randomSeed(): number {
    return (Math.random() * 0x100000000) >>> 0;
  }
}
