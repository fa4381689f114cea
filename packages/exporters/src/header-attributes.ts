/**
 * Captured headers as span attributes: `<prefix>.<lower-case name>`, one string-array attribute
 * per name with its values in wire order, redacted where configured. Header names repeat
 * endlessly and, on a connection, in the same order, so both how a name resolves (its key) and
 * how a whole list of names resolves (its shape) are memoised.
 */
import type { HeaderList } from '@traceable-ebpf/core';
import { AttrKey, type AttributeSink } from './span-attributes.js';

/** What replaces a redacted header value. */
export const REDACTED = '[redacted]';

/** A header name's attribute key, lower-case name and redaction. */
export interface HeaderKey {
  readonly key: AttrKey;
  readonly lower: string;
  readonly redacted: boolean;
}

/** How a list of header names resolves: each line's key, and whether any name repeats. */
export interface HeaderShape {
  /** The names, line by line, as the list had them. */
  readonly names: readonly string[];
  /** Each line's key; lines whose names differ only in case share one. */
  readonly keys: readonly HeaderKey[];
  /** True when every line has a name of its own (each is one single-valued attribute). */
  readonly distinct: boolean;
}

/** Lists with more lines than this are grouped through a Map (not by scanning) and not memoised. */
const SCAN_GROUPING_MAX = 32;
/** Names and lower-case names kept per table; a table starts over when full. */
const MAX_NAMES = 4096;
/** Shapes kept per table (recent connections' header lists). */
const MAX_SHAPES = 8;
/** Shapes with a name longer than this are not kept. */
const MAX_KEPT_NAME = 64;

/** A header's value as a span says it: redacted when its name is. */
function said(k: HeaderKey, value: string): string {
  return k.redacted ? REDACTED : value;
}

/** True when `headers` has exactly the names of `shape`, line by line. */
function sameNames(shape: HeaderShape, headers: HeaderList): boolean {
  const names = shape.names;
  if (names.length !== headers.length) return false;
  // Parsers hand names on as shared strings, so this is mostly an identity test.
  for (let i = 0; i < names.length; i++) if (names[i] !== headers[i]![0]) return false;
  return true;
}

/** The header attribute keys under one prefix (`http.request.header`, …). */
export class HeaderKeyTable {
  private readonly byName = new Map<string, HeaderKey>();
  private readonly byLower = new Map<string, HeaderKey>();
  private readonly shapes: HeaderShape[] = [];
  private nextShape = 0;

  constructor(
    private readonly prefix: string,
    /** Lower-case names whose values are redacted. */
    private readonly redact: ReadonlySet<string>,
  ) {}

  /** The key of a header name (any case). */
  key(name: string): HeaderKey {
    let k = this.byName.get(name);
    if (!k) {
      const lower = name.toLowerCase();
      k = this.byLower.get(lower);
      if (!k) {
        k = {
          key: new AttrKey(`${this.prefix}.${lower}`),
          lower,
          redacted: this.redact.has(lower),
        };
        if (this.byLower.size >= MAX_NAMES) this.byLower.clear();
        this.byLower.set(lower, k);
      }
      if (this.byName.size >= MAX_NAMES) this.byName.clear();
      this.byName.set(name, k);
    }
    return k;
  }

  /** How `headers` resolves, from the memo when seen lately. */
  shape(headers: HeaderList): HeaderShape {
    const shapes = this.shapes;
    if (headers.length > SCAN_GROUPING_MAX) return this.resolve(headers);
    for (let i = 0; i < shapes.length; i++) if (sameNames(shapes[i]!, headers)) return shapes[i]!;
    const shape = this.resolve(headers);
    // A long name may be a slice of a much larger string (the parser's text): not kept.
    if (shape.names.some((name) => name.length > MAX_KEPT_NAME)) return shape;
    if (shapes.length < MAX_SHAPES) shapes.push(shape);
    else shapes[this.nextShape] = shape;
    this.nextShape = (this.nextShape + 1) % MAX_SHAPES;
    return shape;
  }

  /** How `headers` resolves, made afresh. */
  private resolve(headers: HeaderList): HeaderShape {
    const names = headers.map((h) => h[0]);
    const keys = names.map((name) => this.key(name));
    const distinct = new Set(keys).size === keys.length;
    return { names, keys, distinct };
  }

  /**
   * Says `headers` to `sink`: one string-array attribute per name, values in wire order, at the
   * position of the name's first line.
   */
  emit(sink: AttributeSink, headers: HeaderList): void {
    const n = headers.length;
    if (n === 0) return;
    if (n > SCAN_GROUPING_MAX) {
      this.emitGrouped(sink, headers);
      return;
    }
    const { keys, distinct } = this.shape(headers);
    if (distinct) {
      // The common case: every name appears once.
      for (let i = 0; i < n; i++) {
        const k = keys[i]!;
        sink.list1(k.key, said(k, headers[i]![1]));
      }
      return;
    }
    // A name seen on an earlier line was already said with it.
    outer: for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      for (let j = 0; j < i; j++) if (keys[j] === k) continue outer;
      let more = i + 1;
      while (more < n && keys[more] !== k) more++;
      if (more === n) {
        sink.list1(k.key, said(k, headers[i]![1]));
        continue;
      }
      sink.beginList(k.key);
      sink.item(said(k, headers[i]![1]));
      for (let j = more; j < n; j++) if (keys[j] === k) sink.item(said(k, headers[j]![1]));
      sink.endList();
    }
  }

  /** Long lists: grouped through a Map, in order of each name's first line. */
  private emitGrouped(sink: AttributeSink, headers: HeaderList): void {
    const groups = new Map<HeaderKey, string[]>();
    for (const [name, v] of headers) {
      const k = this.key(name);
      const value = said(k, v);
      const g = groups.get(k);
      if (g) g.push(value);
      else groups.set(k, [value]);
    }
    for (const [k, values] of groups) {
      sink.beginList(k.key);
      for (const v of values) sink.item(v);
      sink.endList();
    }
  }
}
