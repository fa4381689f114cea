/**
 * @traceable-ebpf/parsers: protocol parsers that turn connection streams into API exchanges.
 * @packageDocumentation
 */
export { parseHttp1, type ParseHttp1Options } from './parse-http1.js';
export { findMessageStart, looksLike } from './http1/start-line.js';
export {
  Http1MessageParser,
  type Http1Message,
  type Http1MessageParserOptions,
  type FeedStatus,
} from './http1/message-parser.js';
export { Http1Stitcher, type StitchResult } from './http1/stitcher.js';
export {
  LlhttpRuntime,
  LlhttpType,
  LlhttpErrno,
  type LlhttpHandler,
  type ExecuteResult,
} from './http1/llhttp.js';
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
export { CLIENT_PREFACE, FrameType, FrameFlag, Setting } from './http2/frame-layout.js';
export type { Http2Frame } from './http2/frame-payloads.js';
export { Http2Session, type Http2SessionOptions, type Http2Side } from './http2/session.js';
