/**
 * The tracer's health endpoints for Kubernetes probes: `/readyz` answers 200 once `tracer
 * ready` has been logged (probes attached, the first capture policy in the kernel) and 503
 * before it and while stopping; `/healthz` answers 200 while the pipeline runs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

/** What the endpoints report, read on each request. */
export interface HealthState {
  /** `tracer ready` was logged and no stop has begun. */
  ready(): boolean;
  /** The pipeline runs (not failed, not stopped). */
  live(): boolean;
}

/** A running health server. */
export interface HealthServer {
  /** The port it listens on (the configured one, or the one the system chose for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Options of {@link startHealthServer}. */
export interface HealthServerOptions {
  /** Default: every address (`::` dual-stack where IPv6 is available, else `0.0.0.0`). */
  readonly address?: string;
  readonly port: number;
  readonly state: HealthState;
}

/**
 * Listens on `address:port`. Resolves once listening; rejects with a one-line TracerError when
 * the port can't be had (in use, not allowed).
 */
export function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { state } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (ok: boolean, what: string) => {
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${ok ? 'ok' : 'not'} ${what}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/readyz') {
      answer(state.ready(), 'ready');
    } else if (path === '/healthz' || path === '/livez') {
      answer(state.live(), 'live');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    }
  });
  // Probes only: a slow or idle client never holds the tracer's stop.
  server.keepAliveTimeout = 1000;
  server.headersTimeout = 5000;
  server.requestTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new TracerError(
          ErrorCode.Config,
          `health.port ${options.port}${options.address ? ` on ${options.address}` : ''}: ${err.code ?? err.message}`,
        ),
      ),
    );
    server.listen(options.port, options.address, () => {
      server.unref();
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
