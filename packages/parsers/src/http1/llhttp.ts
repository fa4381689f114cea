/**
 * A binding to llhttp's WebAssembly build as shipped (and tested) by undici, pinned exactly in
 * package.json. One instance hosts many parsers; its callbacks are routed by parser pointer.
 */
import { createRequire } from 'node:module';
import type { LatinBuffer } from '../shared/latin1.js';

/** llhttp parser types. */
export const LlhttpType = { REQUEST: 1, RESPONSE: 2 } as const;

/** llhttp error numbers this project acts on (llhttp's `llhttp_errno_t`). */
export const LlhttpErrno = {
  OK: 0,
  PAUSED: 21,
  PAUSED_UPGRADE: 22,
  PAUSED_H2_UPGRADE: 23,
} as const;

/**
 * Callbacks of one parser. Byte ranges are copied out of wasm memory before the call, except a
 * field name's: it is handed on as its place in wasm memory, valid during the call, for the
 * handler to compare ({@link LlhttpRuntime.equals}) or decode ({@link LlhttpRuntime.text}).
 */
export interface LlhttpHandler {
  onMessageBegin(): void;
  onUrl(text: string): void;
  /** The reason phrase (not decoded: nothing keeps it). */
  onStatus(): void;
  /** (Part of) a field name: `len` bytes at `at` in wasm memory. */
  onHeaderField(at: number, len: number): void;
  onHeaderValue(text: string): void;
  /** Return 1 to tell llhttp the message has no body (a response to HEAD), else 0. */
  onHeadersComplete(statusCode: number, upgrade: boolean, keepAlive: boolean): number;
  onBody(bytes: Uint8Array): void;
  onMessageComplete(): void;
}

interface Exports {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  free(p: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_finish(p: number): number;
  llhttp_reset(p: number): void;
  llhttp_resume_after_upgrade(p: number): void;
  llhttp_get_method(p: number): number;
  llhttp_get_http_major(p: number): number;
  llhttp_get_http_minor(p: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_get_error_pos(p: number): number;
  llhttp_method_name(m: number): number;
}

let module: WebAssembly.Module | undefined;

function wasmModule(): WebAssembly.Module {
  if (!module) {
    const require = createRequire(import.meta.url);
    const undiciDir = require.resolve('undici').replace(/index\.js$/, '');
    let bytes: Buffer;
    try {
      bytes = require(`${undiciDir}lib/llhttp/llhttp_simd-wasm.js`) as Buffer;
      module = new WebAssembly.Module(bytes);
    } catch {
      bytes = require(`${undiciDir}lib/llhttp/llhttp-wasm.js`) as Buffer;
      module = new WebAssembly.Module(bytes);
    }
  }
  return module;
}

/** Exchanges {@link warmLlhttp} parses: enough for V8 to tier llhttp's code up to TurboFan. */
const WARM_EXCHANGES = 1000;
let warmed = false;

/**
 * Runs llhttp over canned exchanges once per process, on a throwaway instance (compiled code is
 * the module's, shared by every instance): V8 compiles the state machine with TurboFan now, on a
 * background thread, instead of under the first traffic. That compile takes ~30 MiB of memory
 * for a moment; at start-up it is freed before load comes (see `releaseFreedMemory` of
 * bpf-source) instead of adding to the peak of the first second of load. ~20 ms.
 */
export function warmLlhttp(): void {
  if (warmed) return;
  warmed = true;
  const runtime = new LlhttpRuntime();
  const quiet: LlhttpHandler = {
    onMessageBegin() {},
    onUrl() {},
    onStatus() {},
    onHeaderField() {},
    onHeaderValue() {},
    onHeadersComplete: () => 0,
    onBody() {},
    onMessageComplete() {},
  };
  const req = runtime.create(LlhttpType.REQUEST, quiet);
  const res = runtime.create(LlhttpType.RESPONSE, quiet);
  const request = Buffer.from('GET /warm?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n');
  const response = Buffer.from(
    'HTTP/1.1 200 OK\r\nServer: warm\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n' +
      'Connection: keep-alive\r\n\r\nok',
  );
  for (let i = 0; i < WARM_EXCHANGES; i++) {
    runtime.execute(req, request);
    runtime.execute(res, response);
  }
  runtime.destroy(req);
  runtime.destroy(res);
}

/** The result of feeding bytes to a parser. */
export interface ExecuteResult {
  /** An llhttp errno: OK, PAUSED_UPGRADE, or an error. */
  readonly errno: number;
  /** For errors and upgrades: bytes of the input consumed before it stopped (OK: not set). */
  readonly consumed: number;
  /** llhttp's reason text for an error. */
  readonly reason: string;
}

/** Inputs up to this size are decoded to one string for their header callbacks. */
const SHARED_TEXT_MAX = 4096;

/** Every successful execute returns this one object (no allocation per call). */
const EXECUTED: ExecuteResult = { errno: LlhttpErrno.OK, consumed: -1, reason: '' };

/** One llhttp WebAssembly instance: allocates parsers and runs them. */
export class LlhttpRuntime {
  private readonly x: Exports;
  private readonly handlers = new Map<number, LlhttpHandler>();
  private buf = 0;
  private bufSize = 0;
  private memBuffer: LatinBuffer | undefined;
  /** Method names by llhttp method number (the same few, every message). */
  private readonly methods = new Map<number, string>();

  constructor() {
    // Callbacks only run inside execute() and finish(), which set `current` first: no lookup
    // and no closure per callback (they run for every header line).
    const instance = new WebAssembly.Instance(wasmModule(), {
      env: {
        wasm_on_message_begin: () => (this.current?.onMessageBegin(), 0),
        wasm_on_url: (_p: number, at: number, len: number) => (
          this.current?.onUrl(this.text(at, len)),
          0
        ),
        wasm_on_status: () => (this.current?.onStatus(), 0),
        wasm_on_header_field: (_p: number, at: number, len: number) => (
          this.current?.onHeaderField(at, len),
          0
        ),
        wasm_on_header_value: (_p: number, at: number, len: number) => (
          this.current?.onHeaderValue(this.text(at, len)),
          0
        ),
        wasm_on_headers_complete: (
          _p: number,
          status: number,
          upgrade: number,
          keepAlive: number,
        ) => this.current?.onHeadersComplete(status, upgrade === 1, keepAlive === 1) ?? 0,
        wasm_on_body: (_p: number, at: number, len: number) => (
          this.current?.onBody(this.memory().subarray(at, at + len)),
          0
        ),
        wasm_on_message_complete: () => (this.current?.onMessageComplete(), 0),
      },
    });
    this.x = instance.exports as unknown as Exports;
  }

  /** The handler of the parser being run (callbacks come only from inside llhttp calls). */
  private current: LlhttpHandler | undefined;
  /** The input being executed, in wasm memory, and (once a callback needed text) as a string. */
  private chunkStart = 0;
  private chunkEnd = 0;
  private chunkText: string | undefined;

  /**
   * Text of `len` bytes at `at` in wasm memory. Inside a small input, one string for the whole
   * input and substrings of it: a native latin1 decode per header line cost ~2 µs per message in
   * profiles; substrings are cheap. Larger inputs (bodies) decode per callback, so a kept header
   * never holds a large input string alive.
   */
  text(at: number, len: number): string {
    if (at >= this.chunkStart && at + len <= this.chunkEnd) {
      this.chunkText ??= this.memory().latin1Slice(this.chunkStart, this.chunkEnd);
      return this.chunkText.substring(at - this.chunkStart, at - this.chunkStart + len);
    }
    return this.memory().latin1Slice(at, at + len);
  }

  /**
   * True when the `len` bytes at `at` in wasm memory are the characters of `s` (a latin1
   * string): a header name recognised without making a string of it.
   */
  equals(at: number, len: number, s: string): boolean {
    if (s.length !== len) return false;
    const mem = this.memory();
    for (let i = 0; i < len; i++) if (mem[at + i] !== s.charCodeAt(i)) return false;
    return true;
  }

  /**
   * A Buffer over the wasm memory, made again only when the memory grew: growing detaches the
   * old ArrayBuffer, which leaves the view empty (callbacks run often; reading `memory.buffer`
   * each time showed in profiles).
   */
  private memory(): LatinBuffer {
    if (!this.memBuffer || this.memBuffer.length === 0)
      this.memBuffer = Buffer.from(this.x.memory.buffer) as LatinBuffer;
    return this.memBuffer;
  }

  /** Allocates a parser of `type` whose callbacks go to `handler`; returns its pointer. */
  create(type: number, handler: LlhttpHandler): number {
    const p = this.x.llhttp_alloc(type);
    this.handlers.set(p, handler);
    return p;
  }

  /** Frees a parser. */
  destroy(p: number): void {
    if (this.handlers.delete(p)) this.x.llhttp_free(p);
  }

  /** Returns the parser to its initial state (after an error, or to resynchronise). */
  reset(p: number): void {
    this.x.llhttp_reset(p);
  }

  /** Lets a parser paused at an upgrade go on with the next message (the upgrade was refused). */
  resumeAfterUpgrade(p: number): void {
    this.x.llhttp_resume_after_upgrade(p);
  }

  /** Feeds bytes to a parser. */
  execute(p: number, data: Uint8Array): ExecuteResult {
    if (data.length > this.bufSize) {
      if (this.buf) this.x.free(this.buf);
      this.bufSize = Math.max(data.length, 64 * 1024);
      this.buf = this.x.malloc(this.bufSize);
    }
    this.memory().set(data, this.buf);
    // Callbacks must not run a parser of this runtime: the input buffer is shared.
    const outer = this.current;
    this.current = this.handlers.get(p);
    this.chunkStart = this.buf;
    this.chunkEnd = data.length <= SHARED_TEXT_MAX ? this.buf + data.length : this.buf;
    this.chunkText = undefined;
    const errno = this.x.llhttp_execute(p, this.buf, data.length);
    this.current = outer;
    this.chunkText = undefined;
    this.chunkEnd = this.chunkStart;
    if (errno === LlhttpErrno.OK) return EXECUTED;
    return {
      errno,
      consumed: this.x.llhttp_get_error_pos(p) - this.buf,
      reason: this.cString(this.x.llhttp_get_error_reason(p)),
    };
  }

  /** Tells the parser the stream ended (completes a response delimited by close). */
  finish(p: number): ExecuteResult {
    const outer = this.current;
    this.current = this.handlers.get(p);
    const errno = this.x.llhttp_finish(p);
    this.current = outer;
    return {
      errno,
      consumed: 0,
      reason: errno === 0 ? '' : this.cString(this.x.llhttp_get_error_reason(p)),
    };
  }

  /** The request method of the current message. */
  method(p: number): string {
    const m = this.x.llhttp_get_method(p);
    let name = this.methods.get(m);
    if (name === undefined) {
      name = this.cString(this.x.llhttp_method_name(m));
      this.methods.set(m, name);
    }
    return name;
  }

  /** `major.minor` of the current message. */
  version(p: number): string {
    const major = this.x.llhttp_get_http_major(p);
    const minor = this.x.llhttp_get_http_minor(p);
    if (major === 1) return minor === 1 ? '1.1' : minor === 0 ? '1.0' : `1.${minor}`;
    return `${major}.${minor}`;
  }

  private cString(ptr: number): string {
    if (!ptr) return '';
    const mem = new Uint8Array(this.x.memory.buffer);
    let end = ptr;
    while (end < mem.length && mem[end] !== 0) end++;
    return Buffer.from(mem.subarray(ptr, end)).toString('latin1');
  }
}
