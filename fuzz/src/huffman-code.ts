/**
 * The HPACK Huffman code (RFC 7541 Appendix B) for the generator's encoder. The code is
 * canonical, so the bit length of each symbol's code is all it takes: codes are assigned in
 * (length, symbol) order. The lengths below are the RFC's table, column "len in bits".
 */

// prettier-ignore
const LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
   6, 10, 10, 12, 13,  6,  8, 11, 10, 10,  8, 11,  8,  6,  6,  6,
   5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8, 15,  6, 12, 10,
  13,  6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,
   7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8, 13, 19, 13, 14,  6,
  15,  5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5,
   6,  7,  6,  5,  5,  6,  7,  7,  7,  7,  7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

/** Code of each symbol 0–256, as a number (at most 30 bits). */
const CODES: readonly number[] = (() => {
  const order = LENGTHS.map((len, sym) => [len, sym] as const).sort(
    (x, y) => x[0] - y[0] || x[1] - y[1],
  );
  const codes = new Array<number>(LENGTHS.length).fill(0);
  let code = 0;
  let prevLen = order[0]![0];
  for (const [len, sym] of order) {
    code *= 2 ** (len - prevLen);
    prevLen = len;
    codes[sym] = code;
    code++;
  }
  return codes;
})();

/** Huffman-encodes latin1 `text` (RFC 7541 §5.2), padding the last byte with EOS's leading ones. */
export function huffmanEncode(text: string): Uint8Array {
  const out: number[] = [];
  let acc = 0; // pending bits, at most 7 + 30: kept below 2^53 as a plain number
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const sym = text.charCodeAt(i) & 0xff;
    const len = LENGTHS[sym]!;
    acc = acc * 2 ** len + CODES[sym]!;
    n += len;
    while (n >= 8) {
      n -= 8;
      const byte = Math.floor(acc / 2 ** n);
      out.push(byte);
      acc -= byte * 2 ** n;
    }
  }
  if (n > 0) out.push(acc * 2 ** (8 - n) + (2 ** (8 - n) - 1));
  return Uint8Array.from(out);
}

/** Bytes {@link huffmanEncode} would produce for `text`. */
export function huffmanLength(text: string): number {
  let bits = 0;
  for (let i = 0; i < text.length; i++) bits += LENGTHS[text.charCodeAt(i) & 0xff]!;
  return Math.ceil(bits / 8);
}
