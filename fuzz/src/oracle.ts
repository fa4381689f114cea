/**
 * The oracle for unmutated inputs: the generator knows the exchanges it made, so what comes out
 * of the stage must match them field by field, and no loss counter may move.
 */
import type { ApiExchange, Stats } from '@traceable-ebpf/core';
import type { Expected, ExpectedExchange } from './expected.js';
import type { StageCaps } from './invariants.js';
import { LOSS_COUNTERS, hasPlaceholder } from './invariants.js';

const hexPrefix = (hex: string, bytes: number) => hex.slice(0, 2 * bytes);

/** The facts the oracle compares, from a stage exchange. */
function actualFacts(ex: ApiExchange, caps: StageCaps): Record<string, unknown> {
  const r = ex.response;
  return {
    method: ex.request.method,
    target: ex.request.target,
    ...(ex.protocol === 'http2' ? { authority: ex.request.authority } : {}),
    version: ex.request.version,
    requestHeaders: ex.request.headers.length,
    requestTrailers: ex.request.trailers?.length ?? 0,
    requestBodySize: ex.request.bodySize,
    requestBody: hexPrefix(Buffer.from(ex.request.body).toString('hex'), caps.maxBodyBytes),
    status: r?.status,
    responseHeaders: r?.headers.length,
    responseTrailers: r ? (r.trailers?.length ?? 0) : undefined,
    responseBodySize: r?.bodySize,
    responseBody: r ? hexPrefix(Buffer.from(r.body).toString('hex'), caps.maxBodyBytes) : undefined,
    unanswered: ex.unanswered,
    aborted: ex.aborted ?? false,
    partial: ex.partial,
    grpc: ex.grpc
      ? {
          service: ex.grpc.service,
          method: ex.grpc.method,
          statusCode: ex.grpc.statusCode,
          requestMessages: ex.grpc.requestMessages,
          responseMessages: ex.grpc.responseMessages,
          requestMessageBytes: ex.grpc.requestMessageBytes,
          responseMessageBytes: ex.grpc.responseMessageBytes,
          compressed: ex.grpc.compressed,
        }
      : undefined,
  };
}

/** The same facts, from the generator's expectation. */
function expectedFacts(
  e: ExpectedExchange,
  caps: StageCaps,
  http2: boolean,
): Record<string, unknown> {
  return {
    method: e.method,
    target: e.target,
    ...(http2 ? { authority: e.authority } : {}),
    version: e.version,
    requestHeaders: e.requestHeaders,
    requestTrailers: e.requestTrailers,
    requestBodySize: e.requestBody.length / 2,
    requestBody: hexPrefix(e.requestBody, caps.maxBodyBytes),
    status: e.status,
    responseHeaders: e.responseHeaders,
    responseTrailers: e.responseTrailers,
    responseBodySize: e.responseBody === undefined ? undefined : e.responseBody.length / 2,
    responseBody:
      e.responseBody === undefined ? undefined : hexPrefix(e.responseBody, caps.maxBodyBytes),
    unanswered: e.unanswered,
    aborted: e.aborted ?? false,
    partial: false,
    grpc: e.grpc,
  };
}

/** Differences between `a` and `b` (shallow, nested objects compared as JSON). */
function diff(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = JSON.stringify(a[k]);
    const y = JSON.stringify(b[k]);
    if (x !== y) out.push(`${k}: got ${clip(x)}, expected ${clip(y)}`);
  }
  return out;
}

const clip = (s: string | undefined) => (s && s.length > 80 ? `${s.slice(0, 77)}...` : String(s));

/** Mismatches between what the stage emitted and what was generated; empty when they agree. */
export function compareExchanges(
  exchanges: readonly ApiExchange[],
  stats: Stats,
  expected: Expected,
  caps: StageCaps,
  http2: boolean,
): string[] {
  const out: string[] = [];
  if (exchanges.length !== expected.exchanges.length)
    out.push(`exchange count: got ${exchanges.length}, expected ${expected.exchanges.length}`);
  const got = exchanges.map((e) => actualFacts(e, caps));
  const want = expected.exchanges.map((e) => expectedFacts(e, caps, http2));
  if (!expected.ordered) {
    const byTarget = (x: Record<string, unknown>, y: Record<string, unknown>) =>
      String(x.target) < String(y.target) ? -1 : String(x.target) > String(y.target) ? 1 : 0;
    got.sort(byTarget);
    want.sort(byTarget);
  }
  for (let i = 0; i < Math.min(got.length, want.length); i++)
    for (const d of diff(got[i]!, want[i]!))
      out.push(`exchange ${i} (${String(want[i]!.target)}) ${d}`);
  for (const c of LOSS_COUNTERS) {
    const v = stats.get(c);
    const allowed = c === 'RequestsWithoutResponse' ? expected.unansweredByDesign : 0;
    if (v !== allowed) out.push(`counter ${c}: ${v}, expected ${allowed}`);
  }
  return out;
}

/**
 * Mismatches on an input that only lost bytes: an exchange with a response and not flagged
 * partial must be exactly a generated one (same target, every fact equal).
 */
export function compareLossy(
  exchanges: readonly ApiExchange[],
  expected: Expected,
  caps: StageCaps,
  http2: boolean,
): string[] {
  const out: string[] = [];
  exchanges.forEach((ex, i) => {
    // (A placeholder in it is an invariant's to report: placeholder-not-partial.)
    if (ex.partial || !ex.response || hasPlaceholder(ex)) return;
    // Body bytes are not compared: bytes lost inside a body of known length keep the message
    // with its exact size, the missing bytes stood in for (HTTP/1 does not flag that partial).
    const { requestBody: _a, responseBody: _b, ...got } = actualFacts(ex, caps);
    const candidates = expected.exchanges
      .filter((e) => e.target === ex.request.target)
      .map((e) => {
        const { requestBody: _a, responseBody: _b, ...facts } = expectedFacts(e, caps, http2);
        return facts;
      });
    if (candidates.length === 0) {
      out.push(`exchange ${i} (${ex.request.target}) was never generated, yet is not partial`);
      return;
    }
    if (candidates.some((c) => diff(got, c).length === 0)) return;
    for (const d of diff(got, candidates[0]!))
      out.push(`exchange ${i} (${ex.request.target}) not partial, yet ${d}`);
  });
  return out;
}
