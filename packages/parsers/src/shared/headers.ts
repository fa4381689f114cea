/** Reading header fields the way HTTP defines them (names case-insensitive, token lists). */
import type { HeaderList } from '@traceable-ebpf/core';

/** The first value of a header, its name matched case-insensitively (`name` in lower case). */
export function firstHeader(headers: HeaderList, name: string): string | undefined {
  for (const [k, v] of headers) if (k.length === name.length && k.toLowerCase() === name) return v;
  return undefined;
}

/**
 * The tokens of every field named `name` (a comma-separated list, RFC 9110 §5.6.1), trimmed and
 * in lower case.
 */
export function listedTokens(headers: HeaderList | undefined, name: string): string[] {
  const out: string[] = [];
  for (const [k, v] of headers ?? [])
    if (k.length === name.length && k.toLowerCase() === name)
      for (const token of v.split(',')) {
        const t = token.trim().toLowerCase();
        if (t) out.push(t);
      }
  return out;
}

/** Does a field named `name` list `token` (both in lower case)? */
export function namesToken(headers: HeaderList | undefined, name: string, token: string): boolean {
  return listedTokens(headers, name).includes(token);
}

/** The first value of a field named exactly `name` (HTTP/2 sends names in lower case). */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  for (const [k, v] of headers) if (k === name) return v;
  return undefined;
}
