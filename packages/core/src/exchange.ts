import type { ConnectionOpenEvent, Role } from './events.js';

/**
 * Header lines in wire order; names keep their case, repeated names stay separate. Read-only in
 * fact, not only in type: a line may be shared with a parser's state (an HTTP/2 line is its HPACK
 * table's entry), so writing to one would change later messages too. Copy to change.
 */
export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

/** What both requests and responses carry. */
export interface HttpMessage {
  /** `1.0`, `1.1` or `2`; another protocol's version, or empty when it has none. */
  readonly version: string;
  /**
   * The header fields, in wire order as {@link HeaderList} keeps them; for HTTP/2 the regular
   * fields only (pseudo-headers such as `:method` and `:status` are in their own fields).
   */
  readonly headers: HeaderList;
  /** Trailer fields after a chunked body (HTTP/1) or the trailing HEADERS frame (HTTP/2). */
  readonly trailers?: HeaderList;
  /** The body, decoded from chunked framing, kept up to the configured cap. */
  readonly body: Uint8Array;
  /** The body's full size in bytes, even when `body` was capped. */
  readonly bodySize: number;
  /** Kernel time (ns, CLOCK_MONOTONIC) of the syscall that carried the message's first byte. */
  readonly startNs: number;
  /** Kernel time of the syscall that carried its last byte. */
  readonly endNs: number;
}

/** An HTTP request. */
export interface HttpRequest extends HttpMessage {
  /**
   * The method as sent (`GET`, `POST`, …); `_OTHER` (OpenTelemetry's name for a method not known)
   * when an HTTP/2 request carried no `:method` or one that is not a valid token.
   */
  readonly method: string;
  /** The request target as sent: path and query (or an absolute URI, or `*`). */
  readonly target: string;
  /** HTTP/2's `:authority` (HTTP/1 has a Host header instead). */
  readonly authority?: string;
}

/** An HTTP response. */
export interface HttpResponse extends HttpMessage {
  /** The status code (`200`, `404`, …): from the status line (HTTP/1) or `:status` (HTTP/2). */
  readonly status: number;
}

/** The connection an exchange travelled on, from the captured process's side: its open event's
 * facts, with the role as the parser settled it (inferred for connections opened before capture). */
export interface ConnectionInfo
  extends Pick<
    ConnectionOpenEvent,
    'tgid' | 'fd' | 'family' | 'local' | 'remote' | 'tls' | 'comm'
  > {
  /** The connection id (`tgid:fd:generation`). */
  readonly id: string;
  /** `server` when the process accepted it (ingress), `client` when it connected (egress). */
  readonly role: Role;
}

/** gRPC details of an HTTP/2 exchange whose content-type is `application/grpc…`. */
export interface GrpcCall {
  /** From `:path` `/package.Service/Method`. */
  readonly service: string;
  /** The method name from `:path` (`Method` of `/package.Service/Method`); empty if it had none. */
  readonly method: string;
  /** `grpc-status` of the trailers (or of a trailers-only response); absent when none came. */
  readonly statusCode?: number;
  /** Length-prefixed messages seen from the client to the server. */
  readonly requestMessages: number;
  /** Length-prefixed messages seen from the server to the client. */
  readonly responseMessages: number;
  /**
   * Bytes of the request messages, compressed as sent: the sum of their length prefixes (a
   * message cut short counts the bytes that came).
   */
  readonly requestMessageBytes: number;
  /**
   * Bytes of the response messages, compressed as sent: the sum of their length prefixes (a
   * message cut short counts the bytes that came).
   */
  readonly responseMessageBytes: number;
  /** A message in either direction had the compressed flag set. */
  readonly compressed: boolean;
  /** The first messages of each direction ({@link GRPC_MESSAGES_KEPT} at most each), in order. */
  readonly messages: readonly GrpcMessage[];
}

/** Messages of each direction of a gRPC call kept one by one (the rest are only counted). */
export const GRPC_MESSAGES_KEPT = 32;

/** One length-prefixed gRPC message. */
export interface GrpcMessage {
  /** `request`: client to server. */
  readonly direction: 'request' | 'response';
  /** Its length prefix: bytes as sent (compressed when `compressed`). */
  readonly size: number;
  /** Its compressed flag was set: the payload is compressed (with the call's `grpc-encoding`). */
  readonly compressed: boolean;
  /** When the kernel saw its length prefix complete (monotonic ns). */
  readonly tsNs: number;
}

/**
 * The protocol an exchange was spoken in: `http1` or `http2` from the project's parsers, or the
 * name a stage of another protocol gives (lower case, as OpenTelemetry's
 * `network.protocol.name`: `redis`, `amqp`, …). Consumers treat a name they don't know as
 * not HTTP.
 */
export type ExchangeProtocol = 'http1' | 'http2' | (string & {});

/** A request paired with its response: what parsers emit and exporters turn into spans. */
export interface ApiExchange {
  /** The protocol it was spoken in: `http1`, `http2`, or another protocol's name. */
  readonly protocol: ExchangeProtocol;
  /** The connection it travelled on. */
  readonly connection: ConnectionInfo;
  /**
   * The request. Every exchange has one: a response without a request is dropped (counted as
   * `ResponsesWithoutRequest`).
   */
  readonly request: HttpRequest;
  /** Missing when no response came: see `unanswered`. */
  readonly response?: HttpResponse;
  /**
   * Why there is no response: the connection ended (`closed`), none came within the response
   * timeout (`timeout`; a late one is then dropped, counted), or more requests waited on the
   * connection than are kept (`overflow`); HTTP/2: the stream was reset (`reset`, RST_STREAM),
   * or the server's GOAWAY said it was not processed (`goaway`, safe to retry), or what came
   * back was not a valid response (`invalid`: no status in 100–599; counted as a response
   * parsing error).
   */
  readonly unanswered?: 'closed' | 'timeout' | 'overflow' | 'reset' | 'goaway' | 'invalid';
  /** HTTP/2: the stream ended with RST_STREAM (with or without a response). */
  readonly aborted?: boolean;
  /** gRPC calls: service, method, status and message counts. */
  readonly grpc?: GrpcCall;
  /** Something is known to be missing or guessed (joined mid-stream, bytes lost). */
  readonly partial: boolean;
  /**
   * What the captured process belongs to, as OpenTelemetry resource attributes (`k8s.pod.name`,
   * `container.id`, `service.name`, …), added by an enrichment stage. The same object for every
   * exchange of one process while its facts stay the same, so exporters can cache by identity.
   */
  readonly resource?: ResourceAttributes;
}

/** Resource attributes: names to string values (OpenTelemetry semantic conventions). */
export type ResourceAttributes = Readonly<Record<string, string>>;
