/**
 * Maps an ApiExchange to an OpenTelemetry span, following the HTTP semantic conventions: kind
 * SERVER for ingress, CLIENT for egress, full body sizes even when captured bodies are capped,
 * captured headers with sensitive ones redacted, and the trace of a `traceparent` request header.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type HrTime,
  type SpanContext,
  type SpanStatus,
} from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ExchangeSpan, type MapperState } from './exchange-span.js';
import { PooledSpanContext } from './span-ids.js';
import { HeaderKeyTable } from './header-attributes.js';
import {
  createMonotonicClock,
  type ApiExchange,
  type GrpcCall,
  type MonotonicClock,
  type ResourceAttributes,
} from '@traceable-ebpf/core';

/** Headers redacted unless configured otherwise. */
export const DEFAULT_REDACTED_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
] as const;

export { REDACTED } from './header-attributes.js';

/** Options of {@link exchangeToSpan} and {@link toSpans}. */
export interface SpanMappingOptions {
  /** `service.name` of the resource. Default: the process's executable name. */
  readonly serviceName?: string;
  /** Header names (any case) whose values are replaced by `[redacted]`. */
  readonly redactHeaders?: readonly string[];
  /**
   * Add captured headers as `http.{request,response}.header.<name>`, and trailers as
   * `http.{request,response}.trailer.<name>` (redacted alike). Default true.
   */
  readonly captureHeaders?: boolean;
  /** Add captured (capped) bodies as `http.{request,response}.body`. Default false. */
  readonly captureBodies?: boolean;
  /** Extra resource attributes (`k8s.*`, …). */
  readonly resourceAttributes?: Attributes;
  /** Converts kernel timestamps. Default: sampled when the mapping is created. */
  readonly clock?: MonotonicClock;
  /** Where `/proc` is (for the executable name). Default `/proc`. */
  readonly procFsPath?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

const NS_PER_S = 1_000_000_000;

/** gRPC codes that mark a server span as failed: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
 * INTERNAL, UNAVAILABLE, DATA_LOSS. */
const GRPC_SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15]);

// Shared by every span (spans are read, never changed, once ended): fewer objects per span.
const STATUS_UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const STATUS_ERROR: SpanStatus = Object.freeze({ code: SpanStatusCode.ERROR });
const NO_EVENTS: ReadableSpan['events'] = Object.freeze([]) as unknown as ReadableSpan['events'];

/**
 * One `rpc.message` event per kept gRPC message (OTel's RPC conventions): SENT or RECEIVED as
 * seen from the span's side, numbered from 1 in each direction, its size as sent (compressed or
 * not, as its flag says).
 */
function messageEvents(
  grpc: GrpcCall,
  kind: SpanKind,
  toEpoch: (ns: number) => HrTime,
): ReadableSpan['events'] {
  const ids = { request: 0, response: 0 };
  // A server receives requests and sends responses; a client the other way round.
  const sentByUs = kind === SpanKind.SERVER ? 'response' : 'request';
  return grpc.messages.map((m) => ({
    name: 'rpc.message',
    time: toEpoch(m.tsNs),
    attributes: {
      'rpc.message.type': m.direction === sentByUs ? 'SENT' : 'RECEIVED',
      'rpc.message.id': ++ids[m.direction],
      [m.compressed ? 'rpc.message.compressed_size' : 'rpc.message.uncompressed_size']: m.size,
    },
    droppedAttributesCount: 0,
  }));
}

/** The parent context a W3C `traceparent` header names, if valid. */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  const m = value ? TRACEPARENT.exec(value.trim().toLowerCase()) : null;
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & 1, isRemote: true };
}

/** Builds the span mapper: one resource per process, reused across its spans. */
export function createSpanMapper(
  options: SpanMappingOptions = {},
): (ex: ApiExchange) => ReadableSpan {
  const clock = options.clock ?? createMonotonicClock();
  const nsPart = ((clock.offsetNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n; // ≥ 0
  const offsetS = Number((clock.offsetNs - nsPart) / 1_000_000_000n);
  const offsetNs = Number(nsPart);
  /** Wall-clock seconds and nanoseconds of a monotonic kernel time (two numbers, no array). */
  const epochSeconds = (monoNs: number): number => {
    const s = Math.floor(monoNs / NS_PER_S);
    return monoNs - s * NS_PER_S + offsetNs >= NS_PER_S ? offsetS + s + 1 : offsetS + s;
  };
  const epochNanos = (monoNs: number): number => {
    const total = monoNs - Math.floor(monoNs / NS_PER_S) * NS_PER_S + offsetNs;
    return total >= NS_PER_S ? total - NS_PER_S : total;
  };
  /** Wall-clock [s, ns] of a monotonic kernel time. */
  const toEpoch = (monoNs: number): HrTime => [epochSeconds(monoNs), epochNanos(monoNs)];
  const redact = new Set(
    (options.redactHeaders ?? DEFAULT_REDACTED_HEADERS).map((h) => h.toLowerCase()),
  );
  // One resource per process, rebuilt when an enrichment stage hands a different attributes
  // object for it (a pid reused by another pod's process, say).
  const resources = new Map<number, { r: Resource; from: ResourceAttributes | undefined }>();
  const host = hostname();

  const resourceOf = (pid: number, comm: string, from?: ResourceAttributes): Resource => {
    const cached = resources.get(pid);
    let r = cached?.from === from ? cached?.r : undefined;
    if (!r) {
      // The kernel's name for the process when the connection was seen; /proc only as a fallback
      // (a short-lived client is gone by export time).
      let exe = comm || 'unknown';
      if (!comm) {
        try {
          exe = readFileSync(`${options.procFsPath ?? '/proc'}/${pid}/comm`, 'utf8').trim();
        } catch {
          // The process is gone; keep the pid.
        }
      }
      if (!cached && resources.size >= 4096) resources.delete(resources.keys().next().value!);
      // The configured service name wins over the enrichment's, which wins over the executable.
      r = resourceFromAttributes({
        'service.name': exe,
        'process.pid': pid,
        'process.executable.name': exe,
        'host.name': host,
        'telemetry.sdk.name': 'traceable-ebpf',
        'traceable.module.name': 'ebpf',
        ...from,
        ...options.resourceAttributes,
        ...(options.serviceName !== undefined ? { 'service.name': options.serviceName } : {}),
      });
      resources.set(pid, { r, from });
    }
    return r;
  };

  // Header attribute keys, one table per attribute prefix. Names differing only in case share
  // one key, so a span groups them by identity.
  const keyTable = (prefix: string) => new HeaderKeyTable(prefix, redact);
  const state: MapperState = {
    captureHeaders: options.captureHeaders ?? true,
    captureBodies: options.captureBodies ?? false,
    requestKeys: keyTable('http.request.header'),
    responseKeys: keyTable('http.response.header'),
    requestTrailerKeys: keyTable('http.request.trailer'),
    responseTrailerKeys: keyTable('http.response.trailer'),
  };

  // `server.address` from a Host header or :authority: the port taken off, memoised for the last
  // value (a connection sends the same one every time), which also hands the exporter the same
  // string again.
  let lastHost: string | undefined;
  let lastHostName = '';
  const hostOf = (host: string | undefined): string => {
    if (host === undefined) return '';
    if (host !== lastHost) {
      lastHost = host;
      lastHostName = host.replace(/:\d+$/, '');
    }
    return lastHostName;
  };

  return (ex) => {
    const { request: req, response: res, connection: conn } = ex;
    const kind =
      conn.role === 'server'
        ? SpanKind.SERVER
        : conn.role === 'client'
          ? SpanKind.CLIENT
          : SpanKind.INTERNAL;
    const serverEnd = conn.role === 'client' ? conn.remote : conn.local;
    // The request headers spans interpret (names lower-cased once, memoised).
    let hostHeader: string | undefined;
    let ua: string | undefined;
    let traceparent: string | undefined;
    const headers = req.headers;
    const keys = state.requestKeys.shape(headers).keys;
    for (let i = 0; i < headers.length; i++) {
      const v = headers[i]![1];
      const lower = keys[i]!.lower;
      if (lower === 'host') hostHeader ??= v;
      else if (lower === 'user-agent') ua ??= v;
      else if (lower === 'traceparent') traceparent ??= v;
    }
    let status: SpanStatus = STATUS_UNSET;
    let errorType: string | undefined;
    if (res && (res.status >= 500 || (kind === SpanKind.CLIENT && res.status >= 400))) {
      status = STATUS_ERROR;
      errorType = String(res.status);
    }
    const grpc = ex.grpc;
    if (grpc?.statusCode !== undefined) {
      // OTel's gRPC conventions: a client span fails on any non-OK status; a server span only
      // on the codes that mean the server failed.
      const failed =
        kind === SpanKind.SERVER ? GRPC_SERVER_ERRORS.has(grpc.statusCode) : grpc.statusCode !== 0;
      status = failed ? STATUS_ERROR : STATUS_UNSET;
      errorType = failed ? String(grpc.statusCode) : undefined;
    }
    const parent = parseTraceparent(traceparent);
    const context = new PooledSpanContext(
      parent?.traceFlags ?? TraceFlags.SAMPLED,
      parent?.traceId,
    );
    // Kernel times are monotonic ns as numbers (exact below 2^53 ns: 104 days of uptime, then
    // to within a few ns); the epoch offset is added in seconds and ns apart, without BigInt
    // arithmetic (six BigInt operations per span showed in profiles).
    const startMono = req.startNs;
    const endMono = Math.max(res?.endNs ?? req.endNs, startMono);
    return new ExchangeSpan(
      ex,
      state,
      // RPC spans are named $package.$service/$method (OTel RPC conventions).
      grpc ? `${grpc.service}/${grpc.method}` : req.method,
      kind,
      context,
      parent,
      epochSeconds(startMono),
      epochNanos(startMono),
      epochSeconds(endMono),
      epochNanos(endMono),
      endMono - startMono,
      status,
      grpc && grpc.messages.length > 0 ? messageEvents(grpc, kind, toEpoch) : NO_EVENTS,
      // Messages past the ones kept per direction: counted, not listed.
      grpc ? grpc.requestMessages + grpc.responseMessages - grpc.messages.length : 0,
      resourceOf(conn.tgid, conn.comm, ex.resource),
      hostOf(hostHeader ?? req.authority) || serverEnd.address,
      ua,
      errorType,
    );
  };
}

/** Maps one exchange to a span (a mapper made for this call; use {@link createSpanMapper} in loops). */
export function exchangeToSpan(ex: ApiExchange, options: SpanMappingOptions = {}): ReadableSpan {
  return createSpanMapper(options)(ex);
}
