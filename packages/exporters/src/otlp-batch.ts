/**
 * Batches of spans encoded as one `ExportTraceServiceRequest` body, built span by span: each span
 * is encoded the moment it arrives (into one reused buffer for protobuf), grouped by resource
 * and instrumentation scope, and the request is assembled once, when the batch is sealed. What
 * waits for the collector is then bytes, not span objects.
 */
import type { Resource } from '@opentelemetry/resources';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { EncodedBatch } from './delivery-types.js';
import type { OtlpProtocol } from './otlp-env.js';
import { JsonKeyCache, jsonResource, jsonScope, jsonSpan } from './otlp-json-span.js';
import { JsonWriter } from './otlp-json-writer.js';
import { KeyCache, encodeResource, encodeScope, writeSpanFields } from './otlp-proto-span.js';
import { ProtoWriter, varintSize } from './otlp-proto-writer.js';
import type { GrowableBuffer } from './growable-buffer.js';

/** Builds one request body at a time. */
export interface BatchEncoder {
  /** Spans appended since the last seal. */
  readonly spans: number;
  /** Encoded bytes so far. */
  readonly bytes: number;
  /** Encodes one span into the batch. */
  append(span: ReadableSpan): void;
  /** The request body of what was appended (undefined when nothing was); starts a new batch. */
  seal(): EncodedBatch | undefined;
}

/** An encoder for `protocol`. */
export function createBatchEncoder(protocol: OtlpProtocol): BatchEncoder {
  return protocol === 'http/json' ? new JsonBatchEncoder() : new ProtoBatchEncoder();
}

/**
 * Request bodies' memory, reused: a fresh multi-megabyte buffer per request costs its page
 * faults on first write (measured: most of the time assembling a request took). Bodies come
 * back through their batch's `release` once delivered or dropped; a few are kept. A buffer is
 * at most a little larger than its body (bodies waiting out an outage are counted by their
 * length, so their buffers must not be much larger).
 */
class BodyPool {
  private readonly free: Buffer[] = [];
  constructor(private readonly keep = 4) {}

  /** A buffer of at least `n` bytes and not much more. */
  acquire(n: number): Buffer {
    const size = Math.ceil(n / POOL_GRANULE) * POOL_GRANULE;
    const most = size + (size >> 3);
    for (let i = this.free.length - 1; i >= 0; i--) {
      const b = this.free[i]!;
      if (b.length >= n && b.length <= most) {
        this.free.splice(i, 1);
        return b;
      }
    }
    return Buffer.allocUnsafeSlow(size);
  }

  release(b: Buffer): void {
    if (this.free.length < this.keep) this.free.push(b);
  }
}

/** Body buffers are sized in steps of this many bytes. */
const POOL_GRANULE = 64 * 1024;

const scopeKey = (s: InstrumentationScope) => `${s.name}@${s.version ?? ''}:${s.schemaUrl ?? ''}`;

/** A request body: bytes [start, end) of `buf`. */
interface Body {
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
}

/** Room kept before a protobuf batch's spans for the request's head (resource and scope). */
const HEAD_ROOM = 4096;

/** Spans of one resource and scope within a batch. */
interface Group {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  readonly scopeKey: string;
  /** [start, end) byte ranges of its spans in the encoder's buffer, consecutive ones merged. */
  readonly parts: number[];
  bytes: number;
}

/** Adds a span's bytes to its group: consecutive spans make one range (one copy at seal). */
function addRange(g: Group, start: number, end: number): void {
  const parts = g.parts;
  if (parts.length > 0 && parts[parts.length - 1] === start) parts[parts.length - 1] = end;
  else parts.push(start, end);
  g.bytes += end - start;
}

/** Groups by resource (object identity, as the SDK does), then scope. */
class Groups {
  private readonly byResource = new Map<Resource, Array<Group>>();
  /** Resource order of first appearance, each resource's scopes in order. */
  readonly ordered: Array<Array<Group>> = [];

  of(span: ReadableSpan): Group {
    const resource = span.resource;
    let list = this.byResource.get(resource);
    if (!list) {
      list = [];
      this.byResource.set(resource, list);
      this.ordered.push(list);
    }
    const scope = span.instrumentationScope;
    // One scope per resource is the common case: compare the object before building a key.
    for (const g of list) if (g.scope === scope) return g;
    const key = scopeKey(scope);
    for (const g of list) if (g.scopeKey === key) return g;
    const g: Group = { resource, scope, scopeKey: key, parts: [], bytes: 0 };
    list.push(g);
    return g;
  }

  clear(): void {
    this.byResource.clear();
    this.ordered.length = 0;
  }
}

/**
 * What both encodings share: spans written one after the other into one reused buffer, their
 * byte ranges kept per resource and scope, the encoded resources and scopes cached, and request
 * bodies assembled into pooled buffers. An encoding says how a span, a resource and a scope are
 * written, and how the request is put together from them.
 */
abstract class RangeBatchEncoder<W extends GrowableBuffer> implements BatchEncoder {
  protected abstract readonly w: W;
  /** Where a batch's first span is written in `w` (room before it for the request's head). */
  protected readonly origin: number = 0;
  protected readonly groups = new Groups();
  protected readonly pool = new BodyPool();
  private readonly resources = new WeakMap<Resource, Buffer>();
  private readonly scopes = new Map<string, Buffer>();
  spans = 0;

  get bytes(): number {
    return this.w.pos - this.origin;
  }

  append(span: ReadableSpan): void {
    const g = this.groups.of(span);
    const start = this.w.pos;
    this.writeSpan(span);
    addRange(g, start, this.w.pos);
    this.spans++;
  }

  seal(): EncodedBatch | undefined {
    if (this.spans === 0) return undefined;
    const body = this.inPlace() ?? this.assemble();
    const buf = body.buf;
    const batch = {
      body: buf.subarray(body.start, body.end),
      spans: this.spans,
      release: () => this.pool.release(buf),
    };
    // A body made in place keeps the working buffer: the next batch is written into another.
    if (buf === this.w.buf) this.w.buf = this.pool.acquire(buf.length);
    this.spans = 0;
    this.w.reset();
    this.w.pos = this.origin;
    this.groups.clear();
    return batch;
  }

  /**
   * The request written around the spans where they are, when the encoding can (one resource,
   * one scope, the spans one run after `origin`): no copy of the spans into another buffer.
   */
  protected inPlace(): Body | undefined {
    return undefined;
  }

  /** Writes one span (and whatever follows it in its list) into `w`. */
  protected abstract writeSpan(span: ReadableSpan): void;
  protected abstract encodeResource(resource: Resource): Buffer;
  protected abstract encodeScope(scope: InstrumentationScope): Buffer;
  /** The request of what `groups` holds, in a buffer from `pool`. */
  protected abstract assemble(): Body;

  /** A resource's encoding, made once per resource object. */
  protected resourceBytes(r: Resource): Buffer {
    let b = this.resources.get(r);
    if (!b) {
      b = this.encodeResource(r);
      this.resources.set(r, b);
    }
    return b;
  }

  /** A scope's encoding, made once per scope (bounded). */
  protected scopeBytes(g: Group): Buffer {
    let b = this.scopes.get(g.scopeKey);
    if (!b) {
      b = this.encodeScope(g.scope);
      if (this.scopes.size >= 1024) this.scopes.clear();
      this.scopes.set(g.scopeKey, b);
    }
    return b;
  }

  /** Copies a group's spans (its ranges of `w`) into `out`. */
  protected copySpans(out: GrowableBuffer, g: Group): void {
    const src = this.w.buf;
    const parts = g.parts;
    for (let j = 0; j < parts.length; j += 2) out.raw(src.subarray(parts[j]!, parts[j + 1]!));
  }
}

/** Bytes of a length-delimited protobuf field of `len` bytes (its one-byte tag included). */
const field = (len: number) => 1 + varintSize(len) + len;

/** A `resource_spans` entry's head: its tag and length, then its `resource` field. */
function writeResourceHead(w: ProtoWriter, len: number, resource: Buffer): void {
  w.byte(0x0a); // ExportTraceServiceRequest.resource_spans = 1
  w.varint(len);
  w.byte(0x0a); // ResourceSpans.resource = 1
  w.bytes(resource);
}

/** A `scope_spans` entry's head: its tag and length, then its `scope` field (the spans follow). */
function writeScopeHead(w: ProtoWriter, len: number, scope: Buffer): void {
  w.byte(0x12); // ResourceSpans.scope_spans = 2
  w.varint(len);
  w.byte(0x0a); // ScopeSpans.scope = 1
  w.bytes(scope);
}

/** Protobuf: each span as a `ScopeSpans.spans` field; lengths computed first at seal. */
class ProtoBatchEncoder extends RangeBatchEncoder<ProtoWriter> {
  protected readonly w = new ProtoWriter(256 * 1024);
  protected override readonly origin = HEAD_ROOM;
  private readonly keys = new KeyCache();

  constructor() {
    super();
    this.w.pos = this.origin;
  }

  /**
   * One resource and one scope (a tracer of one process, or of pods whose spans are sealed
   * apart) with no schema URLs: the head (request, resource, scope fields) goes just before the
   * spans, which stay where they were written.
   */
  protected override inPlace(): Body | undefined {
    const lists = this.groups.ordered;
    if (lists.length !== 1 || lists[0]!.length !== 1) return undefined;
    const g = lists[0]![0]!;
    if (g.parts.length !== 2 || g.parts[0] !== this.origin) return undefined;
    if (g.resource.schemaUrl || g.scope.schemaUrl) return undefined;
    const resource = this.resourceBytes(g.resource);
    const scope = this.scopeBytes(g);
    // ScopeSpans: its scope, then the spans; ResourceSpans: its resource, then that.
    const scopeLen = field(scope.length) + g.bytes;
    const resourceLen = field(resource.length) + field(scopeLen);
    // Everything before the spans: the two message heads (tag and length) and both fields.
    const head =
      1 +
      varintSize(resourceLen) +
      field(resource.length) +
      1 +
      varintSize(scopeLen) +
      field(scope.length);
    if (head > this.origin) return undefined;
    const w = new ProtoWriter(0, this.w.buf);
    w.pos = this.origin - head;
    writeResourceHead(w, resourceLen, resource);
    writeScopeHead(w, scopeLen, scope);
    return { buf: this.w.buf, start: this.origin - head, end: this.w.pos };
  }

  protected writeSpan(span: ReadableSpan): void {
    const w = this.w;
    w.byte(0x12); // ScopeSpans.spans = 2
    const m = w.begin();
    writeSpanFields(w, span, this.keys);
    w.end(m);
  }

  protected encodeResource(resource: Resource): Buffer {
    return encodeResource(resource, this.keys);
  }

  protected encodeScope(scope: InstrumentationScope): Buffer {
    return encodeScope(scope);
  }

  protected assemble(): Body {
    // Lengths first (every part is known), then one exact-size buffer.
    const strField = (s: string | undefined) => (s ? field(Buffer.byteLength(s)) : 0);
    interface Sized {
      readonly groups: Array<Group>;
      readonly resource: Buffer;
      readonly scopeLens: number[];
      readonly len: number;
    }
    const sized: Sized[] = [];
    let total = 0;
    for (const groups of this.groups.ordered) {
      const resource = this.resourceBytes(groups[0]!.resource);
      let len = field(resource.length) + strField(groups[0]!.resource.schemaUrl);
      const scopeLens: number[] = [];
      for (const g of groups) {
        const sl = field(this.scopeBytes(g).length) + g.bytes + strField(g.scope.schemaUrl);
        scopeLens.push(sl);
        len += field(sl);
      }
      sized.push({ groups, resource, scopeLens, len });
      total += field(len);
    }
    const out = new ProtoWriter(0, this.pool.acquire(total));
    for (const r of sized) {
      writeResourceHead(out, r.len, r.resource);
      r.groups.forEach((g, i) => {
        writeScopeHead(out, r.scopeLens[i]!, this.scopeBytes(g));
        this.copySpans(out, g);
        if (g.scope.schemaUrl) {
          out.byte(0x1a); // ScopeSpans.schema_url = 3
          out.string(g.scope.schemaUrl);
        }
      });
      const schemaUrl = r.groups[0]!.resource.schemaUrl;
      if (schemaUrl) {
        out.byte(0x1a); // ResourceSpans.schema_url = 3
        out.string(schemaUrl);
      }
    }
    return { buf: out.buf, start: 0, end: out.pos };
  }
}

/** JSON: each span followed by a comma (the last one's taken back at seal). */
class JsonBatchEncoder extends RangeBatchEncoder<JsonWriter> {
  protected readonly w = new JsonWriter(256 * 1024);
  private readonly keys = new JsonKeyCache();

  protected writeSpan(span: ReadableSpan): void {
    jsonSpan(this.w, span, this.keys);
    this.w.byte(0x2c);
  }

  protected encodeResource(resource: Resource): Buffer {
    return jsonResource(resource, this.keys);
  }

  protected encodeScope(scope: InstrumentationScope): Buffer {
    return jsonScope(scope);
  }

  protected assemble(): Body {
    const out = new JsonWriter(0, this.pool.acquire(this.w.pos + 4096));
    out.ascii('{"resourceSpans":[');
    this.groups.ordered.forEach((groups, ri) => {
      const resource = groups[0]!.resource;
      if (ri) out.byte(0x2c);
      out.ascii('{"resource":');
      out.raw(this.resourceBytes(resource));
      out.ascii(',"scopeSpans":[');
      groups.forEach((g, gi) => {
        if (gi) out.byte(0x2c);
        out.ascii('{"scope":');
        out.raw(this.scopeBytes(g));
        out.ascii(',"spans":[');
        this.copySpans(out, g);
        out.pos--; // the last span's comma
        out.byte(0x5d);
        if (g.scope.schemaUrl) {
          out.ascii(',"schemaUrl":');
          out.str(g.scope.schemaUrl);
        }
        out.byte(0x7d);
      });
      out.byte(0x5d);
      if (resource.schemaUrl) {
        out.ascii(',"schemaUrl":');
        out.str(resource.schemaUrl);
      }
      out.byte(0x7d);
    });
    out.ascii(']}');
    return { buf: out.buf, start: 0, end: out.pos };
  }
}
