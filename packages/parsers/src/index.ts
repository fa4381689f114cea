/**
 * @traceable-ebpf/parsers: the parser stage that turns reassembled connection streams into API
 * exchanges, and the protocol seam it detects and follows protocols through (HTTP/1.x and
 * HTTP/2 with gRPC built in).
 * @packageDocumentation
 */
export {
  parseHttp,
  parseHttp1,
  type ParseHttpOptions,
  type ParseHttp1Options,
} from './parse-http.js';
export type {
  Protocol,
  ConnectionParser,
  ParserContext,
  ParserStart,
  ParserOutcome,
  ProtocolUpgrade,
  DetectInput,
  Detection,
} from './protocol.js';
export type { BodyBudget } from './shared/body-budget.js';
export { http1Protocol } from './http1/protocol.js';
export { http2Protocol } from './http2/protocol.js';
