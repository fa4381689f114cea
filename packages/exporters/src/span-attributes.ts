/**
 * Span attributes as a stream of typed calls instead of an object: the span mapper says each
 * attribute once, to a sink, and the sink decides what it becomes — an OpenTelemetry
 * `Attributes` object (for any exporter), or protobuf / JSON bytes written straight into an
 * OTLP request (for the project's exporter, with no object made per span).
 */
import type { Attributes } from '@opentelemetry/api';

/**
 * An attribute key, made once and reused on every span: encoders keep its encoded form on it
 * (`encoded`, one slot per encoding) so it is never encoded twice.
 */
export class AttrKey {
  /** Encoded forms of the key, by encoder (protobuf, JSON). */
  readonly encoded: Array<Uint8Array | undefined> = [undefined, undefined];
  constructor(readonly name: string) {}
}

/** Receives attributes one by one, typed. */
export interface AttributeSink {
  str(key: AttrKey, value: string): void;
  /** An integer attribute. */
  int(key: AttrKey, value: number): void;
  bool(key: AttrKey, value: boolean): void;
  /** A string-array attribute: `beginList`, its items, `endList`. */
  beginList(key: AttrKey): void;
  item(value: string): void;
  endList(): void;
}

/** Something that can say its attributes to a sink. */
export interface AttributeSource {
  /**
   * True once the span's `attributes` object was built (someone read it, and may have changed
   * it): from then on that object, not {@link emitAttributes}, is what the span carries.
   */
  readonly attributesRead: boolean;
  emitAttributes(sink: AttributeSink): void;
}

/** Builds an OpenTelemetry `Attributes` object. */
export class ObjectSink implements AttributeSink {
  readonly attrs: Attributes = {};
  private list: string[] = [];
  str(key: AttrKey, value: string): void {
    this.attrs[key.name] = value;
  }
  int(key: AttrKey, value: number): void {
    this.attrs[key.name] = value;
  }
  bool(key: AttrKey, value: boolean): void {
    this.attrs[key.name] = value;
  }
  beginList(key: AttrKey): void {
    this.list = [];
    this.attrs[key.name] = this.list;
  }
  item(value: string): void {
    this.list.push(value);
  }
  endList(): void {}
}

/**
 * The span as an attribute source when it is one (spans of the project's mapper are) and its
 * attributes object was never built (a stage that read it may have added to it).
 */
export function attributeSourceOf(span: object): AttributeSource | undefined {
  const s = span as Partial<AttributeSource>;
  return typeof s.emitAttributes === 'function' && s.attributesRead === false
    ? (span as AttributeSource)
    : undefined;
}
