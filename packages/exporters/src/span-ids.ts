/**
 * Trace and span ids of mapped spans, kept as the random bytes they are drawn as. OTLP carries
 * ids as bytes (protobuf) or hex (JSON), so the project's encoders copy the bytes straight into
 * a request; the hex strings the OpenTelemetry API speaks are made only when something reads
 * them (another exporter, a JSON line).
 */
import { randomFillSync } from 'node:crypto';
import type { SpanContext, TraceState } from '@opentelemetry/api';

/** Bytes of a trace id and a span id, side by side in a pool. */
const TRACE_BYTES = 16;
const SPAN_BYTES = 8;
const IDS_BYTES = TRACE_BYTES + SPAN_BYTES;
/** One random fill per this many bytes (about 2,700 spans). */
const POOL_BYTES = 64 * 1024;

let pool = Buffer.alloc(0);
let poolPos = 0;

/**
 * A span's context whose ids are bytes in a pool of random bytes (a new pool when one is used
 * up: spans keep theirs). A span continuing a remote trace keeps that trace's id as the hex
 * string it came as.
 */
export class PooledSpanContext implements SpanContext {
  /** The pool holding this span's id bytes. */
  readonly ids: Buffer;
  /** Offset of the trace id's 16 bytes in {@link ids}, or -1 when the trace id is `remoteTraceId`. */
  readonly traceAt: number;
  /** Offset of the span id's 8 bytes in {@link ids}. */
  readonly spanAt: number;
  /** Mapped spans carry no trace state. */
  readonly traceState: TraceState | undefined = undefined;
  private traceHex: string | undefined;
  private spanHex: string | undefined;

  constructor(
    readonly traceFlags: number,
    remoteTraceId?: string,
  ) {
    if (poolPos + IDS_BYTES > pool.length) {
      pool = Buffer.allocUnsafe(POOL_BYTES);
      randomFillSync(pool);
      poolPos = 0;
    }
    this.ids = pool;
    if (remoteTraceId === undefined) {
      this.traceAt = poolPos;
      this.spanAt = poolPos + TRACE_BYTES;
    } else {
      this.traceAt = -1;
      this.traceHex = remoteTraceId;
      this.spanAt = poolPos;
    }
    poolPos += IDS_BYTES;
  }

  /** The trace id as 32 lower-case hex digits. */
  get traceId(): string {
    return (this.traceHex ??= this.ids.toString('hex', this.traceAt, this.traceAt + TRACE_BYTES));
  }

  /** The span id as 16 lower-case hex digits. */
  get spanId(): string {
    return (this.spanHex ??= this.ids.toString('hex', this.spanAt, this.spanAt + SPAN_BYTES));
  }
}
