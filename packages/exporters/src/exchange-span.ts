/**
 * The span the mapper makes of one ApiExchange: its fields set once, its attributes (HTTP,
 * connection, gRPC, captured headers and bodies) said to an attribute sink on demand, from the
 * exchange itself, with the attribute keys made once for all spans.
 */
import type { Attributes, HrTime, SpanContext, SpanKind, SpanStatus } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { ApiExchange, ConnectionInfo } from '@traceable-ebpf/core';
import type { HeaderKeyTable } from './header-attributes.js';
import {
  AttrKey,
  ObjectSink,
  type AttributeSink,
  type AttributeSource,
} from './span-attributes.js';

const SCOPE = { name: '@traceable-ebpf/exporters', version: '0.1.0' };
// Shared by every span (spans are read, never changed, once ended): fewer objects per span.
const NO_LINKS: ReadableSpan['links'] = Object.freeze([]) as unknown as ReadableSpan['links'];

/** Attribute keys every span may carry, made once. */
const K = {
  method: new AttrKey('http.request.method'),
  path: new AttrKey('url.path'),
  scheme: new AttrKey('url.scheme'),
  protoName: new AttrKey('network.protocol.name'),
  protoVersion: new AttrKey('network.protocol.version'),
  transport: new AttrKey('network.transport'),
  netType: new AttrKey('network.type'),
  serverAddress: new AttrKey('server.address'),
  serverPort: new AttrKey('server.port'),
  clientAddress: new AttrKey('client.address'),
  clientPort: new AttrKey('client.port'),
  peerAddress: new AttrKey('network.peer.address'),
  peerPort: new AttrKey('network.peer.port'),
  localAddress: new AttrKey('network.local.address'),
  localPort: new AttrKey('network.local.port'),
  requestBodySize: new AttrKey('http.request.body.size'),
  module: new AttrKey('traceable.module.name'),
  connectionId: new AttrKey('traceable.connection.id'),
  query: new AttrKey('url.query'),
  userAgent: new AttrKey('user_agent.original'),
  requestBody: new AttrKey('http.request.body'),
  status: new AttrKey('http.response.status_code'),
  responseBodySize: new AttrKey('http.response.body.size'),
  responseBody: new AttrKey('http.response.body'),
  missing: new AttrKey('traceable.response.missing'),
  missingReason: new AttrKey('traceable.response.missing_reason'),
  partial: new AttrKey('traceable.partial'),
  reset: new AttrKey('traceable.stream.reset'),
  rpcSystem: new AttrKey('rpc.system'),
  rpcService: new AttrKey('rpc.service'),
  rpcMethod: new AttrKey('rpc.method'),
  grpcRequestMessages: new AttrKey('traceable.grpc.request.messages'),
  grpcResponseMessages: new AttrKey('traceable.grpc.response.messages'),
  grpcRequestBytes: new AttrKey('traceable.grpc.request.message_bytes'),
  grpcResponseBytes: new AttrKey('traceable.grpc.response.message_bytes'),
  grpcCompressed: new AttrKey('traceable.grpc.compressed'),
  grpcStatus: new AttrKey('rpc.grpc.status_code'),
  errorType: new AttrKey('error.type'),
} as const;

/** What the mapper keeps for all its spans. */
export interface MapperState {
  /** Add captured headers and trailers as attributes. */
  readonly captureHeaders: boolean;
  /** Add captured (capped) bodies as attributes. */
  readonly captureBodies: boolean;
  /** Keys of `http.request.header.<name>`. */
  readonly requestKeys: HeaderKeyTable;
  /** Keys of `http.response.header.<name>`. */
  readonly responseKeys: HeaderKeyTable;
  /** Keys of `http.request.trailer.<name>`. */
  readonly requestTrailerKeys: HeaderKeyTable;
  /** Keys of `http.response.trailer.<name>`. */
  readonly responseTrailerKeys: HeaderKeyTable;
}

/** The attributes every HTTP exchange of a connection shares (a block, said once per connection). */
function emitHttpConnection(s: AttributeSink, conn: ConnectionInfo): void {
  s.str(K.scheme, conn.tls ? 'https' : 'http');
  s.str(K.protoName, 'http');
  emitConnection(s, conn);
}

/** The attributes of a connection whatever its protocol. */
function emitConnection(s: AttributeSink, conn: ConnectionInfo): void {
  const serverEnd = conn.role === 'client' ? conn.remote : conn.local;
  const clientEnd = conn.role === 'client' ? conn.local : conn.remote;
  s.str(K.transport, 'tcp');
  s.str(K.netType, conn.family === 6 ? 'ipv6' : 'ipv4');
  s.int(K.serverPort, serverEnd.port);
  s.str(K.clientAddress, clientEnd.address);
  s.int(K.clientPort, clientEnd.port);
  s.str(K.peerAddress, conn.remote.address);
  s.int(K.peerPort, conn.remote.port);
  s.str(K.localAddress, conn.local.address);
  s.int(K.localPort, conn.local.port);
  s.str(K.module, 'ebpf');
  s.str(K.connectionId, conn.id);
}

/**
 * A span of one exchange. Its attributes are said to a sink on demand ({@link emitAttributes}):
 * the project's OTLP exporter encodes them straight into its request; `attributes`, what any
 * other exporter reads, is built from the same calls the first time it is read.
 */
export class ExchangeSpan implements ReadableSpan, AttributeSource {
  readonly ended = true;
  readonly links = NO_LINKS;
  readonly droppedAttributesCount = 0;
  readonly droppedLinksCount = 0;
  readonly instrumentationScope = SCOPE;
  private attrs: Attributes | undefined;

  /** The span's fields as the mapper worked them out; `ex` and `m` are kept for the attributes. */
  constructor(
    private readonly ex: ApiExchange,
    private readonly m: MapperState,
    readonly name: string,
    readonly kind: SpanKind,
    private readonly context: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    /** Start, wall clock: whole seconds since the epoch and the nanoseconds past them. */
    readonly startSeconds: number,
    readonly startNanos: number,
    /** End, the same way. */
    readonly endSeconds: number,
    readonly endNanos: number,
    /** End minus start, in nanoseconds. */
    readonly durationNanos: number,
    readonly status: SpanStatus,
    readonly events: ReadableSpan['events'],
    readonly droppedEventsCount: number,
    readonly resource: Resource,
    /** `server.address`, from the Host header or :authority, else the server's address. */
    private readonly serverAddress: string,
    private readonly userAgent: string | undefined,
    private readonly errorType: string | undefined,
  ) {}

  /** Start as [seconds, nanoseconds] (made when read: the project's encoders read the numbers). */
  get startTime(): HrTime {
    return [this.startSeconds, this.startNanos];
  }

  /** End as [seconds, nanoseconds]. */
  get endTime(): HrTime {
    return [this.endSeconds, this.endNanos];
  }

  /** Duration as [seconds, nanoseconds]. */
  get duration(): HrTime {
    const s = Math.floor(this.durationNanos / 1e9);
    return [s, this.durationNanos - s * 1e9];
  }

  /** The span's own context (trace and span ids, flags). */
  spanContext(): SpanContext {
    return this.context;
  }

  /** True once {@link attributes} was read: from then on that object is what the span carries. */
  get attributesRead(): boolean {
    return this.attrs !== undefined;
  }

  /** The attributes as an object, built from {@link emitAttributes} the first time it is read. */
  get attributes(): Attributes {
    if (!this.attrs) {
      const sink = new ObjectSink();
      this.emitAttributes(sink);
      this.attrs = sink.attrs;
    }
    return this.attrs;
  }

  /** Says every attribute of the span to `sink`, in a fixed order. */
  emitAttributes(sink: AttributeSink): void {
    const { ex, m } = this;
    const { request: req, response: res, connection: conn } = ex;
    const q = req.target.indexOf('?');
    sink.str(K.method, req.method);
    sink.str(K.path, q >= 0 ? req.target.slice(0, q) : req.target);
    if (ex.protocol === 'http1' || ex.protocol === 'http2') {
      // What every exchange of the connection shares, as one block.
      sink.block(conn, emitHttpConnection);
      sink.str(K.protoVersion, ex.protocol === 'http2' ? '2' : req.version);
    } else {
      // Another stage's protocol: its own name, and no URL scheme. Not a block: a block is kept
      // by its connection, which may carry HTTP exchanges too (before an Upgrade, say).
      emitConnection(sink, conn);
      sink.str(K.protoName, ex.protocol);
      if (req.version) sink.str(K.protoVersion, req.version);
    }
    sink.str(K.serverAddress, this.serverAddress);
    sink.int(K.requestBodySize, req.bodySize);
    if (q >= 0) sink.str(K.query, req.target.slice(q + 1));
    if (this.userAgent !== undefined) sink.str(K.userAgent, this.userAgent);
    if (m.captureHeaders) {
      m.requestKeys.emit(sink, req.headers);
      if (req.trailers) m.requestTrailerKeys.emit(sink, req.trailers);
    }
    if (m.captureBodies && req.body.length > 0)
      sink.str(K.requestBody, Buffer.from(req.body).toString('utf8'));
    if (res) {
      sink.int(K.status, res.status);
      sink.int(K.responseBodySize, res.bodySize);
      if (m.captureHeaders) {
        m.responseKeys.emit(sink, res.headers);
        if (res.trailers) m.responseTrailerKeys.emit(sink, res.trailers);
      }
      if (m.captureBodies && res.body.length > 0)
        sink.str(K.responseBody, Buffer.from(res.body).toString('utf8'));
    } else {
      sink.bool(K.missing, true);
      if (ex.unanswered) sink.str(K.missingReason, ex.unanswered);
    }
    if (ex.partial) sink.bool(K.partial, true);
    if (ex.aborted) sink.bool(K.reset, true);
    const grpc = ex.grpc;
    if (grpc) {
      sink.str(K.rpcSystem, 'grpc');
      sink.str(K.rpcService, grpc.service);
      sink.str(K.rpcMethod, grpc.method);
      sink.int(K.grpcRequestMessages, grpc.requestMessages);
      sink.int(K.grpcResponseMessages, grpc.responseMessages);
      sink.int(K.grpcRequestBytes, grpc.requestMessageBytes);
      sink.int(K.grpcResponseBytes, grpc.responseMessageBytes);
      if (grpc.compressed) sink.bool(K.grpcCompressed, true);
      if (grpc.statusCode !== undefined) sink.int(K.grpcStatus, grpc.statusCode);
    }
    if (this.errorType !== undefined) sink.str(K.errorType, this.errorType);
  }
}
