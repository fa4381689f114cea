/**
 * An OTLP/HTTP trace receiver for tests: decodes what the real exporter posts, protobuf (with
 * protobufjs and the OTLP trace messages written out below) or JSON, into flat span records.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';

const OTLP_TRACE_PROTO = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; fixed32 flags = 16;
  string name = 5; int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9; uint32 dropped_attributes_count = 10;
  repeated Event events = 11; uint32 dropped_events_count = 12; Status status = 15;
}
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; uint32 dropped_attributes_count = 4; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
`;

/** A received span, flattened. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 2 SERVER, 3 CLIENT. */
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Record<string, unknown>;
  readonly resource: Record<string, unknown>;
  readonly statusCode: number;
  readonly events: ReadonlyArray<{
    readonly name: string;
    readonly timeNs: bigint;
    readonly attributes: Record<string, unknown>;
  }>;
  readonly droppedEventsCount: number;
}

/** OTLP span kinds. */
export const SPAN_KIND = { SERVER: 2, CLIENT: 3 } as const;

const root = protobuf.parse(OTLP_TRACE_PROTO, { keepCase: true }).root;
const Request = root.lookupType('otlp.ExportTraceServiceRequest');

type AnyValue = Record<string, unknown>;
function value(v: AnyValue | undefined): unknown {
  if (!v) return undefined;
  const get = (snake: string, camel: string) => (v[snake] ?? v[camel]) as unknown;
  const s = get('string_value', 'stringValue');
  if (s !== undefined) return s;
  const b = get('bool_value', 'boolValue');
  if (b !== undefined) return b;
  const i = get('int_value', 'intValue');
  if (i !== undefined) return Number(i);
  const d = get('double_value', 'doubleValue');
  if (d !== undefined) return Number(d);
  const arr = get('array_value', 'arrayValue') as { values?: AnyValue[] } | undefined;
  if (arr !== undefined) return (arr.values ?? []).map(value);
  return undefined;
}
const attrs = (list: Array<{ key: string; value: AnyValue }> | undefined) =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));
const hex = (b: unknown) =>
  typeof b === 'string' ? b : Buffer.from((b as Uint8Array) ?? []).toString('hex');

/** Flattens a decoded request (protobuf objects with snake_case, or OTLP/JSON with camelCase). */
function flatten(req: Record<string, unknown>, encoding: 'protobuf' | 'json'): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  const k = (snake: string, camel: string) => (encoding === 'json' ? camel : snake);
  for (const rs of (req[k('resource_spans', 'resourceSpans')] as Array<Record<string, unknown>>) ??
    []) {
    const resource = attrs((rs.resource as { attributes?: [] } | undefined)?.attributes);
    for (const ss of (rs[k('scope_spans', 'scopeSpans')] as Array<Record<string, unknown>>) ?? []) {
      for (const s of (ss.spans as Array<Record<string, unknown>>) ?? []) {
        out.push({
          traceId: hex(s[k('trace_id', 'traceId')]),
          spanId: hex(s[k('span_id', 'spanId')]),
          parentSpanId: hex(s[k('parent_span_id', 'parentSpanId')]),
          name: s.name as string,
          kind: Number(s.kind),
          startNs: BigInt(String(s[k('start_time_unix_nano', 'startTimeUnixNano')])),
          endNs: BigInt(String(s[k('end_time_unix_nano', 'endTimeUnixNano')])),
          attributes: attrs(s.attributes as []),
          resource,
          statusCode: Number((s.status as { code?: number } | undefined)?.code ?? 0),
          events: ((s.events as Array<Record<string, unknown>> | undefined) ?? []).map((e) => ({
            name: e.name as string,
            timeNs: BigInt(String(e[k('time_unix_nano', 'timeUnixNano')])),
            attributes: attrs(e.attributes as []),
          })),
          droppedEventsCount: Number(s[k('dropped_events_count', 'droppedEventsCount')] ?? 0),
        });
      }
    }
  }
  return out;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base URL to put in OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  /** The port it listens on (give it to {@link startOtlpReceiver} to listen there again). */
  readonly port: number;
  /** The spans received (decoded by now, with `decode: 'when-read'`). */
  readonly spans: ReceivedSpan[];
  /** Content types of the requests received. */
  readonly contentTypes: string[];
  /** Status answered to each POST /v1/traces, in order of answering. */
  readonly statuses: number[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  /**
   * Stops listening. By default waits for the requests being answered; `{ dropConnections:
   * true }` destroys every open connection at once (a collector that dies).
   */
  close(options?: { dropConnections?: boolean }): Promise<void>;
}

/** One POST /v1/traces as {@link OtlpReceiverOptions.respond} sees it. */
export interface ReceivedRequest {
  /** 0 for the first POST /v1/traces this receiver got, then 1, 2, … */
  readonly index: number;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** How to answer one request; every field optional. */
export interface ReceiverBehaviour {
  /** Wait this long before decoding (or before answering `status`). */
  readonly delayMs?: number;
  /** Answer this status instead of decoding: the request's spans are not kept. */
  readonly status?: number;
  /** Headers of that answer (e.g. `{ 'retry-after': '1' }`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Body of that answer. */
  readonly body?: string | Buffer;
}

/** Options of {@link startOtlpReceiver}; none: a random port, every request decoded at once. */
export interface OtlpReceiverOptions {
  /** Port on 127.0.0.1 to listen on. Default: a random one. */
  readonly port?: number;
  /**
   * `immediately` (default): decode each request before answering (400 if it doesn't decode).
   * `when-read`: answer 200 at once and decode when `spans` is read (then throwing for a body
   * that doesn't decode) — a collector that never is the bottleneck under load.
   */
  readonly decode?: 'immediately' | 'when-read';
  /** Per-request behaviour; undefined (or `{}`): decode and answer 200 at once. */
  readonly respond?: (
    req: ReceivedRequest,
  ) => ReceiverBehaviour | undefined | Promise<ReceiverBehaviour | undefined>;
}

/** Starts a receiver on 127.0.0.1 (random port unless told) accepting POST /v1/traces. */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const statuses: number[] = [];
  let index = 0;
  let connections = 0;
  const pending: Array<{ type: string; body: Buffer }> = [];
  const decodeBody = (type: string, body: Buffer): ReceivedSpan[] =>
    type.includes('json')
      ? flatten(JSON.parse(body.toString()) as Record<string, unknown>, 'json')
      : flatten(
          Request.toObject(Request.decode(body), { longs: String, bytes: Buffer }) as Record<
            string,
            unknown
          >,
          'protobuf',
        );
  const answerOk = (type: string, res: ServerResponse) => {
    statuses.push(200);
    if (type.includes('json')) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  };
  const decode = (type: string, body: Buffer, res: ServerResponse) => {
    if (options.decode === 'when-read') {
      pending.push({ type, body });
      answerOk(type, res);
      return;
    }
    try {
      spans.push(...decodeBody(type, body));
    } catch (err) {
      statuses.push(400);
      res.writeHead(400).end(String(err));
      return;
    }
    answerOk(type, res);
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const type = String(req.headers['content-type'] ?? '');
      contentTypes.push(type);
      if (req.url !== '/v1/traces' || req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      if (!options.respond) {
        decode(type, body, res);
        return;
      }
      const request: ReceivedRequest = {
        index: index++,
        contentType: type,
        headers: req.headers,
        body,
      };
      void Promise.resolve(request)
        .then(options.respond)
        .then(
          async (b) => {
            if (b?.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
            if (res.destroyed) return; // the client gave up (or close dropped it)
            if (b?.status === undefined) {
              decode(type, body, res);
              return;
            }
            statuses.push(b.status);
            res.writeHead(b.status, { ...b.headers }).end(b.body);
          },
          (err: unknown) => {
            statuses.push(500);
            res.writeHead(500).end(`respond threw: ${String(err)}`);
          },
        );
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    get spans() {
      while (pending.length > 0) {
        const { type, body } = pending.shift()!;
        try {
          spans.push(...decodeBody(type, body));
        } catch (err) {
          throw new Error(
            `the receiver answered 200 to a request it cannot decode: ${String(err)}`,
          );
        }
      }
      return spans;
    },
    contentTypes,
    statuses,
    get connections() {
      return connections;
    },
    close: (opts = {}) =>
      new Promise((resolve) => {
        server.close(() => resolve());
        if (opts.dropConnections) server.closeAllConnections();
      }),
  };
}

/** `METHOD path?query status` of each span, sorted: the multiset of requests seen. */
export const requestsOf = (spans: readonly ReceivedSpan[]): string[] =>
  spans
    .map((s) => {
      const q = s.attributes['url.query'];
      return `${String(s.attributes['http.request.method'])} ${String(s.attributes['url.path'])}${q === undefined ? '' : `?${String(q)}`} ${String(s.attributes['http.response.status_code'])}`;
    })
    .sort();
