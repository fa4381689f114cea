/**
 * @traceable-ebpf/core: the types every stage speaks, stream reassembly, stats and errors.
 * @packageDocumentation
 */
export type {
  Role,
  CaptureMode,
  Direction,
  Endpoint,
  EventBase,
  ConnectionOpenEvent,
  SocketDataEvent,
  ConnectionCloseEvent,
  KernelEvent,
} from './events.js';
export { connectionId } from './events.js';
export type {
  GapReason,
  StreamDataEvent,
  StreamGapEvent,
  StreamCloseEvent,
  ConnectionEvent,
} from './connection-events.js';
export type {
  HeaderList,
  HttpMessage,
  HttpRequest,
  HttpResponse,
  ConnectionInfo,
  ApiExchange,
  ExchangeProtocol,
  GrpcCall,
  GrpcMessage,
  ResourceAttributes,
} from './exchange.js';
export { GRPC_MESSAGES_KEPT } from './exchange.js';
export { ErrorCode, TracerError, isTracerError, type ErrorCodeValue } from './errors.js';
export {
  COUNTERS,
  Stats,
  stats$,
  type CounterName,
  type CounterKind,
  type CounterSpec,
  type CounterInfo,
  type Counter,
  type CounterValues,
  type StatsSnapshot,
} from './stats.js';
export { reassemble, type ReassembleOptions } from './reassemble.js';
export { FlowControl } from './flow-control.js';
export {
  createMonotonicClock,
  clockFromOffset,
  sampleEpochOffsetNs,
  type MonotonicClock,
} from './clock.js';
export {
  watchOwnSockets,
  type OwnSockets,
  type OwnEndpoints,
  type OwnSocketsOptions,
} from './own-sockets.js';
export { skipOwnConnections, type SkipOwnConnectionsOptions } from './skip-own-connections.js';
