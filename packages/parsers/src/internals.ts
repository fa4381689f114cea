/**
 * `@traceable-ebpf/parsers/internals`: the building blocks under the parser stage (HPACK, the
 * HTTP/2 frame parser and stream layer, the HTTP/1 message parser and pairing, llhttp), for the
 * fuzzer and for tools that drive one block alone. No stability promise: these change with the
 * parsers; embedders compose `parseHttp` and the protocols from the package's main entry.
 * @packageDocumentation
 */
export {
  HpackDecoder,
  UNKNOWN_ENTRY,
  type HpackDecoderOptions,
  type HpackResult,
} from './http2/hpack.js';
export { huffmanDecode } from './http2/hpack-huffman.js';
export {
  Http2FrameParser,
  type FrameFeedStatus,
  type Http2FrameParserOptions,
} from './http2/frames.js';
export {
  CLIENT_PREFACE,
  FrameType,
  FrameFlag,
  Setting,
  findFrameBoundary,
} from './http2/frame-layout.js';
export type { Http2Frame } from './http2/frame-payloads.js';
export { Http2Session, type Http2SessionOptions, type Http2Side } from './http2/session.js';
export {
  Http1MessageParser,
  type Http1Message,
  type Http1MessageParserOptions,
  type FeedStatus,
} from './http1/message-parser.js';
export { findMessageStart, looksLike } from './http1/start-line.js';
export { Http1Stitcher, type StitchResult } from './http1/stitcher.js';
export {
  LlhttpRuntime,
  LlhttpType,
  LlhttpErrno,
  type LlhttpHandler,
  type ExecuteResult,
} from './http1/llhttp.js';
