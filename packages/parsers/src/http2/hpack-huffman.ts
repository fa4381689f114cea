/**
 * The Huffman code of HPACK (RFC 7541 Appendix B). The code is canonical: within one length,
 * codes rise with the symbol, and each length's first code follows the previous length's last.
 * So the code lengths alone define it; the codes are derived from them here (a unit test checks
 * them against values the RFC lists), and decoding runs an automaton built from the codes that
 * reads four bits a step (bit by bit, with a string grown a character at a time, decoding was
 * the largest single cost of an HTTP/2 exchange).
 */
import { latin1 } from '../shared/latin1.js';

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

/** The code of each symbol, from the lengths: canonical (RFC 7541 Appendix B). */
function canonicalCodes(): Uint32Array {
  const count = new Int32Array(MAX_LENGTH + 1);
  for (const len of HUFFMAN_LENGTHS) count[len]!++;
  // Each length's first code follows the previous length's last; within a length, codes rise
  // with the symbol.
  const next = new Int32Array(MAX_LENGTH + 1);
  let code = 0;
  for (let len = 1; len <= MAX_LENGTH; len++) {
    code = (code + count[len - 1]!) * 2;
    next[len] = code;
  }
  const codes = new Uint32Array(HUFFMAN_LENGTHS.length);
  HUFFMAN_LENGTHS.forEach((len, sym) => (codes[sym] = next[len]!++));
  return codes;
}

const CODES = canonicalCodes();

/** The code of `symbol` (tests check it against the RFC's table). */
export function huffmanCode(symbol: number): { code: number; length: number } {
  return { code: CODES[symbol]!, length: HUFFMAN_LENGTHS[symbol]! };
}

/**
 * The code as a 4-bit automaton: its states are the code tree's inner nodes (0 is the root), and
 * each step reads one nibble. No code is shorter than 5 bits, so a step emits one symbol at most.
 */
interface Automaton {
  /** The state after `state * 16 + nibble`. */
  readonly next: Uint16Array;
  /** The symbol that step completes; -1: none; -2: EOS (invalid inside a string). */
  readonly emit: Int16Array;
  /** Whether a string may end in the state: its path is padding (at most 7 bits, all ones). */
  readonly accepts: Uint8Array;
}

function automaton(): Automaton {
  // The code tree: a child is an inner node's index, or ~symbol for a leaf.
  const zero: number[] = [0];
  const one: number[] = [0];
  const depth: number[] = [0];
  const allOnes: boolean[] = [true];
  const child = (node: number, bit: number) => (bit ? one : zero)[node]!;
  for (let sym = 0; sym < HUFFMAN_LENGTHS.length; sym++) {
    const { code, length } = huffmanCode(sym);
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const side = bit ? one : zero;
      if (i === 0) {
        side[node] = ~sym;
        break;
      }
      if (side[node] === 0) {
        side[node] = zero.length;
        zero.push(0);
        one.push(0);
        depth.push(depth[node]! + 1);
        allOnes.push(allOnes[node]! && bit === 1);
      }
      node = side[node]!;
    }
  }
  const states = zero.length;
  const next = new Uint16Array(states * 16);
  const emit = new Int16Array(states * 16).fill(-1);
  const accepts = new Uint8Array(states);
  for (let s = 0; s < states; s++) {
    accepts[s] = allOnes[s]! && depth[s]! <= 7 ? 1 : 0;
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = s;
      for (let bit = 3; bit >= 0; bit--) {
        const c = child(node, (nibble >> bit) & 1);
        if (c >= 0) {
          node = c;
          continue;
        }
        const sym = ~c;
        if (emit[s * 16 + nibble] !== -1) throw new Error('two symbols in one nibble');
        emit[s * 16 + nibble] = sym === EOS ? -2 : sym;
        node = 0;
        if (sym === EOS) break;
      }
      next[s * 16 + nibble] = node;
    }
  }
  return { next, emit, accepts };
}

const AUTOMATON = automaton();
/** Decoded bytes, reused (a string is made from them once). */
let scratch = Buffer.allocUnsafe(4096);

/**
 * Decodes a Huffman-coded string (RFC 7541 §5.2). Returns undefined for an invalid one: EOS
 * inside it, padding longer than 7 bits, or padding that is not EOS's leading ones.
 */
export function huffmanDecode(bytes: Uint8Array): string | undefined {
  return huffmanDecodeRange(bytes, 0, bytes.length);
}

/** {@link huffmanDecode} of `src[start, end)`, without a view of it. */
export function huffmanDecodeRange(
  src: Uint8Array,
  start: number,
  end: number,
): string | undefined {
  const { next, emit, accepts } = AUTOMATON;
  // At most one symbol per 5 bits.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const out = scratch;
  let state = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    let t = (state << 4) | (byte >> 4);
    let e = emit[t]!;
    if (e === -2) return undefined;
    if (e >= 0) out[n++] = e;
    state = next[t]!;
    t = (state << 4) | (byte & 15);
    e = emit[t]!;
    if (e === -2) return undefined;
    if (e >= 0) out[n++] = e;
    state = next[t]!;
  }
  if (!accepts[state]) return undefined;
  return latin1(out, 0, n);
}
