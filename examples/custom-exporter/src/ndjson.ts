/**
 * The webhook's wire format: one JSON object per span, one span per line (NDJSON,
 * `application/x-ndjson`).
 */
import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** One span as the webhook receives it. Times are Unix nanoseconds as decimal strings. */
export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  /** Absent for a root span. */
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: 'internal' | 'server' | 'client' | 'producer' | 'consumer';
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: Attributes;
  /** The attributes of the span's resource (process, service, pod …). */
  readonly resource: Attributes;
  readonly status: { readonly code: 'unset' | 'ok' | 'error'; readonly message?: string };
}

const KINDS = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
} as const;

const STATUS = {
  [SpanStatusCode.UNSET]: 'unset',
  [SpanStatusCode.OK]: 'ok',
  [SpanStatusCode.ERROR]: 'error',
} as const;

/** An OpenTelemetry time (`[seconds, nanoseconds]`) as exact decimal nanoseconds. */
function unixNanos([seconds, nanos]: readonly [number, number]): string {
  return (BigInt(seconds) * 1_000_000_000n + BigInt(nanos)).toString();
}

/** The {@link SpanRecord} of a span. */
export function toSpanRecord(span: ReadableSpan): SpanRecord {
  const { traceId, spanId } = span.spanContext();
  const parent = span.parentSpanContext?.spanId;
  return {
    traceId,
    spanId,
    ...(parent ? { parentSpanId: parent } : {}),
    name: span.name,
    kind: KINDS[span.kind],
    startTimeUnixNano: unixNanos(span.startTime),
    endTimeUnixNano: unixNanos(span.endTime),
    attributes: span.attributes,
    resource: span.resource.attributes,
    status: {
      code: STATUS[span.status.code],
      ...(span.status.message ? { message: span.status.message } : {}),
    },
  };
}

/** The request body for `spans`: each span's record as one line, every line ending in `\n`. */
export function toNdjson(spans: readonly ReadableSpan[]): string {
  let body = '';
  for (const span of spans) body += `${JSON.stringify(toSpanRecord(span))}\n`;
  return body;
}
