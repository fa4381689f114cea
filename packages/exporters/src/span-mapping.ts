/**
 * Maps an ApiExchange to an OpenTelemetry span, following the HTTP semantic conventions: kind
 * SERVER for ingress, CLIENT for egress, full body sizes even when captured bodies are capped,
 * captured headers with sensitive ones redacted, and the trace of a `traceparent` request header.
 */
import { randomFillSync } from 'node:crypto';
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
import {
  createMonotonicClock,
  type ApiExchange,
  type GrpcCall,
  type HeaderList,
  type MonotonicClock,
} from '@traceable-ebpf/core';

/** Headers redacted unless configured otherwise. */
export const DEFAULT_REDACTED_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
] as const;

/** What replaces a redacted header value. */
export const REDACTED = '[redacted]';

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

const SCOPE = { name: '@traceable-ebpf/exporters', version: '0.1.0' };
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Random ids from a pooled buffer: one randomFillSync per ~2700 spans instead of two per span
 * (measured: per-span randomBytes was 15% of the tracer's main thread under wrk load). */
const idPool = Buffer.alloc(64 * 1024);
let idPos = idPool.length;
function randomHex(bytes: number): string {
  if (idPos + bytes > idPool.length) {
    randomFillSync(idPool);
    idPos = 0;
  }
  const hex = idPool.toString('hex', idPos, idPos + bytes);
  idPos += bytes;
  return hex;
}

const NS_PER_S = 1_000_000_000;

/** gRPC codes that mark a server span as failed: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
 * INTERNAL, UNAVAILABLE, DATA_LOSS. */
const GRPC_SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15]);

// Shared by every span (spans are read, never changed, once ended): fewer objects per span.
const STATUS_UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const STATUS_ERROR: SpanStatus = Object.freeze({ code: SpanStatusCode.ERROR });
const NO_LINKS: ReadableSpan['links'] = Object.freeze([]) as unknown as ReadableSpan['links'];
const NO_EVENTS: ReadableSpan['events'] = Object.freeze([]) as unknown as ReadableSpan['events'];

/** [seconds, nanoseconds] of a non-negative nanosecond count below 2^53. */
function hrDuration(ns: number): HrTime {
  const s = Math.floor(ns / NS_PER_S);
  return [s, ns - s * NS_PER_S];
}

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
  /** Wall-clock [s, ns] of a monotonic kernel time. */
  const toEpoch = (monoNs: number): HrTime => {
    const [s, ns] = hrDuration(monoNs);
    const total = ns + offsetNs;
    return total >= NS_PER_S ? [offsetS + s + 1, total - NS_PER_S] : [offsetS + s, total];
  };
  const redact = new Set(
    (options.redactHeaders ?? DEFAULT_REDACTED_HEADERS).map((h) => h.toLowerCase()),
  );
  const captureHeaders = options.captureHeaders ?? true;
  const resources = new Map<number, Resource>();
  const host = hostname();

  const resourceOf = (pid: number, comm: string): Resource => {
    let r = resources.get(pid);
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
      if (resources.size >= 4096) resources.delete(resources.keys().next().value!);
      r = resourceFromAttributes({
        'service.name': options.serviceName ?? exe,
        'process.pid': pid,
        'process.executable.name': exe,
        'host.name': host,
        'telemetry.sdk.name': 'traceable-ebpf',
        'traceable.module.name': 'ebpf',
        ...options.resourceAttributes,
      });
      resources.set(pid, r);
    }
    return r;
  };

  // Attribute key, lower-case name and redaction per raw header name, one table per attribute
  // prefix, memoised (bounded): header names repeat endlessly, and lower-casing and
  // concatenating them per span was the mapper's top cost.
  interface HeaderKey {
    readonly key: string;
    readonly lower: string;
    readonly redacted: boolean;
  }
  const keyTable = (prefix: string) => {
    const byName = new Map<string, HeaderKey>();
    return (name: string): HeaderKey => {
      let k = byName.get(name);
      if (!k) {
        const lower = name.toLowerCase();
        k = { key: `${prefix}.${lower}`, lower, redacted: redact.has(lower) };
        if (byName.size >= 4096) byName.clear();
        byName.set(name, k);
      }
      return k;
    };
  };
  const requestKeys = keyTable('http.request.header');
  const responseKeys = keyTable('http.response.header');
  const requestTrailerKeys = keyTable('http.request.trailer');
  const responseTrailerKeys = keyTable('http.response.trailer');
  const addHeader = (attrs: Attributes, k: HeaderKey, v: string) => {
    const value = k.redacted ? REDACTED : v;
    const prev = attrs[k.key] as string[] | undefined;
    if (prev) prev.push(value);
    else attrs[k.key] = [value];
  };
  const addHeaders = (
    attrs: Attributes,
    keys: (name: string) => HeaderKey,
    headers: HeaderList,
  ) => {
    if (!captureHeaders) return;
    for (const [name, v] of headers) addHeader(attrs, keys(name), v);
  };

  return (ex) => {
    const { request: req, response: res, connection: conn } = ex;
    const kind =
      conn.role === 'server'
        ? SpanKind.SERVER
        : conn.role === 'client'
          ? SpanKind.CLIENT
          : SpanKind.INTERNAL;
    const q = req.target.indexOf('?');
    const path = q >= 0 ? req.target.slice(0, q) : req.target;
    const serverEnd = conn.role === 'client' ? conn.remote : conn.local;
    const clientEnd = conn.role === 'client' ? conn.local : conn.remote;
    // The request headers spans interpret (names lower-cased once, memoised).
    let hostHeader: string | undefined;
    let ua: string | undefined;
    let traceparent: string | undefined;
    for (const [name, v] of req.headers) {
      const lower = requestKeys(name).lower;
      if (lower === 'host') hostHeader ??= v;
      else if (lower === 'user-agent') ua ??= v;
      else if (lower === 'traceparent') traceparent ??= v;
    }
    const attrs: Attributes = {
      'http.request.method': req.method,
      'url.path': path,
      'url.scheme': conn.tls ? 'https' : 'http',
      'network.protocol.name': 'http',
      'network.protocol.version': ex.protocol === 'http2' ? '2' : req.version,
      'network.transport': 'tcp',
      'network.type': conn.family === 6 ? 'ipv6' : 'ipv4',
      'server.address': (hostHeader ?? req.authority)?.replace(/:\d+$/, '') || serverEnd.address,
      'server.port': serverEnd.port,
      'client.address': clientEnd.address,
      'client.port': clientEnd.port,
      'network.peer.address': conn.remote.address,
      'network.peer.port': conn.remote.port,
      'network.local.address': conn.local.address,
      'network.local.port': conn.local.port,
      'http.request.body.size': req.bodySize,
      'traceable.module.name': 'ebpf',
      'traceable.connection.id': conn.id,
    };
    if (q >= 0) attrs['url.query'] = req.target.slice(q + 1);
    if (ua !== undefined) attrs['user_agent.original'] = ua;
    addHeaders(attrs, requestKeys, req.headers);
    if (req.trailers) addHeaders(attrs, requestTrailerKeys, req.trailers);
    if (options.captureBodies && req.body.length > 0)
      attrs['http.request.body'] = Buffer.from(req.body).toString('utf8');

    let status: SpanStatus = STATUS_UNSET;
    if (res) {
      attrs['http.response.status_code'] = res.status;
      attrs['http.response.body.size'] = res.bodySize;
      addHeaders(attrs, responseKeys, res.headers);
      if (res.trailers) addHeaders(attrs, responseTrailerKeys, res.trailers);
      if (options.captureBodies && res.body.length > 0)
        attrs['http.response.body'] = Buffer.from(res.body).toString('utf8');
      if (res.status >= 500 || (kind === SpanKind.CLIENT && res.status >= 400)) {
        status = STATUS_ERROR;
        attrs['error.type'] = String(res.status);
      }
    } else {
      attrs['traceable.response.missing'] = true;
      if (ex.unanswered) attrs['traceable.response.missing_reason'] = ex.unanswered;
    }
    if (ex.partial) attrs['traceable.partial'] = true;
    if (ex.aborted) attrs['traceable.stream.reset'] = true;
    const grpc = ex.grpc;
    if (grpc) {
      attrs['rpc.system'] = 'grpc';
      attrs['rpc.service'] = grpc.service;
      attrs['rpc.method'] = grpc.method;
      attrs['traceable.grpc.request.messages'] = grpc.requestMessages;
      attrs['traceable.grpc.response.messages'] = grpc.responseMessages;
      attrs['traceable.grpc.request.message_bytes'] = grpc.requestMessageBytes;
      attrs['traceable.grpc.response.message_bytes'] = grpc.responseMessageBytes;
      if (grpc.compressed) attrs['traceable.grpc.compressed'] = true;
      if (grpc.statusCode !== undefined) {
        attrs['rpc.grpc.status_code'] = grpc.statusCode;
        // OTel's gRPC conventions: a client span fails on any non-OK status; a server span only
        // on the codes that mean the server failed.
        const failed =
          kind === SpanKind.SERVER
            ? GRPC_SERVER_ERRORS.has(grpc.statusCode)
            : grpc.statusCode !== 0;
        status = failed ? STATUS_ERROR : STATUS_UNSET;
        if (failed) attrs['error.type'] = String(grpc.statusCode);
        else delete attrs['error.type'];
      }
    }

    const parent = parseTraceparent(traceparent);
    const context: SpanContext = {
      traceId: parent?.traceId ?? randomHex(16),
      spanId: randomHex(8),
      traceFlags: parent?.traceFlags ?? TraceFlags.SAMPLED,
    };
    // Kernel times are monotonic ns as numbers (exact below 2^53 ns: 104 days of uptime, then
    // to within a few ns); the epoch offset is added in seconds and ns apart, without BigInt
    // arithmetic (six BigInt operations per span showed in profiles).
    const startMono = req.startNs;
    const endMono = Math.max(res?.endNs ?? req.endNs, startMono);
    return {
      // RPC spans are named $package.$service/$method (OTel RPC conventions).
      name: grpc ? `${grpc.service}/${grpc.method}` : req.method,
      kind,
      spanContext: () => context,
      parentSpanContext: parent,
      startTime: toEpoch(startMono),
      endTime: toEpoch(endMono),
      duration: hrDuration(endMono - startMono),
      status,
      attributes: attrs,
      links: NO_LINKS,
      events: grpc && grpc.messages.length > 0 ? messageEvents(grpc, kind, toEpoch) : NO_EVENTS,
      ended: true,
      resource: resourceOf(conn.tgid, conn.comm),
      instrumentationScope: SCOPE,
      droppedAttributesCount: 0,
      // Messages past the ones kept per direction: counted, not listed.
      droppedEventsCount: grpc
        ? grpc.requestMessages + grpc.responseMessages - grpc.messages.length
        : 0,
      droppedLinksCount: 0,
    };
  };
}

/** Maps one exchange to a span (a mapper made for this call; use {@link createSpanMapper} in loops). */
export function exchangeToSpan(ex: ApiExchange, options: SpanMappingOptions = {}): ReadableSpan {
  return createSpanMapper(options)(ex);
}
