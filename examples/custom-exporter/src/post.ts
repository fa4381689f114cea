/**
 * One POST of a request body with Node's own `http`/`https`: the answer's status, or why there
 * was none, and whether trying again may help.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** How one request ended. */
export type PostOutcome =
  | { readonly ok: true; readonly status: number }
  | {
      readonly ok: false;
      /** A 429, a 5xx, a timeout or a connection error: the same request may succeed later. */
      readonly retryable: boolean;
      /** Milliseconds the webhook asked to wait (`Retry-After`), when it did. */
      readonly retryAfterMs?: number;
      readonly error: Error;
    };

/** A keep-alive connection pool for `url`'s scheme. */
export function agentFor(url: URL): HttpAgent {
  return url.protocol === 'https:'
    ? new HttpsAgent({ keepAlive: true })
    : new HttpAgent({ keepAlive: true });
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds from now. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function answered(res: IncomingMessage): PostOutcome {
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return { ok: true, status };
  const after = retryAfterMs(res.headers['retry-after']);
  return {
    ok: false,
    retryable: status === 429 || status >= 500,
    ...(after !== undefined ? { retryAfterMs: after } : {}),
    error: new Error(
      `webhook answered ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`,
    ),
  };
}

/** What {@link post} sends and how long it may take. */
export interface PostRequest {
  readonly url: URL;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly agent: HttpAgent;
  readonly timeoutMs: number;
  /** Aborting it cuts the request; the outcome is then not retryable. */
  readonly signal: AbortSignal;
}

/** POSTs `body` as NDJSON; never rejects. */
export function post(req: PostRequest): Promise<PostOutcome> {
  const send = req.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const fail = (error: Error, retryable: boolean) => {
      settle({ ok: false, retryable, error });
      outgoing.destroy();
    };
    const onAbort = () => fail(new Error('webhook exporter stopped'), false);
    const timer = setTimeout(
      () => fail(new Error(`webhook gave no answer within ${req.timeoutMs} ms`), true),
      req.timeoutMs,
    );
    const outgoing = send(
      req.url,
      {
        method: 'POST',
        agent: req.agent,
        headers: {
          ...req.headers,
          'content-type': 'application/x-ndjson',
          'content-length': Buffer.byteLength(req.body),
        },
      },
      (res) => {
        // The body is read to its end (and ignored) so the connection can be used again.
        res.resume();
        res.once('end', () => settle(answered(res)));
        res.on('error', (err) => fail(err, true));
      },
    );
    outgoing.on('error', (err) => fail(err, true));
    if (req.signal.aborted) return onAbort();
    req.signal.addEventListener('abort', onAbort, { once: true });
    outgoing.end(req.body);
  });
}
