/**
 * Exporters that write text: one readable line per request (console), or one JSON object per
 * span (JSONL). Both implement OpenTelemetry's SpanExporter; shutdown is idempotent.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { hrTimeString } from './otlp-json-span.js';

/** Where line exporters write. */
export interface LineSink {
  /** Takes one or more whole lines, each ending in a newline. */
  write(line: string): void;
}

const KIND = {
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};

/**
 * The console line of a span: time, pid, method, path, status (and gRPC status), latency,
 * kind, peer.
 */
export function formatSpanLine(span: ReadableSpan): string {
  const a = span.attributes;
  const start = new Date(
    span.startTime[0] * 1000 + Math.floor(span.startTime[1] / 1e6),
  ).toISOString();
  const ms = (span.duration[0] * 1e3 + span.duration[1] / 1e6).toFixed(2);
  const query = a['url.query'] !== undefined ? `?${String(a['url.query'])}` : '';
  const grpc = a['rpc.grpc.status_code'];
  const status = `${String(a['http.response.status_code'] ?? '---')}${grpc !== undefined ? ` grpc=${String(grpc)}` : ''}`;
  const pid = span.resource.attributes['process.pid'];
  const exe = span.resource.attributes['process.executable.name'];
  const peer = `${String(a['network.peer.address'])}:${String(a['network.peer.port'])}`;
  const flags = [
    a['traceable.partial'] ? ' partial' : '',
    a['traceable.response.missing'] ? ' no-response' : '',
  ].join('');
  return `${start} pid=${String(pid)} ${String(exe)} ${String(a['http.request.method'])} ${String(a['url.path'])}${query} -> ${status} ${ms}ms ${KIND[span.kind]} peer=${peer}${flags}`;
}

/** Plain JSON of a span (ids hex, times in Unix nanoseconds as strings). */
export function spanToJson(span: ReadableSpan): Record<string, unknown> {
  return { ...spanFields(span), resource: span.resource.attributes };
}

/** {@link spanToJson} without the resource. */
function spanFields(span: ReadableSpan): Record<string, unknown> {
  const ctx = span.spanContext();
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    name: span.name,
    kind: KIND[span.kind],
    // Exact decimal strings: s·10⁹ + ns as a number is past 2⁵³ and loses the last digits.
    startTimeUnixNano: hrTimeString(span.startTime[0], span.startTime[1]),
    endTimeUnixNano: hrTimeString(span.endTime[0], span.endTime[1]),
    status: span.status,
    attributes: span.attributes,
  };
}

abstract class LineExporter implements SpanExporter {
  private closed = false;
  constructor(protected readonly sink: LineSink) {}
  protected abstract line(span: ReadableSpan): string;

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (this.closed) {
      done({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
      return;
    }
    let text = '';
    for (const s of spans) text += `${this.line(s)}\n`;
    this.sink.write(text);
    done({ code: ExportResultCode.SUCCESS });
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.close();
  }

  protected async close(): Promise<void> {}
}

/** One human-readable line per request, to stdout by default. */
export class ConsoleLineExporter extends LineExporter {
  constructor(options: { sink?: LineSink } = {}) {
    super(options.sink ?? { write: (l) => process.stdout.write(l) });
  }
  protected line(span: ReadableSpan): string {
    return formatSpanLine(span);
  }
}

/** One JSON object per span per line, to a file (appended) or a sink. */
export class JsonlExporter extends LineExporter {
  private readonly stream?: WriteStream;
  /** JSON of each resource's attributes: one resource serves all spans of a process. */
  private readonly resourceJson = new WeakMap<object, string>();
  constructor(options: { path?: string; sink?: LineSink } = {}) {
    const stream = options.path ? createWriteStream(options.path, { flags: 'a' }) : undefined;
    super(
      options.sink ??
        (stream ? { write: (l) => stream.write(l) } : { write: (l) => process.stdout.write(l) }),
    );
    this.stream = stream;
  }
  /** The same text as `JSON.stringify(spanToJson(span))`, the resource serialised once. */
  protected line(span: ReadableSpan): string {
    const attrs = span.resource.attributes;
    let res = this.resourceJson.get(attrs);
    if (res === undefined) {
      res = JSON.stringify(attrs);
      this.resourceJson.set(attrs, res);
    }
    const head = JSON.stringify(spanFields(span));
    return `${head.slice(0, -1)},"resource":${res}}`;
  }
  protected override async close(): Promise<void> {
    const s = this.stream;
    if (s) await new Promise<void>((resolve) => s.end(resolve));
  }
}
