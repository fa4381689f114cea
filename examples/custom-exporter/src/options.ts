/**
 * The webhook exporter's options, checked once at construction: a bad one is a
 * {@link WebhookOptionError} whose one-line message names it.
 */

/** What a {@link WebhookExporter} is built from. Only `url` is required. */
export interface WebhookExporterOptions {
  /** Where each batch is POSTed: an `http:` or `https:` URL. */
  readonly url: string;
  /** Extra request headers, e.g. `{ Authorization: 'Bearer …' }`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Spans per request; a full batch is sent at once. Default 512. */
  readonly maxBatchSpans?: number;
  /** Most milliseconds a span waits for its batch to fill before it is sent anyway. Default 1000. */
  readonly maxWaitMs?: number;
  /**
   * Spans held at once (waiting or in the request in flight). An export call whose spans don't
   * all fit is refused whole: its callback fails and its spans count in `droppedSpans`.
   * At least `maxBatchSpans`. Default 8192.
   */
  readonly maxQueueSpans?: number;
  /** Milliseconds one request may take, answer included. Default 10000. */
  readonly timeoutMs?: number;
  /** Retries of a request after a 429, a 5xx, a timeout or a connection error. Default 3. */
  readonly maxRetries?: number;
  /** Milliseconds before the first retry; doubled for each next one (±20% jitter). Default 500. */
  readonly retryDelayMs?: number;
  /** Longest wait before a retry, `Retry-After` included. Default 10000. */
  readonly maxRetryDelayMs?: number;
  /**
   * Milliseconds `shutdown()` may spend delivering what is held; what is left then is given up
   * (its callbacks fail, its spans count in `failedSpans`). Default 10000.
   */
  readonly shutdownTimeoutMs?: number;
  /**
   * Aborting it stops the exporter at once: requests in flight are cut, what is held is given
   * up as at the shutdown deadline, connections close. The tracer aborts it when a stop has no
   * time left.
   */
  readonly signal?: AbortSignal;
}

/** {@link WebhookExporterOptions} with every default filled in. */
export interface ResolvedWebhookOptions {
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly maxBatchSpans: number;
  readonly maxWaitMs: number;
  readonly maxQueueSpans: number;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  readonly shutdownTimeoutMs: number;
  readonly signal?: AbortSignal;
}

/** A bad option: `option` names it, the message says what it must be. */
export class WebhookOptionError extends TypeError {
  override readonly name = 'WebhookOptionError';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`webhook exporter: option '${option}' ${message}`);
  }
}

/** The numeric options: their least value and default. */
const NUMBERS = {
  maxBatchSpans: { min: 1, default: 512 },
  maxWaitMs: { min: 0, default: 1000 },
  maxQueueSpans: { min: 1, default: 8192 },
  timeoutMs: { min: 1, default: 10_000 },
  maxRetries: { min: 0, default: 3 },
  retryDelayMs: { min: 0, default: 500 },
  maxRetryDelayMs: { min: 0, default: 10_000 },
  shutdownTimeoutMs: { min: 0, default: 10_000 },
} as const;

type NumberOption = keyof typeof NUMBERS;
const KNOWN = new Set<string>(['url', 'headers', 'signal', ...Object.keys(NUMBERS)]);

/** A value as a message shows it: short, on one line. */
function shown(value: unknown): string {
  let text: string;
  try {
    text = String(JSON.stringify(value));
  } catch {
    text = typeof value;
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseUrl(value: unknown): URL {
  if (typeof value !== 'string' || value === '')
    throw new WebhookOptionError('url', `must be an http: or https: URL (got ${shown(value)})`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new WebhookOptionError('url', `is not a URL (got ${shown(value)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new WebhookOptionError('url', `must be an http: or https: URL (got ${url.protocol})`);
  return url;
}

function parseHeaders(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value))
    throw new WebhookOptionError(
      'headers',
      `must map header names to strings (got ${shown(value)})`,
    );
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
      throw new WebhookOptionError(`headers.${name}`, 'is not a valid header name');
    if (typeof v !== 'string' || /[\r\n\0]/.test(v))
      throw new WebhookOptionError(
        `headers.${name}`,
        `must be a one-line string (got ${shown(v)})`,
      );
    out[name] = v;
  }
  return out;
}

function parseNumber(name: NumberOption, value: unknown): number {
  const { min, default: fallback } = NUMBERS[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min)
    throw new WebhookOptionError(
      name,
      `must be an integer of at least ${min} (got ${shown(value)})`,
    );
  return value;
}

/** Checks `input` and fills in the defaults; throws a {@link WebhookOptionError}. */
export function resolveOptions(input: unknown): ResolvedWebhookOptions {
  if (!isRecord(input))
    throw new WebhookOptionError('(options)', `must be an object with a url (got ${shown(input)})`);
  for (const key of Object.keys(input))
    if (!KNOWN.has(key)) throw new WebhookOptionError(key, 'is not an option');
  const signal = input.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new WebhookOptionError('signal', 'must be an AbortSignal');
  const n = (name: NumberOption) => parseNumber(name, input[name]);
  const resolved = {
    url: parseUrl(input.url),
    headers: parseHeaders(input.headers),
    maxBatchSpans: n('maxBatchSpans'),
    maxWaitMs: n('maxWaitMs'),
    maxQueueSpans: n('maxQueueSpans'),
    timeoutMs: n('timeoutMs'),
    maxRetries: n('maxRetries'),
    retryDelayMs: n('retryDelayMs'),
    maxRetryDelayMs: n('maxRetryDelayMs'),
    shutdownTimeoutMs: n('shutdownTimeoutMs'),
    ...(signal ? { signal } : {}),
  };
  if (resolved.maxQueueSpans < resolved.maxBatchSpans)
    throw new WebhookOptionError(
      'maxQueueSpans',
      `must be at least maxBatchSpans (${resolved.maxBatchSpans}) (got ${resolved.maxQueueSpans})`,
    );
  return resolved;
}
