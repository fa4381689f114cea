/**
 * Splits one direction of an HTTP/1.x byte stream into messages (requests or responses) with
 * llhttp. Returns a status for every feed instead of throwing; resynchronises at the next
 * plausible message start after an error or a gap.
 */
import type { HttpRequest, HttpResponse } from '@traceable-ebpf/core';
import { LlhttpErrno, LlhttpType, type LlhttpHandler, type LlhttpRuntime } from './llhttp.js';
import { HeaderNameCache } from '../shared/header-names.js';
import { FIELD_OVERHEAD_BYTES } from '../shared/header-caps.js';
import { carryTail, withCarry } from '../shared/carried-search.js';
import { findMessageStart } from './start-line.js';

/**
 * One parsed HTTP/1 message: a request from a request parser, a response from a response
 * parser, built in its final shape (exchanges carry it as is: no copy per message).
 */
export type Http1Message = HttpRequest | HttpResponse;

/** The outcome of {@link Http1MessageParser.feed}. */
export type FeedStatus =
  /** All bytes consumed; messages so far were delivered. */
  | { readonly status: 'need-more'; readonly skipped: number }
  /** The bytes are not HTTP/1; the parser will resynchronise. `lostMessage`: a message had begun. */
  | {
      readonly status: 'invalid';
      readonly reason: string;
      readonly skipped: number;
      readonly lostMessage: boolean;
    }
  /** The connection switched protocols; the `rest` bytes after that point are not HTTP/1. */
  | { readonly status: 'upgrade'; readonly rest: number; readonly skipped: number };

/** Options of {@link Http1MessageParser}. */
export interface Http1MessageParserOptions {
  readonly maxBodyBytes: number;
  /** Bytes of target, header and trailer lines kept per message (the rest is dropped whole). */
  readonly maxHeaderBytes: number;
  /** Each message, and whether bytes of its target, headers or trailers went past the cap. */
  readonly onMessage: (msg: Http1Message, headersTruncated: boolean) => void;
  /** For a response parser: the method of the request this response answers (HEAD has no body). */
  readonly requestMethod?: () => string | undefined;
  /** Joined mid-stream: skip to the first whole request (or status) line. Default false. */
  readonly midStream?: boolean;
}

/** The body of every message without one (read-only by contract: consumers never write bodies). */
const NO_BODY = new Uint8Array(0);

/** The usual outcome of a feed, one object for all. */
const NEED_MORE: FeedStatus = { status: 'need-more', skipped: 0 };

/** No bytes carried, no fields, no body parts: shared by every parser between messages. */
const NOTHING_CARRIED = new Uint8Array(0);
const NO_FIELDS: Array<[string, string]> = [];
const NO_PARTS: Uint8Array[] = [];

/** Whitespace `String.prototype.trim` removes, among latin1 characters. */
function isTrimmed(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 160;
}

/** `v.trim()`, without the call when neither end is whitespace (llhttp drops the leading OWS). */
function trimmed(v: string): string {
  if (v.length === 0) return v;
  return isTrimmed(v.charCodeAt(0)) || isTrimmed(v.charCodeAt(v.length - 1)) ? v.trim() : v;
}

/** Stands in for body bytes the kernel never copied (sendfile, truncated writes). */
const FILLER = new Uint8Array(64 * 1024);

/**
 * Parser of one direction of one connection. It is its llhttp parser's handler itself (no
 * closures per parser: an idle connection costs its two parsers' fields and little more), and
 * between messages it holds on to none of the last one's fields, headers or body.
 */
export class Http1MessageParser implements LlhttpHandler {
  private readonly ptr: number;
  private inSync: boolean;
  /** While out of sync: the tail of the bytes searched so far (a start line may straddle). */
  private carry: Uint8Array = NOTHING_CARRIED;
  /** Body bytes still due in the current message when its length is known (Content-Length). */
  private bodyRemaining: number | undefined;
  /** True while feeding filler: bytes are counted, not kept. */
  private filling = false;
  /** Between a message's first byte and its end. */
  private inMessage = false;
  private tsNs = 0;
  // message under construction
  private startNs = 0;
  private target = '';
  private statusCode = 0;
  private headers: Array<[string, string]> = NO_FIELDS;
  /** Made when the first trailer comes (most messages have none). */
  private trailers: Array<[string, string]> = NO_FIELDS;
  /** Past the header block: fields are trailers. */
  private headersDone = false;
  private headerBytes = 0;
  private headersTruncated = false;
  private field = '';
  private value = '';
  private inValue = false;
  /** The field being read went past the cap: it is dropped whole. */
  private fieldDropped = false;
  /** Made when the first kept body bytes come. */
  private body: Uint8Array[] = NO_PARTS;
  private bodyKept = 0;
  private bodySize = 0;
  private method = '';
  private version = '';
  /** Header and trailer names shared from message to message (later stages look them up). */
  private readonly headerNames = new HeaderNameCache();
  private readonly trailerNames = new HeaderNameCache();

  constructor(
    private readonly runtime: LlhttpRuntime,
    readonly type: 'request' | 'response',
    private readonly options: Http1MessageParserOptions,
  ) {
    this.inSync = !options.midStream;
    this.ptr = runtime.create(type === 'request' ? LlhttpType.REQUEST : LlhttpType.RESPONSE, this);
  }

  /** llhttp: (part of) the request target. */
  onUrl(s: string): void {
    if (this.fits(s.length)) this.target += s;
    else this.headersTruncated = true;
  }

  /** llhttp: the reason phrase (not kept). */
  onStatus(): void {}

  /**
   * llhttp: (part of) a field name, in wasm memory. A name is most often the one the previous
   * message had at the same position: compared in place, it is that shared string, and no
   * string is made of it (nor compared against the cache as one).
   */
  onHeaderField(at: number, len: number): void {
    if (this.inValue) this.commitHeader();
    if (!this.fits(len)) {
      this.fieldDropped = this.headersTruncated = true;
      return;
    }
    if (this.field === '') {
      const known = this.headersDone
        ? this.trailerNames.at(this.trailers.length)
        : this.headerNames.at(this.headers.length);
      if (known !== undefined && this.runtime.equals(at, len, known)) {
        this.field = known;
        return;
      }
    }
    this.field += this.runtime.text(at, len);
  }

  /** llhttp: (part of) a field value. */
  onHeaderValue(s: string): void {
    this.inValue = true;
    if (this.fits(s.length)) this.value += s;
    else this.fieldDropped = this.headersTruncated = true;
  }

  /**
   * The stream lost bytes: drop the message in progress and look for the next start. Returns
   * true when a message had begun (and is now lost).
   */
  desync(): boolean {
    const lost = this.inSync && this.inMessage;
    this.inSync = false;
    this.carry = NOTHING_CARRIED;
    this.inMessage = false;
    this.bodyRemaining = undefined;
    this.runtime.reset(this.ptr);
    return lost;
  }

  /**
   * Bytes of the stream that will never be seen. When they fall inside a body of known length
   * (a sendfile, or the tail of a large write), the message survives with its full size and the
   * missing bytes uncaptured: `absorbed`. Otherwise the parser resynchronises: `lost-message`
   * when a message was in progress, else `desynced`.
   */
  skip(length: number, tsNs: number): 'absorbed' | 'lost-message' | 'desynced' {
    this.tsNs = tsNs; // a message the skipped bytes complete ends at the syscall that moved them
    if (!this.inSync || this.bodyRemaining === undefined || length > this.bodyRemaining) {
      return this.desync() ? 'lost-message' : 'desynced';
    }
    if (length === this.bodyRemaining && length > 0) {
      // The skipped bytes are exactly the rest of a Content-Length body (a sendfile after its
      // head, say): the message ends with them, and the parser's next byte is the next
      // message's first. Completed here rather than by feeding llhttp filler bytes to count.
      this.bodySize += length;
      this.onMessageComplete();
      this.runtime.reset(this.ptr);
      return 'absorbed';
    }
    this.filling = true;
    try {
      for (let left = length; left > 0; ) {
        const n = Math.min(left, FILLER.length);
        const r = this.runtime.execute(this.ptr, FILLER.subarray(0, n));
        if (r.errno !== LlhttpErrno.OK) return this.desync() ? 'lost-message' : 'desynced';
        left -= n;
      }
    } finally {
      this.filling = false;
    }
    return 'absorbed';
  }

  /** Bytes held while looking for a message start (dropped if the stream ends here). */
  get carried(): number {
    return this.carry.length;
  }

  /** In step with the stream (false: looking for the next message start). */
  get synced(): boolean {
    return this.inSync;
  }

  /**
   * Feeds the next bytes of the stream, seen by the kernel at `tsNs`. `skipped` counts bytes
   * passed over while looking for a message start (a few may be kept to search again with the
   * next bytes: they are counted once, when finally skipped or parsed).
   */
  feed(data: Uint8Array, tsNs: number): FeedStatus {
    this.tsNs = tsNs;
    let skipped = 0;
    if (!this.inSync) {
      const bytes = withCarry(this.carry, data);
      const at = findMessageStart(this.type, bytes);
      if (at < 0) {
        const tail = carryTail(bytes);
        this.carry = tail.carry;
        return { status: 'need-more', skipped: tail.skipped };
      }
      this.carry = NOTHING_CARRIED;
      skipped = at;
      data = bytes.subarray(at);
      this.inSync = true;
    }
    const r = this.runtime.execute(this.ptr, data);
    if (r.errno === LlhttpErrno.OK) return skipped ? { status: 'need-more', skipped } : NEED_MORE;
    if (r.errno === LlhttpErrno.PAUSED_UPGRADE)
      return { status: 'upgrade', rest: data.length - r.consumed, skipped };
    const lostMessage = this.desync();
    return { status: 'invalid', reason: r.reason, skipped, lostMessage };
  }

  /**
   * The stream ended: completes a message delimited by the connection's close. Returns true when
   * a message was cut short (it is lost).
   */
  finish(tsNs: number): boolean {
    this.tsNs = tsNs;
    if (this.inSync) this.runtime.finish(this.ptr);
    // Still inside a message: the stream ended before it did (a close-delimited body completes
    // in finish; anything else is cut short).
    const cut = this.inSync && this.inMessage;
    this.inMessage = false;
    return cut;
  }

  /**
   * After an `upgrade` status: the other side refused the switch (it answered in HTTP/1), so the
   * bytes that follow are the next message.
   */
  resumeAfterUpgrade(): void {
    this.runtime.resumeAfterUpgrade(this.ptr);
  }

  /** Frees the llhttp parser. */
  destroy(): void {
    this.runtime.destroy(this.ptr);
  }

  /** llhttp: a message starts. */
  onMessageBegin(): void {
    this.inMessage = true;
    this.startNs = this.tsNs;
    this.target = '';
    this.statusCode = 0;
    this.headers = [];
    this.trailers = NO_FIELDS;
    this.headersDone = false;
    this.headerBytes = 0;
    this.headersTruncated = false;
    this.field = '';
    this.value = '';
    this.inValue = false;
    this.fieldDropped = false;
    this.body = NO_PARTS;
    this.bodyKept = 0;
    this.bodySize = 0;
  }

  /** Whether `n` more bytes of target or fields stay within the cap (strings never grow past it). */
  private fits(n: number): boolean {
    return (
      this.headerBytes + this.target.length + this.field.length + this.value.length + n <=
      this.options.maxHeaderBytes
    );
  }

  private commitHeader() {
    // Each field costs its overhead too, so the byte cap also caps how many fields are kept.
    if (!this.fieldDropped && !this.fits(FIELD_OVERHEAD_BYTES))
      this.fieldDropped = this.headersTruncated = true;
    if (!this.fieldDropped) {
      if (this.headersDone && this.trailers === NO_FIELDS) this.trailers = [];
      const list = this.headersDone ? this.trailers : this.headers;
      const names = this.headersDone ? this.trailerNames : this.headerNames;
      list.push([names.intern(list.length, this.field), trimmed(this.value)]);
      this.headerBytes += this.field.length + this.value.length + FIELD_OVERHEAD_BYTES;
    }
    this.field = '';
    this.value = '';
    this.inValue = false;
    this.fieldDropped = false;
  }

  /** llhttp: the header block ended (1: the message has no body). */
  onHeadersComplete(status: number): number {
    // RFC 9110 §15: a status code is three digits from 100 to 599; anything else (llhttp takes
    // any three digits) is not a response: an llhttp callback error, counted as a parse error.
    if (this.type === 'response' && (status < 100 || status > 599)) return -1;
    if (this.field || this.inValue || this.fieldDropped) this.commitHeader();
    this.headersDone = true;
    this.statusCode = status;
    this.method = this.type === 'request' ? this.runtime.method(this.ptr) : '';
    this.version = this.runtime.version(this.ptr);
    const answers = this.type === 'response' ? this.options.requestMethod?.() : undefined;
    if (answers === 'CONNECT' && status >= 200 && status < 300) {
      // A tunnel: what follows is the tunnelled protocol (llhttp: 2 = no body, upgrade).
      this.bodyRemaining = 0;
      return 2;
    }
    const noBody =
      (this.type === 'response' && answers === 'HEAD') ||
      (this.type === 'response' && (status < 200 || status === 204 || status === 304));
    this.bodyRemaining = noBody ? 0 : this.contentLength();
    return noBody && this.type === 'response' && status >= 200 ? 1 : 0;
  }

  /** The body length the headers announce, if it is fixed (Content-Length without chunking). */
  private contentLength(): number | undefined {
    let length: number | undefined;
    for (const [k, v] of this.headers) {
      // Only names of the right length are lower-cased (this runs for every message).
      if (k.length === 17 && k.toLowerCase() === 'transfer-encoding') return undefined;
      if (k.length === 14 && k.toLowerCase() === 'content-length' && /^\d+$/.test(v))
        length = Number(v);
    }
    return length ?? (this.type === 'request' ? 0 : undefined);
  }

  /** llhttp: body bytes. */
  onBody(bytes: Uint8Array): void {
    this.bodySize += bytes.length;
    if (this.bodyRemaining !== undefined) this.bodyRemaining -= bytes.length;
    if (this.filling) return;
    const room = this.options.maxBodyBytes - this.bodyKept;
    if (room <= 0) return;
    const kept = bytes.length <= room ? bytes : bytes.subarray(0, room);
    if (this.body === NO_PARTS) this.body = [];
    this.body.push(new Uint8Array(kept)); // a copy: the bytes live in wasm memory (Buffer#slice would be a view)
    this.bodyKept += kept.length;
  }

  /** llhttp: the message ended. */
  onMessageComplete(): void {
    if (this.field || this.inValue || this.fieldDropped) this.commitHeader(); // the last trailer
    this.inMessage = false;
    this.bodyRemaining = undefined;
    const body =
      this.body.length === 0
        ? NO_BODY
        : this.body.length === 1
          ? this.body[0]!
          : Buffer.concat(this.body);
    const trailers = this.trailers.length > 0 ? this.trailers : undefined;
    // Object literals of one fixed shape each, no spreads (this runs for every message).
    const msg: Http1Message =
      this.type === 'request'
        ? {
            method: this.method,
            target: this.target,
            version: this.version,
            headers: this.headers,
            trailers,
            body,
            bodySize: this.bodySize,
            startNs: this.startNs,
            // Never before its start, whatever timestamps the events carry.
            endNs: Math.max(this.tsNs, this.startNs),
          }
        : {
            status: this.statusCode,
            version: this.version,
            headers: this.headers,
            trailers,
            body,
            bodySize: this.bodySize,
            startNs: this.startNs,
            // Never before its start, whatever timestamps the events carry.
            endNs: Math.max(this.tsNs, this.startNs),
          };
    // The message has them now: an idle connection keeps none of them alive.
    this.headers = NO_FIELDS;
    this.trailers = NO_FIELDS;
    this.body = NO_PARTS;
    this.target = '';
    this.options.onMessage(msg, this.headersTruncated);
  }
}
