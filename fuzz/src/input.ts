/**
 * What one fuzz input is: a list of byte events (per connection direction, or per call of a
 * lower-level parser), each possibly followed by bytes that were lost, plus the few settings
 * the target needs. The same shape is generated, mutated, minimised and written to reproducers.
 */
import type { Direction, Role } from '@traceable-ebpf/core';

/** One event of an input. */
export interface FuzzEvent {
  /** The connection direction (seen from the captured process), or `none` for a parser alone. */
  readonly dir: Direction | 'none';
  readonly data: Uint8Array;
  /**
   * Bytes lost right after `data`: the syscall moved them but the kernel copied none (the
   * event's `size` exceeds its data), which reassembly turns into a gap of this length.
   */
  readonly lost?: number;
}

/** A whole input. */
export interface FuzzInput {
  /** The captured process's role (connection targets). */
  readonly role?: Role;
  /** The connection was found already open (connection targets). */
  readonly midStream?: boolean;
  /** Target settings (decoder table sizes, caps). */
  readonly params?: Readonly<Record<string, number>>;
  readonly events: readonly FuzzEvent[];
}

/** A bytes-per-direction piece of a generated conversation, before it is cut into events. */
export interface Segment {
  readonly dir: Direction | 'none';
  readonly bytes: Uint8Array;
}

/** The JSON form of an input (bytes as hex). */
export interface FuzzInputJson {
  readonly role?: Role;
  readonly midStream?: boolean;
  readonly params?: Readonly<Record<string, number>>;
  readonly events: ReadonlyArray<{ dir: FuzzEvent['dir']; hex: string; lost?: number }>;
}

/** An input as JSON-ready data. */
export function inputToJson(input: FuzzInput): FuzzInputJson {
  return {
    ...(input.role ? { role: input.role } : {}),
    ...(input.midStream ? { midStream: true } : {}),
    ...(input.params ? { params: input.params } : {}),
    events: input.events.map((e) => ({
      dir: e.dir,
      hex: Buffer.from(e.data).toString('hex'),
      ...(e.lost ? { lost: e.lost } : {}),
    })),
  };
}

/** The input a JSON form describes. */
export function inputFromJson(json: FuzzInputJson): FuzzInput {
  return {
    ...(json.role ? { role: json.role } : {}),
    ...(json.midStream ? { midStream: true } : {}),
    ...(json.params ? { params: json.params } : {}),
    events: json.events.map((e) => ({
      dir: e.dir,
      data: Uint8Array.from(Buffer.from(e.hex, 'hex')),
      ...(e.lost ? { lost: e.lost } : {}),
    })),
  };
}

/** Total bytes (data and lost) of an input. */
export function inputBytes(input: FuzzInput): number {
  return input.events.reduce((n, e) => n + e.data.length + (e.lost ?? 0), 0);
}
