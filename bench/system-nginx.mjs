// The system nginx the benchmarks load (stock Debian config) and wrk, its load.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/**
 * The pid of the system nginx's master (its command line is exactly `nginx: master process
 * nginx`, unlike the null collector's or a test's private nginx), started if it isn't running,
 * with the small page the benchmarks fetch written to its document root.
 */
export function systemNginx() {
  const find = () =>
    spawnSync('pgrep', ['-o', '-f', '^nginx: master process nginx$'], {
      encoding: 'utf8',
    }).stdout.trim();
  let pid = find();
  if (!pid) {
    execFileSync('nginx');
    pid = find();
  }
  writeFileSync('/var/www/html/bench.html', '<p>bench</p>\n');
  return Number(pid);
}

/** `wrk -t2 -c20` on that page for `seconds`: requests/s and requests completed. */
export function wrk(seconds) {
  const out = execFileSync('wrk', [
    '-t2',
    '-c20',
    `-d${seconds}s`,
    'http://127.0.0.1/bench.html',
  ]).toString();
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    requests: Number(/(\d+) requests in/.exec(out)[1]),
  };
}
