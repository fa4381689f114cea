/**
 * The reference tracer's image, end to end: the Dockerfile is built with podman (on a locally
 * made Node 20 bookworm base, `scripts/build-base-image.sh`), and the container, run privileged
 * in the host's pid namespace as the DaemonSet runs it, captures a host nginx's requests into
 * spans. Needs podman, runc and mmdebstrap (apt), a Debian mirror and the npm registry; the base
 * image and podman's layer cache are kept between runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  writeFileSync,
  mkdirSync,
  chmodSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT,
  freePort,
  kernelTestsPossible,
  kill,
  run,
  startNginx,
  waitForOutput,
} from './harness.js';

const IMAGE = 'localhost/traceable-ebpf/ebpf-tracer:test';
const env = { ...process.env, CONTAINERS_CONF: join(ROOT, 'test/containers.conf') };

/** Runs a command to completion with a generous limit; throws with its output on failure. */
function step(cmd: string, args: string[], timeoutMs: number): string {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    env,
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${(r.stderr ?? '').slice(-4000)}${(r.stdout ?? '').slice(-2000)}`,
    );
  return r.stdout;
}

// A first build downloads a compiler and the npm dependencies: minutes, not the e2e default.
test(
  'the Dockerfile builds, and its container (privileged, host pid namespace) captures a host nginx into spans',
  { timeout: 30 * 60_000 },
  async (t) => {
    if (!kernelTestsPossible(t, ['podman', 'runc', 'mmdebstrap', 'npm', 'curl', 'nginx'])) return;
    const base = step('bash', [join(ROOT, 'scripts/build-base-image.sh')], 15 * 60_000).trim();
    step(
      'podman',
      [
        'build',
        '--isolation',
        'chroot',
        '--build-arg',
        `BASE=${base}`,
        // A machine behind a TLS-inspecting proxy trusts its CA through this variable: so does
        // the build (the npm registry), as a build secret.
        ...(process.env.NODE_EXTRA_CA_CERTS
          ? ['--secret', `id=ca,src=${process.env.NODE_EXTRA_CA_CERTS}`]
          : []),
        '-f',
        join(ROOT, 'examples/daemonset-tracer/Dockerfile'),
        '-t',
        IMAGE,
        ROOT,
      ],
      30 * 60_000,
    );
    // Only production files in the image: the tracer, its packages, the BPF object.
    const listing = step(
      'podman',
      [
        'run',
        '--rm',
        '--entrypoint',
        'sh',
        IMAGE,
        '-c',
        'cd /opt/traceable-ebpf && ls && ls node_modules/@traceable-ebpf && find / -name tracer.bpf.o -not -path "/proc/*" 2>/dev/null; command -v clang || echo no-clang',
      ],
      60_000,
    );
    assert.match(listing, /bin\n/);
    assert.match(listing, /bpf-source/);
    assert.match(listing, /tracer\.bpf\.o/);
    assert.match(listing, /no-clang/);

    const dir = mkdtempSync(join(tmpdir(), 'te-image-'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'www'));
    writeFileSync(join(dir, 'www', 'hello.txt'), 'hello from the host');
    const port = await freePort();
    const { nginx, workers } = await startNginx(dir, port);
    t.after(() => kill(nginx));
    const out = join(dir, 'out');
    mkdirSync(out);
    const name = `te-image-${process.pid}`;
    const container = spawn(
      'podman',
      [
        'run',
        '--rm',
        '--name',
        name,
        '--privileged',
        '--pid=host',
        '--network=host',
        '-v',
        '/sys/kernel/btf:/sys/kernel/btf:ro',
        '-v',
        '/sys/kernel/tracing:/sys/kernel/tracing',
        '-v',
        `${out}:/out`,
        IMAGE,
        ...workers.flatMap((w) => ['--pid', String(w)]),
        '--exporter',
        'jsonl',
        '--output',
        '/out/spans.jsonl',
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    container.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    t.after(() => {
      spawnSync('podman', ['rm', '-f', name], { env });
    });
    await waitForOutput(container, 'stderr', 'tracer ready', 60_000);
    for (const path of ['/hello.txt', '/missing', '/hello.txt?x=1'])
      run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${port}${path}`]);
    const exited = new Promise<number | null>((resolve) =>
      container.once('exit', (code) => resolve(code)),
    );
    step('podman', ['stop', '--time', '20', name], 60_000);
    assert.equal(await exited, 0, stderr);
    const file = join(out, 'spans.jsonl');
    assert.ok(existsSync(file), stderr);
    const spans = readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            attributes: Record<string, unknown>;
            resource: Record<string, unknown>;
          },
      );
    assert.deepEqual(
      spans
        .map(
          (s) =>
            `${String(s.attributes['url.path'])} ${String(s.attributes['http.response.status_code'])}`,
        )
        .sort(),
      ['/hello.txt 200', '/hello.txt 200', '/missing 404'],
    );
    assert.ok(spans.every((s) => workers.includes(Number(s.resource['process.pid']))));
  },
);
