/** Checks on HTTP/2 pseudo-header values: a method is a token, a status three digits. */

/** An HTTP token (RFC 9110 §5.6.2): what a method must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Is `text` an HTTP token (RFC 9110 §5.6.2)? */
export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/** The method of a request whose own is not known (OpenTelemetry's HTTP conventions). */
export const OTHER_METHOD = '_OTHER';

/**
 * A status code as RFC 9110 §15 defines it: three digits, 100–599. Anything else (`abc`, `-5`,
 * `0x1F`, `1e3`, `99999`, missing) is undefined.
 */
export function parseStatus(text: string | undefined): number | undefined {
  if (text === undefined || text.length !== 3) return undefined;
  const a = text.charCodeAt(0) - 48;
  const b = text.charCodeAt(1) - 48;
  const c = text.charCodeAt(2) - 48;
  if (a < 1 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return undefined;
  return a * 100 + b * 10 + c;
}
