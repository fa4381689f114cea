/**
 * A {@link Sender} over node:http / node:https: POSTs encoded `ExportTraceServiceRequest`s to
 * an OTLP/HTTP traces URL on one keep-alive agent, and classifies each answer by the OTLP/HTTP
 * specification (2xx ok with `partial_success`; 429, 502, 503, 504, connection errors, timeouts
 * and aborts retryable with `Retry-After`; anything else rejected, with the collector's message).
 */
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';
import type { SendOutcome, Sender } from './delivery-types.js';
import type { OtlpProtocol } from './otlp-env.js';
import {
  errorMessageFromBody,
  oneLine,
  partialSuccessFromJson,
  partialSuccessFromProto,
  type BodyFormat,
} from './otlp-response.js';
import { parseRetryAfter } from './retry-policy.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Transfer compression of request bodies. */
export type OtlpCompression = 'gzip' | 'none';

/** Options of {@link createOtlpHttpClient}. */
export interface OtlpHttpClientOptions {
  /** The full traces URL (`http(s)://host:port/v1/traces`). */
  readonly url: string;
  /** Body encoding, which sets the content-type. Default http/protobuf. */
  readonly protocol?: OtlpProtocol;
  /** Extra request headers (e.g. an API token). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Default none (as the OTLP specification). gzip compresses on the zlib thread pool. */
  readonly compression?: OtlpCompression;
  /** Per request, from sending to the answer's last byte. Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** Sockets the agent opens at most: the requests in flight. Default 2. */
  readonly maxSockets?: number;
  /** CA certificate(s) to trust, PEM (https). Default: Node's bundled roots. */
  readonly ca?: Buffer | string | ReadonlyArray<Buffer | string>;
  /** Client certificate, PEM, for mutual TLS (with `key`). */
  readonly cert?: Buffer | string;
  /** Client private key, PEM, for mutual TLS (with `cert`). */
  readonly key?: Buffer | string;
  /** Most response-body bytes read (the rest is discarded). Default 64 KiB. */
  readonly maxResponseBytes?: number;
}

/** The default per-request timeout. */
export const DEFAULT_OTLP_TIMEOUT_MS = 10_000;
/** The default bound on response bytes read. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const USER_AGENT = 'traceable-ebpf-otlp-exporter/0.1';

function configError(message: string): TracerError {
  return new TracerError(ErrorCode.Config, message);
}

/** The body format a response declares, else the one the request used. */
function responseFormat(contentType: string | undefined, protocol: OtlpProtocol): BodyFormat {
  const ct = (contentType ?? '').toLowerCase();
  if (ct.includes('json')) return 'json';
  if (ct.includes('protobuf')) return 'protobuf';
  if (ct.startsWith('text/')) return 'text';
  return protocol === 'http/json' ? 'json' : 'protobuf';
}

/** A failed request (no answer) as an outcome. */
function requestError(err: unknown, aborted: boolean, timedOut: boolean, timeoutMs: number) {
  if (timedOut) return { kind: 'retryable', message: `no answer within ${timeoutMs} ms` } as const;
  if (aborted) return { kind: 'retryable', message: 'aborted' } as const;
  const e = err as NodeJS.ErrnoException | undefined;
  const message = oneLine(String(e?.message ?? e ?? 'request failed')) || 'request failed';
  return { kind: 'retryable', message } as const;
}

/**
 * An OTLP/HTTP {@link Sender}. Throws a one-line TracerError (ErrorCode.Config) for a URL that
 * isn't http(s) or options that don't fit together; after that every failure is an outcome.
 */
export function createOtlpHttpClient(options: OtlpHttpClientOptions): Sender {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw configError(`OTLP endpoint '${options.url}' is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw configError(`OTLP endpoint '${options.url}' must start with http:// or https://`);
  }
  if (Boolean(options.cert) !== Boolean(options.key)) {
    throw configError('an OTLP client certificate and its key go together: give both or neither');
  }
  const protocol = options.protocol ?? 'http/protobuf';
  const gz = (options.compression ?? 'none') === 'gzip';
  const timeoutMs = options.timeoutMs ?? DEFAULT_OTLP_TIMEOUT_MS;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const secure = url.protocol === 'https:';
  const agentOptions = {
    keepAlive: true,
    maxSockets: Math.max(1, options.maxSockets ?? 2),
    // Idle sockets beyond what's in flight aren't worth keeping.
    maxFreeSockets: Math.max(1, options.maxSockets ?? 2),
  };
  const agent = secure
    ? new https.Agent({
        ...agentOptions,
        ...(options.ca ? { ca: options.ca as string | Buffer | Array<string | Buffer> } : {}),
        ...(options.cert ? { cert: options.cert, key: options.key } : {}),
      })
    : new http.Agent(agentOptions);
  const request = secure ? https.request : http.request;

  const baseHeaders: Record<string, string> = { 'user-agent': USER_AGENT };
  for (const [k, v] of Object.entries(options.headers ?? {})) baseHeaders[k.toLowerCase()] = v;
  baseHeaders['content-type'] =
    protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
  if (gz) baseHeaders['content-encoding'] = 'gzip';

  let closed = false;

  async function classify(
    res: http.IncomingMessage,
    raw: Buffer,
    truncated: boolean,
  ): Promise<SendOutcome> {
    const status = res.statusCode ?? 0;
    let body: Uint8Array = raw;
    if (!truncated && /gzip/i.test(String(res.headers['content-encoding'] ?? ''))) {
      body = await gunzipAsync(raw, { maxOutputLength: maxResponseBytes }).catch(
        () => new Uint8Array(),
      );
    }
    const format = responseFormat(res.headers['content-type'], protocol);
    if (status >= 200 && status < 300) {
      if (truncated || body.length === 0) return { kind: 'ok', rejectedSpans: 0 };
      const ps = format === 'json' ? partialSuccessFromJson(body) : partialSuccessFromProto(body);
      return { kind: 'ok', ...ps };
    }
    const text = errorMessageFromBody(body, format);
    const message = text ?? `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
    if (RETRYABLE_STATUS.has(status)) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      return retryAfterMs === undefined
        ? { kind: 'retryable', status, message }
        : { kind: 'retryable', status, message, retryAfterMs };
    }
    return { kind: 'rejected', status, message };
  }

  async function send(body: Uint8Array, signal?: AbortSignal): Promise<SendOutcome> {
    if (closed) return { kind: 'retryable', message: 'the OTLP client is closed' };
    if (signal?.aborted) return { kind: 'retryable', message: 'aborted' };
    let payload: Uint8Array;
    try {
      payload = gz ? await gzipAsync(body) : body;
    } catch (err) {
      return { kind: 'retryable', message: `gzip failed: ${oneLine(String(err))}` };
    }
    if (signal?.aborted) return { kind: 'retryable', message: 'aborted' };
    return new Promise<SendOutcome>((resolve) => {
      let settled = false;
      let timedOut = false;
      let aborted = false;
      const finish = (outcome: SendOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const req = request(url, {
        method: 'POST',
        agent,
        headers: { ...baseHeaders, 'content-length': String(payload.byteLength) },
      });
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy(new Error('timeout'));
      }, timeoutMs);
      const onAbort = () => {
        aborted = true;
        req.destroy(new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let responded = false;
      req.on('error', (err) => {
        // Once an answer came, its body's 'close' and 'error' tell how it ended.
        if (!responded) finish(requestError(err, aborted, timedOut, timeoutMs));
      });
      req.on('response', (res) => {
        responded = true;
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        const done = () => {
          const raw = Buffer.concat(chunks);
          void classify(res, raw, truncated).then(finish, () =>
            finish({ kind: 'ok', rejectedSpans: 0 }),
          );
        };
        res.on('data', (chunk: Buffer) => {
          if (truncated) return;
          size += chunk.length;
          if (size > maxResponseBytes) {
            // Enough to classify; not worth reading on: drop this socket instead.
            truncated = true;
            chunks.push(chunk.subarray(0, chunk.length - (size - maxResponseBytes)));
            res.destroy();
            done();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', done);
        res.on('error', (err) => {
          if (!truncated) finish(requestError(err, aborted, timedOut, timeoutMs));
        });
        res.on('close', () => {
          if (!truncated && !res.complete) {
            finish(
              requestError(new Error('connection closed mid-answer'), aborted, timedOut, timeoutMs),
            );
          }
        });
      });
      req.end(payload);
    });
  }

  return {
    send,
    close() {
      if (closed) return;
      closed = true;
      agent.destroy();
    },
  };
}
