/**
 * Header names as shared strings. A parser makes a new string for every name of every message,
 * yet a connection sends the same names message after message; every later stage looks names up
 * (the span mapper's attribute keys, redaction, `Host`), and a lookup of a new string hashes and
 * compares it in full. Handing on one string per distinct name makes those lookups hit a cached
 * hash and an identical key instead.
 */

/** Names longer than this are handed on as they are (not worth a table entry). */
const MAX_INTERNED_LENGTH = 64;
/** Distinct names kept; the table starts over when full (hostile traffic can't grow it). */
const MAX_INTERNED_NAMES = 4096;
/** Header positions a {@link HeaderNameCache} remembers per message. */
const MAX_POSITIONS = 64;

const table = new Map<string, string>();

/**
 * The shared string equal to `name`. The shared copy is made from the name's characters, so it
 * never keeps alive a larger string the name was cut from.
 */
export function internHeaderName(name: string): string {
  if (name.length > MAX_INTERNED_LENGTH) return name;
  let s = table.get(name);
  if (s === undefined) {
    s = Buffer.from(name, 'latin1').toString('latin1');
    if (table.size >= MAX_INTERNED_NAMES) table.clear();
    table.set(s, s);
  }
  return s;
}

/**
 * One direction of one connection's names by position in the header block: the name at
 * position `i` is most often the one the previous message had there, which one comparison finds
 * (no hashing); any other name goes through {@link internHeaderName}.
 */
export class HeaderNameCache {
  private readonly names: string[] = [];

  /** The name the previous message had at position `i`, if any. */
  at(i: number): string | undefined {
    return this.names[i];
  }

  /** The shared string for `name`, the `i`-th header of the message. */
  intern(i: number, name: string): string {
    const prev = this.names[i];
    if (prev === name) return prev;
    const s = internHeaderName(name);
    if (i < MAX_POSITIONS) this.names[i] = s;
    return s;
  }
}
