// A private nginx for the benchmarks: its own directory, config and port; stopped when the
// benchmark process exits.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/**
 * The config of a null OTLP collector on `port`: 200 to every request, the body read and
 * discarded, logs in `dir`.
 */
export function nullCollectorConfig(dir, port) {
  return `worker_processes 1; daemon off; master_process off; pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off; client_body_temp_path ${dir}/body; client_max_body_size 64m;
  client_body_buffer_size 4m;
  server { listen 127.0.0.1:${port}; keepalive_requests 100000;
    location / { return 200; } }
}
`;
}

/** Resolves once 127.0.0.1:`port` accepts a connection (polled every 50 ms, 5 s at most). */
async function listening(port) {
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * Starts nginx with `config` (written to `dir`/nginx.conf) and resolves with its process once
 * it listens on `port`; throws naming its error log if it never does.
 */
export async function startNginx(dir, config, port) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), config);
  const child = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  process.on('exit', () => child.kill());
  if (!(await listening(port)))
    throw new Error(`nginx did not start on ${port}: see ${dir}/error.log`);
  return child;
}
