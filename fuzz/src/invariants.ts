/**
 * What every exchange out of the parsing stage always holds, whatever bytes went in (the
 * parsers README, "What the stage's output always holds"), and the counters that must move when
 * exchanges are lost.
 */
import type { ApiExchange, CounterName, HeaderList, Stats } from '@traceable-ebpf/core';

/** An HTTP token (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a header field costs against the cap besides its name and value. */
const FIELD_OVERHEAD = 32;
const UNANSWERED = new Set(['closed', 'timeout', 'overflow', 'reset', 'goaway', 'invalid']);

/** The stage's caps the fuzz targets configure. */
export interface StageCaps {
  readonly maxBodyBytes: number;
  readonly maxHeaderBytes: number;
}

/** Counters that say an exchange or bytes were given up (any one moving is an account of loss). */
export const LOSS_COUNTERS: readonly CounterName[] = [
  'ReqParsingErrors',
  'ResParsingErrors',
  'TotalEventsDroppedAtParsing',
  'RequestsWithoutResponse',
  'ResponsesWithoutRequest',
  'ResponsesAfterTimeout',
  'Http2ConnectionsAbandoned',
  'Http2StreamsEvicted',
  'Http2GapsResynced',
  'GapsAbsorbedInBodies',
  'HeadersTruncated',
  'MidStreamConnectionsUnsynced',
  'BodiesNotKeptAtMemoryLimit',
  // Bytes lost before the parser (a gap): the loss is on record, whatever the parser makes of it.
  'ReassemblyGaps',
];

const cost = (list: HeaderList | undefined) =>
  (list ?? []).reduce((n, [k, v]) => n + k.length + v.length + FIELD_OVERHEAD, 0);

/** Rules one exchange breaks (named `rule: detail`); empty when it holds them all. */
export function exchangeViolations(ex: ApiExchange, caps: StageCaps): string[] {
  const out: string[] = [];
  const bad = (rule: string, detail: string) => out.push(`${rule}: ${detail}`);
  const { request, response } = ex;
  if (typeof request.method !== 'string' || !TOKEN.test(request.method))
    bad('method-token', JSON.stringify(request.method));
  if (response) {
    if (!Number.isInteger(response.status) || response.status < 100 || response.status > 599)
      bad('status-range', String(response.status));
  } else if (ex.unanswered === undefined || !UNANSWERED.has(ex.unanswered))
    bad('unanswered-reason', String(ex.unanswered));
  if (request.target.length > caps.maxHeaderBytes)
    bad('target-cap', `${request.target.length} > ${caps.maxHeaderBytes}`);
  for (const [side, msg] of [
    ['request', request],
    ['response', response],
  ] as const) {
    if (!msg) continue;
    if (!Number.isInteger(msg.bodySize) || msg.bodySize < 0)
      bad('size-non-negative', `${side} bodySize ${msg.bodySize}`);
    if (msg.body.length > msg.bodySize)
      bad('body-within-size', `${side} body ${msg.body.length} > bodySize ${msg.bodySize}`);
    if (msg.body.length > caps.maxBodyBytes)
      bad('body-cap', `${side} body ${msg.body.length} > ${caps.maxBodyBytes}`);
    if (cost(msg.headers) > caps.maxHeaderBytes)
      bad('header-cap', `${side} headers cost ${cost(msg.headers)} > ${caps.maxHeaderBytes}`);
    if (cost(msg.trailers) > caps.maxHeaderBytes)
      bad('header-cap', `${side} trailers cost ${cost(msg.trailers)} > ${caps.maxHeaderBytes}`);
    if (!(msg.endNs >= msg.startNs))
      bad('end-after-start', `${side} endNs ${msg.endNs} < startNs ${msg.startNs}`);
  }
  // A placeholder for an HPACK entry never seen may only appear in an exchange flagged partial.
  if (!ex.partial && hasPlaceholder(ex))
    bad('placeholder-not-partial', 'an HPACK placeholder in an exchange not flagged partial');
  const g = ex.grpc;
  if (g) {
    for (const [k, v] of Object.entries({
      requestMessages: g.requestMessages,
      responseMessages: g.responseMessages,
      requestMessageBytes: g.requestMessageBytes,
      responseMessageBytes: g.responseMessageBytes,
    }))
      if (!Number.isInteger(v) || v < 0) bad('size-non-negative', `grpc ${k} ${v}`);
    if (g.requestMessageBytes > request.bodySize)
      bad(
        'grpc-bytes-within-body',
        `request messages ${g.requestMessageBytes} bytes > body ${request.bodySize}`,
      );
    if (response && g.responseMessageBytes > response.bodySize)
      bad(
        'grpc-bytes-within-body',
        `response messages ${g.responseMessageBytes} bytes > body ${response.bodySize}`,
      );
    if (g.messages.length > 64) bad('grpc-messages-kept', `${g.messages.length} kept`);
  }
  return out;
}

/** What the HPACK decoder puts for an entry it never saw (`UNKNOWN_ENTRY`). */
const PLACEHOLDER = '<unknown hpack index ';

/** Does a placeholder stand anywhere in the exchange's request or response fields? */
export function hasPlaceholder(ex: ApiExchange): boolean {
  const inList = (l: HeaderList | undefined) =>
    (l ?? []).some(([k, v]) => k.includes(PLACEHOLDER) || v.includes(PLACEHOLDER));
  const r = ex.request;
  return (
    r.method.includes(PLACEHOLDER) ||
    r.target.includes(PLACEHOLDER) ||
    (r.authority ?? '').includes(PLACEHOLDER) ||
    inList(r.headers) ||
    inList(r.trailers) ||
    inList(ex.response?.headers) ||
    inList(ex.response?.trailers)
  );
}

/** The sum of the loss counters. */
export function lossCount(stats: Stats): number {
  return LOSS_COUNTERS.reduce((n, c) => n + stats.get(c), 0);
}

/** Loss counters that moved, as `name=value`. */
export function movedCounters(stats: Stats): string[] {
  return LOSS_COUNTERS.filter((c) => stats.get(c) > 0).map((c) => `${c}=${stats.get(c)}`);
}
