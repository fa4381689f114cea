/**
 * Helpers for kernel end-to-end tests: the privilege gate (a failure in CI, a skip elsewhere),
 * the real tracer CLI as a child process, real servers and clients, free ports.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The reference tracer's CLI. */
export const TRACER_BIN = `${ROOT}examples/daemonset-tracer/bin/ebpf-tracer.js`;

/**
 * True when kernel tests can run. In CI a missing privilege or tool fails the test; elsewhere
 * the test is skipped with the reason.
 */
export function kernelTestsPossible(t: TestContext, tools: string[] = []): boolean {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  for (const tool of tools)
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) missing.push(tool);
  if (missing.length === 0) return true;
  const reason = `kernel end-to-end test needs ${missing.join(', ')}`;
  if (process.env.CI) throw new Error(`${reason} (CI=true: not skipping)`);
  t.skip(reason);
  return false;
}

/** A free TCP port on 127.0.0.1, outside the range the kernel picks client ports from. */
export async function freePort(): Promise<number> {
  // Below the kernel's ephemeral range (ip_local_port_range, 32768–60999 by default): a port the
  // kernel handed out for listen(0) can be handed to a client's connect() before the server
  // that was meant to have it binds it (seen once with grpc: 'Address already in use').
  const range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/);
  const ephemeralLow = Number(range[0]) || 32768;
  const low = Math.max(1024, Math.min(20000, ephemeralLow - 4096));
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (ephemeralLow - low));
    const srv = createServer();
    const ok = await new Promise<boolean>((r) => {
      srv.once('error', () => r(false));
      srv.listen(port, '127.0.0.1', () => r(true));
    });
    if (ok) {
      await new Promise<void>((r) => srv.close(() => r()));
      return port;
    }
  }
  throw new Error('no free port below the ephemeral range');
}

/** Resolves when `text` has appeared in what `child` wrote to `stream` (rejects after `ms`). */
export function waitForOutput(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  text: string | RegExp,
  ms = 20_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${String(text)}; got: ${seen.slice(-2000)}`)),
      ms,
    );
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (typeof text === 'string' ? seen.includes(text) : text.test(seen)) {
        clearTimeout(timer);
        child[stream]!.off('data', onData);
        resolve(seen);
      }
    };
    child[stream]!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before ${String(text)}: ${seen.slice(-2000)}`));
    });
  });
}

/** Resolves when a TCP connect to 127.0.0.1:port succeeds. */
export async function waitForPort(port: number, ms = 10_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A running tracer CLI. */
export interface TracerProcess {
  readonly child: ChildProcess;
  stderr(): string;
  /** SIGTERM, then the exit code (the tracer flushes its exporter first). */
  stop(): Promise<number | null>;
}

/**
 * Runs `ebpf-tracer` on `pids` and resolves once it logs `tracer ready`: its probes are attached
 * and the initial capture policy is in the kernel, so a request started now is reported.
 */
export async function startTracer(
  pids: number[],
  env: Record<string, string>,
  extraArgs: string[] = [],
): Promise<TracerProcess> {
  const args = [TRACER_BIN, ...pids.flatMap((p) => ['--pid', String(p)]), ...extraArgs];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  await waitForOutput(child, 'stderr', 'tracer ready');
  return {
    child,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

/** Runs a command to completion; throws with its output if it fails. */
export function run(cmd: string, args: string[], opts: { input?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Kills a child and waits for it to go. */
export function kill(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Runs the tracer CLI as user nobody with no capabilities, as an unprivileged user would. */
export function runTracerAsNobody(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      '--inh-caps=-all',
      process.execPath,
      TRACER_BIN,
      ...args,
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
}

/**
 * Starts nginx (2 workers, sendfile on as Debian ships it) serving `dir`/www on 127.0.0.1:`port`;
 * resolves once both workers are up.
 */
export async function startNginx(
  dir: string,
  port: number,
): Promise<{ nginx: ChildProcess; workers: number[] }> {
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `user root;
worker_processes 2;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on; tcp_nopush on;   # as Debian ships it: file bodies never pass through user memory
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server { listen 127.0.0.1:${port}; root ${dir}/www; keepalive_requests 1000; }
}
`,
  );
  const nginx = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'ignore' });
  await waitForPort(port);
  // The port opens before the master has forked both workers: wait for them.
  let workers: number[] = [];
  for (let i = 0; i < 100 && workers.length < 2; i++) {
    workers = readFileSync(`/proc/${nginx.pid}/task/${nginx.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    if (workers.length < 2) await new Promise((r) => setTimeout(r, 50));
  }
  if (workers.length < 2) throw new Error(`nginx started ${workers.length} of 2 workers`);
  return { nginx, workers };
}
