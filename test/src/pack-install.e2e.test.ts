/**
 * The library packages as an embedder gets them. A copy of this working tree with nothing built
 * in it (what `git ls-files` lists, as a fresh clone has) is installed and each library package
 * is packed there, so its prepack has to build everything its tarball needs (bpf-source's BPF
 * objects included). The tarballs go into an empty npm project with the peer dependencies; the
 * root README's TypeScript blocks are type-checked there against the installed declarations,
 * and its recording example (the block starting `// embed.ts`) is run on
 * test/fixtures/python-http.rec. No privileges and no capture: the registry is used (npm), and
 * the BPF toolchain (clang, bpftool) for the objects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from './harness.js';

const LIBRARIES = ['core', 'bpf-source', 'parsers', 'exporters', 'k8s-enricher'];
const FIXTURE = join(ROOT, 'test', 'fixtures', 'python-http.rec');
const EMBED_MARKER = '// embed.ts';

/** Runs a command to completion; fails the test with its output if it exits non-zero. */
function run(cmd: string, args: string[], options: SpawnSyncOptions & { cwd: string }): string {
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    timeout: 5 * 60_000,
    ...options,
    env: {
      ...process.env,
      COREPACK_INTEGRITY_KEYS: '0',
      COREPACK_ENABLE_DOWNLOAD_PROMPT: '0',
      npm_config_update_notifier: 'false',
      ...options.env,
    },
  });
  const out = `${String(r.stdout ?? '')}${String(r.stderr ?? '')}`;
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${options.cwd}) failed:\n${out}`);
  return String(r.stdout);
}

/** The files a fresh clone of this working tree has (tracked and new, not ignored). */
function copyWorkingTree(to: string): void {
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
  })
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    const from = join(ROOT, f);
    if (!existsSync(from)) continue; // deleted in the working tree
    mkdirSync(dirname(join(to, f)), { recursive: true });
    copyFileSync(from, join(to, f));
  }
}

/** The `ts` fenced blocks of a Markdown text. */
function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** The exact version a workspace package.json pins for `dep`. */
function pinned(packageJson: string, dep: string): string {
  const p = JSON.parse(readFileSync(join(ROOT, packageJson), 'utf8')) as Record<
    string,
    Record<string, string> | undefined
  >;
  const v = p.devDependencies?.[dep] ?? p.dependencies?.[dep];
  assert.ok(v && /^\d/.test(v), `${packageJson} pins no version of ${dep}`);
  return v;
}

/** The lowest version a range like `^7.8.0` or `>=1.3.0 <1.10.0` admits. */
function floor(range: string): string {
  const m = /^(?:\^|>=)?(\d+\.\d+\.\d+)(?:\s|$)/.exec(range);
  assert.ok(m, `peer range ${range} has no plain lower bound`);
  return m[1]!;
}

function missingTools(tools: string[]): string[] {
  return tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
}

test(
  'packed library packages install into an empty project and run the README embedding example',
  { timeout: 15 * 60_000 },
  (t) => {
    const missing = missingTools(['git', 'npm', 'corepack', 'tar', 'clang', 'bpftool']);
    if (missing.length > 0) {
      const reason = `pack-and-install test needs ${missing.join(', ')}`;
      if (process.env.CI) throw new Error(`${reason} (CI=true: not skipping)`);
      t.skip(reason);
      return;
    }
    const tmp = mkdtempSync(join(tmpdir(), 'te-pack-'));
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    const clone = join(tmp, 'clone');
    const tarballs = join(tmp, 'tarballs');
    const app = join(tmp, 'app');

    // A fresh clone's tree: no dist/, no BPF objects, no node_modules.
    copyWorkingTree(clone);
    assert.ok(!existsSync(join(clone, 'packages', 'core', 'dist')));
    assert.ok(!existsSync(join(clone, 'packages', 'bpf-source', 'bpf')));
    run(
      'corepack',
      ['pnpm', 'install', '--frozen-lockfile', '--prefer-offline', '--reporter=silent'],
      { cwd: clone },
    );
    for (const name of LIBRARIES)
      run('corepack', ['pnpm', 'pack', '--pack-destination', tarballs], {
        cwd: join(clone, 'packages', name),
      });

    const tgz = (name: string) => {
      const { version } = JSON.parse(
        readFileSync(join(clone, 'packages', name, 'package.json'), 'utf8'),
      ) as { version: string };
      return join(tarballs, `traceable-ebpf-${name}-${version}.tgz`);
    };
    const peers = new Map<string, string>();
    for (const name of LIBRARIES) {
      const entries = run('tar', ['-tzf', tgz(name)], { cwd: tmp })
        .trim()
        .split('\n');
      for (const f of ['dist/index.js', 'dist/index.d.ts', 'package.json', 'README.md'])
        assert.ok(entries.includes(`package/${f}`), `${name}'s tarball has no ${f}`);
      // Test helpers ship only where they are a documented export (k8s-enricher/testing).
      const helpersExported = name === 'k8s-enricher';
      assert.deepEqual(
        entries.filter((e) => /\.test\./.test(e) || (!helpersExported && /\/testing\//.test(e))),
        [],
        `${name}'s tarball ships tests or test helpers`,
      );
      const manifest = JSON.parse(
        run('tar', ['-xzOf', tgz(name), 'package/package.json'], { cwd: tmp }),
      ) as { dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
      assert.ok(!JSON.stringify(manifest).includes('workspace:'), `${name}: workspace: range left`);
      assert.equal(manifest.dependencies?.rxjs, undefined, `${name}: rxjs is a dependency`);
      assert.ok(manifest.peerDependencies?.rxjs, `${name}: rxjs is not a peer dependency`);
      for (const [peer, range] of Object.entries(manifest.peerDependencies ?? {})) {
        assert.ok(!peers.has(peer) || peers.get(peer) === range, `${peer}: two peer ranges`);
        peers.set(peer, range);
      }
    }
    // k8s-enricher's `./testing` export (the fake API server) is documented, so it ships.
    const k8sEntries = run('tar', ['-tzf', tgz('k8s-enricher')], { cwd: tmp });
    assert.match(k8sEntries, /^package\/dist\/testing\/fake-api-server\.js$/m);
    // bpf-source ships both BPF objects, where bpfSource looks for them: ELF files for EM_BPF.
    const objects = join(tmp, 'objects');
    mkdirSync(objects);
    run('tar', ['-xzf', tgz('bpf-source'), '-C', objects, 'package/bpf'], { cwd: tmp });
    for (const o of ['tracer.bpf.o', 'tracer-perfbuf.bpf.o']) {
      const elf = readFileSync(join(objects, 'package', 'bpf', o));
      assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF', `${o} is not ELF`);
      assert.equal(elf.readUInt16LE(18), 247, `${o} is not a BPF object (e_machine)`);
    }

    // An empty project, as an embedder starts one.
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'embed-check', private: true, type: 'module' }, null, 2)}\n`,
    );
    run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        ...LIBRARIES.map(tgz),
        // The oldest peers the packages admit, older than the workspace's: the app's copies
        // must be the ones used, and must be enough.
        ...[...peers].map(([peer, range]) => `${peer}@${floor(range)}`),
        `typescript@${pinned('package.json', 'typescript')}`,
        `@types/node@${pinned('package.json', '@types/node')}`,
      ],
      { cwd: app, timeout: 10 * 60_000 },
    );
    assert.deepEqual([...peers.keys()].sort(), ['@opentelemetry/api', 'rxjs']);
    // One copy of each peer: the app's.
    for (const peer of peers.keys()) {
      const copies = new Set(
        run('npm', ['ls', peer, '--all', '--parseable'], { cwd: app }).trim().split('\n'),
      );
      assert.deepEqual([...copies], [join(app, 'node_modules', peer)], `copies of ${peer}`);
    }

    // The README's TypeScript, type-checked (library declarations included) against the
    // installed packages; the recording example is run.
    const blocks = tsBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    const embed = blocks.filter((b) => b.startsWith(EMBED_MARKER));
    assert.equal(embed.length, 1, `README.md has one \`\`\`ts block starting ${EMBED_MARKER}`);
    const files = blocks.map((b, i) => (b === embed[0] ? 'embed.ts' : `readme-${i}.ts`));
    blocks.forEach((b, i) => writeFileSync(join(app, files[i]!), b));
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          types: ['node'],
          skipLibCheck: false,
          outDir: 'out',
        },
        files,
      }),
    );
    run(join(app, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: app });
    assert.deepEqual(
      readdirSync(join(app, 'out')).sort(),
      files.map((f) => f.replace(/\.ts$/, '.js')).sort(),
    );

    const lines = run(process.execPath, [join('out', 'embed.js'), FIXTURE], {
      cwd: app,
      timeout: 60_000,
    })
      .trim()
      .split('\n');
    assert.equal(lines.at(-1), '3 spans, 0 undelivered');
    const spans = lines.slice(0, -1).map((l) => {
      const m = /^(\S+) (\S+) (\S+) -> (\S+)$/.exec(l);
      assert.ok(m, `unexpected line: ${l}`);
      return m.slice(1);
    });
    assert.deepEqual(
      spans.map(([, method, path, status]) => [method, path, status]),
      [
        ['GET', '/hello.txt', '200'],
        ['GET', '/missing', '404'],
        ['POST', '/hello.txt', '501'],
      ],
    );
    // Times from the recording's clock (recorded 2026-11-24), not from now.
    for (const [at] of spans) assert.match(at!, /^2026-11-24T22:08:/);
  },
);
