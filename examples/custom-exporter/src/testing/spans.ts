/** Spans for the tests, built as the tracer's span mapping builds them (a plain ReadableSpan). */
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

const resource = resourceFromAttributes({ 'service.name': 'shop', 'process.pid': 4242 });

/** The `i`th test span: a server span for `GET /items/<i>`, 200, started at 1_700_000_000.000000123 + i s. */
export function testSpan(i: number): ReadableSpan {
  const traceId = i.toString(16).padStart(32, '0');
  const spanId = (i + 1).toString(16).padStart(16, '0');
  return {
    name: 'GET',
    kind: SpanKind.SERVER,
    spanContext: () => ({ traceId, spanId, traceFlags: TraceFlags.SAMPLED }),
    startTime: [1_700_000_000 + i, 123],
    endTime: [1_700_000_000 + i, 2_000_123],
    duration: [0, 2_000_000],
    status: { code: SpanStatusCode.UNSET },
    attributes: {
      'http.request.method': 'GET',
      'url.path': `/items/${i}`,
      'http.response.status_code': 200,
    },
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: { name: 'test' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** `n` test spans, from `from` on. */
export const testSpans = (n: number, from = 0): ReadableSpan[] =>
  Array.from({ length: n }, (_, k) => testSpan(from + k));
