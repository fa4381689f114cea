/**
 * Named counters: the built-in ones (`counters.ts`), whose names follow the product the project
 * models, and any a stage registers for itself. Every place that can drop data increments one;
 * the tracer logs them every `stats_interval` and serves them as metrics.
 */
import { Observable } from 'rxjs';
import { ErrorCode, TracerError } from './errors.js';
import { BUILT_IN_GAUGES, COUNTERS, type CounterKind, type CounterName } from './counters.js';

export { COUNTERS, type CounterKind, type CounterName } from './counters.js';

/** What a stage says about a counter it registers ({@link Stats.register}). */
export interface CounterSpec {
  /** What it counts, in a few words for the person reading the stats (Prometheus help text). */
  readonly description: string;
  /** Default `counter`. */
  readonly kind?: CounterKind;
}

/** One counter of a Stats set, built in or registered ({@link Stats.counters}). */
export interface CounterInfo {
  /**
   * Its name: a {@link CounterName}, or the name a stage registered; its key in
   * {@link Stats.snapshot}.
   */
  readonly name: string;
  /** What it counts, in a few words for the person reading the stats (Prometheus help text). */
  readonly description: string;
  /**
   * `counter` when its value is a running total, `gauge` when it is a value read now or a
   * high-water mark.
   */
  readonly kind: CounterKind;
  /** One of {@link COUNTERS}, rather than registered by a stage. */
  readonly builtIn: boolean;
}

/** A registered counter: moved through this handle, read in {@link Stats.snapshot} by its name. */
export interface Counter extends CounterInfo {
  /** Adds `n` (default 1). */
  inc(n?: number): void;
  /** Sets an absolute value. */
  set(value: number): void;
  /** Raises a high-water mark to `value` if it is larger. */
  max(value: number): void;
  /** The current value (0 if never moved). */
  get(): number;
}

/** A registered counter: one small object, its value a plain field. */
class RegisteredCounter implements Counter {
  readonly builtIn = false;
  private value = 0;
  constructor(
    readonly name: string,
    readonly description: string,
    readonly kind: CounterKind,
  ) {}
  inc(n = 1): void {
    this.value += n;
  }
  set(value: number): void {
    this.value = value;
  }
  max(value: number): void {
    if (value > this.value) this.value = value;
  }
  get(): number {
    return this.value;
  }
}

/** Names a stage may register: a letter, then letters, digits or `_` (valid Prometheus names). */
const COUNTER_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Built-in counter names in table order, and each one's slot in a {@link Stats}' values. */
const BUILT_IN_NAMES = Object.keys(COUNTERS) as CounterName[];
const SLOT = new Map<string, number>(BUILT_IN_NAMES.map((k, i) => [k, i]));

/** Every counter's values by name: built-in names always there, registered ones when registered. */
export type CounterValues = Record<CounterName, number> & { readonly [name: string]: number };

/**
 * A set of named counters and high-water marks, and probe stats per syscall: the built-in
 * {@link COUNTERS}, moved by name (`inc`, `set`, `max`), and the counters stages register
 * ({@link Stats.register}), moved through their handles.
 */
export class Stats {
  // Built-in counters in one array, a slot each, found through a Map of names (measured: an
  // increment ~9 ns, against ~40 ns as properties of one object, whose keyed stores showed in
  // pipeline profiles). Registered counters are objects of their own.
  private readonly values = new Float64Array(BUILT_IN_NAMES.length);
  private readonly registered = new Map<string, RegisteredCounter>();
  private readonly probes = new Map<string, readonly [entries: number, exits: number]>();

  /**
   * Registers a counter of a stage's own and returns its handle. Registering the same name
   * with the same description and kind again returns the same handle (two instances of a stage
   * on one Stats count together); a built-in name, a name registered with another description
   * or kind, or a name that is not a letter then letters, digits or `_`, throws a
   * {@link TracerError} (`E_COUNTER`).
   *
   * @example
   * ```ts
   * const stats = new Stats();
   * const parsed = stats.register('RedisCommandsParsed', { description: 'Redis commands parsed' });
   * parsed.inc();
   * stats.snapshot().RedisCommandsParsed; // 1
   * ```
   */
  register(name: string, spec: CounterSpec): Counter {
    const kind = spec.kind ?? 'counter';
    const fail = (why: string) => {
      throw new TracerError(ErrorCode.Counter, `counter ${JSON.stringify(name)}: ${why}`);
    };
    if (typeof name !== 'string' || !COUNTER_NAME.test(name))
      fail('not a valid name (a letter, then letters, digits or _)');
    if (typeof spec.description !== 'string' || spec.description.trim() === '')
      fail('needs a description');
    if (kind !== 'counter' && kind !== 'gauge')
      fail(`kind ${JSON.stringify(kind)} is neither counter nor gauge`);
    if (Object.hasOwn(COUNTERS, name))
      fail(`the name is built in (${COUNTERS[name as CounterName]}): move it with Stats.inc`);
    const known = this.registered.get(name);
    if (known) {
      if (known.description !== spec.description)
        fail(`already registered as ${JSON.stringify(known.description)}: one name, one meaning`);
      if (known.kind !== kind) fail(`already registered as a ${known.kind}, not a ${kind}`);
      return known;
    }
    const counter = new RegisteredCounter(name, spec.description, kind);
    this.registered.set(name, counter);
    return counter;
  }

  /**
   * Every counter with its description and kind, built-in ones first, then registered ones in
   * the order they came: the help text to serve next to {@link Stats.snapshot}'s values.
   *
   * @example
   * ```ts
   * const values = stats.snapshot();
   * for (const { name, description, kind } of stats.counters())
   *   console.log(`# HELP ${name} ${description}\n# TYPE ${name} ${kind}\n${name} ${values[name]}`);
   * ```
   */
  counters(): CounterInfo[] {
    const builtIn = (Object.keys(COUNTERS) as CounterName[]).map((name) => ({
      name,
      description: COUNTERS[name],
      kind: BUILT_IN_GAUGES.has(name) ? ('gauge' as const) : ('counter' as const),
      builtIn: true,
    }));
    const registered = [...this.registered.values()].map(({ name, description, kind }) => ({
      name,
      description,
      kind,
      builtIn: false,
    }));
    return [...builtIn, ...registered];
  }

  /** Sets the probe stats of one syscall: calls entered and exited by captured processes. */
  setProbe(syscall: string, entries: number, exits: number): void {
    this.probes.set(syscall, [entries, exits]);
  }

  /** Probe stats as `{ syscall: [entries, exits] }`. */
  probeSnapshot(): Record<string, readonly [number, number]> {
    return Object.fromEntries(this.probes);
  }

  /** Adds `n` (default 1) to a built-in counter. */
  inc(name: CounterName, n = 1): void {
    const i = SLOT.get(name)!;
    this.values[i] = this.values[i]! + n;
  }

  /** Sets a built-in counter to an absolute value (for counters the kernel keeps). */
  set(name: CounterName, value: number): void {
    this.values[SLOT.get(name)!] = value;
  }

  /** Raises a built-in high-water mark to `value` if it is larger. */
  max(name: CounterName, value: number): void {
    const i = SLOT.get(name)!;
    if (value > this.values[i]!) this.values[i] = value;
  }

  /** The current value of a built-in counter (0 if never moved). */
  get(name: CounterName): number {
    const i = SLOT.get(name);
    return i === undefined ? 0 : this.values[i]!;
  }

  /** All counters as a plain object: every built-in name, then every registered one. */
  snapshot(): CounterValues {
    const out: Record<string, number> = {};
    for (let i = 0; i < BUILT_IN_NAMES.length; i++) out[BUILT_IN_NAMES[i]!] = this.values[i]!;
    for (const c of this.registered.values()) out[c.name] = c.get();
    return out as CounterValues;
  }
}

/** One reading of a Stats set. */
export interface StatsSnapshot {
  /** Every counter's value by name, as {@link Stats.snapshot} returns them. */
  readonly counters: CounterValues;
  /**
   * Probe stats per syscall name, as {@link Stats.probeSnapshot} returns them: `[entries, exits]`,
   * the calls captured processes entered and exited.
   */
  readonly probes: Record<string, readonly [number, number]>;
}

/** The counters and probe stats every `intervalMs`, as an Observable (cold; one timer per subscriber, running until unsubscribed). */
export function stats$(stats: Stats, intervalMs: number): Observable<StatsSnapshot> {
  return new Observable<StatsSnapshot>((subscriber) => {
    const timer = setInterval(
      () => subscriber.next({ counters: stats.snapshot(), probes: stats.probeSnapshot() }),
      intervalMs,
    );
    // Not unref'd: a subscriber waiting for a snapshot must get one; unsubscribing stops it.
    return () => clearInterval(timer);
  });
}
