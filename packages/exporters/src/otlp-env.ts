/**
 * The standard `OTEL_EXPORTER_OTLP_*` variables (OpenTelemetry exporter specification) as
 * {@link OtlpHttpClientOptions}. A `TRACES_` variable wins over its generic form; options given
 * explicitly (the config file) win over both. An empty variable counts as unset. Bad values are a
 * one-line TracerError with ErrorCode.Config naming the variable.
 */
import { readFileSync } from 'node:fs';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';
import type { OtlpCompression, OtlpHttpClientOptions } from './otlp-http-client.js';

/** OTLP/HTTP encodings. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** The traces URL when no variable names one (the specification's default). */
export const DEFAULT_OTLP_TRACES_URL = 'http://localhost:4318/v1/traces';

const PREFIX = 'OTEL_EXPORTER_OTLP_';

/** A variable's value: `OTEL_EXPORTER_OTLP_TRACES_<suffix>`, else `OTEL_EXPORTER_OTLP_<suffix>`. */
function pick(env: NodeJS.ProcessEnv, suffix: string): { name: string; value: string } | undefined {
  for (const name of [`${PREFIX}TRACES_${suffix}`, `${PREFIX}${suffix}`]) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

function bad(name: string, value: string, why: string): TracerError {
  return new TracerError(ErrorCode.Config, `${name}=${value}: ${why}`);
}

/** The OTLP protocol the environment asks for (default http/protobuf). */
export function otlpProtocolFromEnv(env: NodeJS.ProcessEnv = process.env): OtlpProtocol {
  const v = pick(env, 'PROTOCOL');
  if (!v) return 'http/protobuf';
  const p = v.value.toLowerCase();
  if (p === 'http/protobuf' || p === 'http/json') return p;
  throw bad(v.name, v.value, 'not supported: only http/protobuf and http/json are');
}

/** True when the environment names an OTLP endpoint. */
export function otlpEndpointConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env[`${PREFIX}ENDPOINT`]?.trim() || env[`${PREFIX}TRACES_ENDPOINT`]?.trim());
}

function httpUrl(name: string, value: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw bad(name, value, 'not an http:// or https:// URL');
  }
  return url;
}

/**
 * The traces URL: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, else `OTEL_EXPORTER_OTLP_ENDPOINT`
 * with `/v1/traces` appended to its path, else {@link DEFAULT_OTLP_TRACES_URL}.
 */
export function otlpTracesUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const traces = env[`${PREFIX}TRACES_ENDPOINT`]?.trim();
  if (traces) return httpUrl(`${PREFIX}TRACES_ENDPOINT`, traces).href;
  const base = env[`${PREFIX}ENDPOINT`]?.trim();
  if (!base) return DEFAULT_OTLP_TRACES_URL;
  const url = httpUrl(`${PREFIX}ENDPOINT`, base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/traces`;
  return url.href;
}

/** `k=v,k2=v2` (values URL-decoded, both sides trimmed); throws naming `name` when malformed. */
export function parseOtlpHeaders(name: string, value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of value.split(',')) {
    if (!item.trim()) continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? '' : item.slice(0, eq).trim();
    if (!key || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key)) {
      throw bad(name, value, `'${item.trim()}' is not a key=value header`);
    }
    try {
      out[key] = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      throw bad(name, value, `the value of '${key}' is not valid URL encoding`);
    }
  }
  return out;
}

function headersFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [`${PREFIX}HEADERS`, `${PREFIX}TRACES_HEADERS`]) {
    const v = env[name]?.trim();
    if (v) Object.assign(out, parseOtlpHeaders(name, v));
  }
  return out;
}

function compressionFromEnv(env: NodeJS.ProcessEnv): OtlpCompression | undefined {
  const v = pick(env, 'COMPRESSION');
  if (!v) return undefined;
  const c = v.value.toLowerCase();
  if (c === 'gzip' || c === 'none') return c;
  throw bad(v.name, v.value, 'expected gzip or none');
}

function timeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const v = pick(env, 'TIMEOUT');
  if (!v) return undefined;
  const ms = Number(v.value);
  if (!/^\d+(\.\d+)?$/.test(v.value) || !(ms > 0)) {
    throw bad(v.name, v.value, 'expected a timeout in milliseconds (a positive number)');
  }
  return ms;
}

/** Reads a file; the default is fs.readFileSync. */
export type ReadFile = (path: string) => Buffer;

function fileFromEnv(env: NodeJS.ProcessEnv, suffix: string, read: ReadFile): Buffer | undefined {
  const v = pick(env, suffix);
  if (!v) return undefined;
  try {
    return read(v.value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : `can't be read (${code ?? String(err)})`;
    throw bad(v.name, v.value, why);
  }
}

/** Options of {@link otlpClientOptionsFrom}. */
export interface OtlpClientOptionsSources {
  /** Given explicitly (from the config file); each field set here wins over the environment. */
  readonly explicit?: Partial<OtlpHttpClientOptions>;
  /** Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** How certificate files are read. Default fs.readFileSync. */
  readonly readFile?: (path: string) => Buffer;
}

/**
 * Client options from explicit options over the `OTEL_EXPORTER_OTLP_*` variables: endpoint,
 * protocol, headers (merged: generic, then TRACES_, then explicit, later keys winning),
 * compression, timeout, CA certificate, client certificate and key. Throws a one-line
 * TracerError (ErrorCode.Config) for a bad value or an unreadable certificate file.
 */
export function otlpClientOptionsFrom(
  sources: OtlpClientOptionsSources = {},
): OtlpHttpClientOptions {
  const env = sources.env ?? process.env;
  const read = sources.readFile ?? ((p: string) => readFileSync(p));
  const x = sources.explicit ?? {};
  const headers = { ...headersFromEnv(env), ...x.headers };
  const compression = x.compression ?? compressionFromEnv(env);
  const timeoutMs = x.timeoutMs ?? timeoutFromEnv(env);
  const ca = x.ca ?? fileFromEnv(env, 'CERTIFICATE', read);
  const explicitClient = x.cert !== undefined || x.key !== undefined;
  const cert = explicitClient ? x.cert : fileFromEnv(env, 'CLIENT_CERTIFICATE', read);
  const key = explicitClient ? x.key : fileFromEnv(env, 'CLIENT_KEY', read);
  return {
    ...x,
    url: x.url ?? otlpTracesUrlFromEnv(env),
    protocol: x.protocol ?? otlpProtocolFromEnv(env),
    headers,
    ...(compression ? { compression } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
  };
}
