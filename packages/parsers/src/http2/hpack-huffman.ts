/**
 * The Huffman code of HPACK (RFC 7541 Appendix B). The code is canonical: within one length,
 * codes rise with the symbol, and each length's first code follows the previous length's last.
 * So the code lengths alone define it; the codes are derived from them here, and decoding walks
 * the lengths (a unit test checks the derived codes against values the RFC lists).
 */

/** Code length in bits of each symbol 0–255, then EOS (256). */
// prettier-ignore
export const HUFFMAN_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //   0– 15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //  16– 31
   6, 10, 10, 12, 13,  6,  8, 11, 10, 10,  8, 11,  8,  6,  6,  6, //  32– 47  ' '..'/'
   5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8, 15,  6, 12, 10, //  48– 63  '0'..'?'
  13,  6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, //  64– 79  '@'..'O'
   7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8, 13, 19, 13, 14,  6, //  80– 95  'P'..'_'
  15,  5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5, //  96–111  '`'..'o'
   6,  7,  6,  5,  5,  6,  7,  7,  7,  7,  7, 15, 11, 14, 13, 28, // 112–127  'p'..DEL
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128–143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144–159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160–175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176–191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192–207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208–223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224–239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240–255
  30, // EOS
];

/** The end-of-string symbol: never valid inside a string; its prefix pads the last byte. */
export const EOS = 256;
const MAX_LENGTH = 30;

interface Canonical {
  /** Per length: the first code, how many codes, and where its symbols start in `symbols`. */
  readonly first: Int32Array;
  readonly count: Int32Array;
  readonly offset: Int32Array;
  /** Symbols ordered by (length, symbol). */
  readonly symbols: Uint16Array;
  /** The code of each symbol. */
  readonly codes: Uint32Array;
}

function canonical(): Canonical {
  const count = new Int32Array(MAX_LENGTH + 1);
  for (const len of HUFFMAN_LENGTHS) count[len]!++;
  const first = new Int32Array(MAX_LENGTH + 2);
  const offset = new Int32Array(MAX_LENGTH + 2);
  let code = 0;
  for (let len = 1; len <= MAX_LENGTH; len++) {
    code = (code + count[len - 1]!) * 2;
    first[len] = code;
    offset[len + 1] = offset[len]! + count[len]!;
  }
  const symbols = new Uint16Array(HUFFMAN_LENGTHS.length);
  const codes = new Uint32Array(HUFFMAN_LENGTHS.length);
  const next = Int32Array.from(offset);
  for (let len = 1; len <= MAX_LENGTH; len++)
    HUFFMAN_LENGTHS.forEach((l, sym) => {
      if (l !== len) return;
      const i = next[len]!++;
      symbols[i] = sym;
      codes[sym] = first[len]! + (i - offset[len]!);
    });
  return { first, count, offset, symbols, codes };
}

const CODE = canonical();

/** The code of `symbol` (tests check it against the RFC's table). */
export function huffmanCode(symbol: number): { code: number; length: number } {
  return { code: CODE.codes[symbol]!, length: HUFFMAN_LENGTHS[symbol]! };
}

/**
 * Decodes a Huffman-coded string (RFC 7541 §5.2). Returns undefined for an invalid one: EOS
 * inside it, padding longer than 7 bits, or padding that is not EOS's leading ones.
 */
export function huffmanDecode(bytes: Uint8Array): string | undefined {
  const { first, count, offset, symbols } = CODE;
  let out = '';
  let code = 0;
  let len = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      const idx = code - first[len]!;
      if (idx >= 0 && idx < count[len]!) {
        const sym = symbols[offset[len]! + idx]!;
        if (sym === EOS) return undefined;
        out += String.fromCharCode(sym);
        code = 0;
        len = 0;
      } else if (len >= MAX_LENGTH) {
        return undefined;
      }
    }
  }
  // Padding: fewer than 8 bits, all ones (the most significant bits of EOS).
  if (len > 7 || code !== 2 ** len - 1) return undefined;
  return out;
}
