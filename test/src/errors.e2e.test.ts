/**
 * What a user sees when the machine can't run the tracer: one line, a non-zero exit, no stack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { ErrorCode, isTracerError } from '@traceable-ebpf/core';
import { bpfSource } from '@traceable-ebpf/bpf-source';
import { ROOT, kernelTestsPossible, runTracerAsNobody } from './harness.js';

const FIXTURE = `${ROOT}test/fixtures/half-object.bpf.c`;

test('without root: one clear line and exit 1', (t) => {
  if (!kernelTestsPossible(t, ['setpriv'])) return;
  // Drop to nobody with no capabilities, as an unprivileged user would run it.
  const r = runTracerAsNobody(['--pid', String(process.pid)]);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    'ebpf-tracer: error: eBPF needs root (or CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN): run the tracer with sudo\n',
  );
});

test('without kernel BTF: a TracerError naming the OS and kernel', async (t) => {
  if (!kernelTestsPossible(t)) return;
  await assert.rejects(
    lastValueFrom(bpfSource({ pids: [process.pid], btfPath: '/nonexistent/vmlinux' })),
    (err: unknown) => {
      assert.ok(isTracerError(err));
      assert.equal(err.code, ErrorCode.NoBtf);
      assert.match(
        err.message,
        /^no kernel BTF at \/nonexistent\/vmlinux on .+ \(kernel \d+\.\d+[^)]*\): /,
      );
      assert.doesNotMatch(err.message, /\n/);
      return true;
    },
  );
});

test('a missing BPF object: a TracerError saying how to build it', async (t) => {
  if (!kernelTestsPossible(t)) return;
  await assert.rejects(
    lastValueFrom(bpfSource({ pids: [process.pid], objectPath: '/nonexistent/tracer.bpf.o' })),
    (err: unknown) => {
      assert.ok(isTracerError(err));
      assert.equal(err.code, ErrorCode.NoBpfObject);
      assert.equal(err.message, 'BPF object /nonexistent/tracer.bpf.o not found: run pnpm build');
      return true;
    },
  );
});

/** The process's open BPF objects (maps, programs, BTF), by kind. */
function bpfFds(): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile (readdir's own fd)
    }
    if (/^anon_inode:(bpf|btf)/.test(target)) kinds[target] = (kinds[target] ?? 0) + 1;
  }
  return kinds;
}

test('an object that fails after the kernel loaded it: a TracerError, and none of it stays open', async (t) => {
  if (!kernelTestsPossible(t, ['clang'])) return;
  const dir = mkdtempSync(join(tmpdir(), 'half-object-'));
  const objectPath = join(dir, 'half-object.bpf.o');
  const arch = spawnSync('gcc', ['-dumpmachine'], { encoding: 'utf8' }).stdout.trim();
  const cc = spawnSync(
    'clang',
    ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${arch}`, '-c', FIXTURE, '-o', objectPath],
    { encoding: 'utf8' },
  );
  assert.equal(cc.status, 0, cc.stderr);
  const before = bpfFds();
  await assert.rejects(
    lastValueFrom(bpfSource({ pids: [process.pid], objectPath, transport: 'ringbuf' })),
    (err: unknown) => {
      assert.ok(isTracerError(err));
      assert.equal(err.code, ErrorCode.BpfLoad);
      assert.equal(err.message, 'BPF object has no .bss section');
      return true;
    },
  );
  // Its maps and program were created (it loaded) and are all closed again.
  assert.deepEqual(bpfFds(), before);
});

test('a byte budget for batches in flight that the worker cannot keep: a TracerError naming the option', async (t) => {
  if (!kernelTestsPossible(t)) return;
  for (const maxBytesInFlight of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
    await assert.rejects(
      lastValueFrom(bpfSource({ pids: [process.pid], maxBytesInFlight })),
      (err: unknown) => {
        assert.ok(isTracerError(err));
        assert.equal(err.code, ErrorCode.Config);
        assert.equal(
          err.message,
          `maxBytesInFlight must be a whole number of bytes from 1 to 1 GiB, not ${maxBytesInFlight}`,
        );
        return true;
      },
    );
  }
});

test('no kernel BTF but a BTF file in btf_dir (BTFHub layout): the programs load with it (CO-RE against that file)', async (t) => {
  if (!kernelTestsPossible(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'te-btf-'));
  const osr = readFileSync('/etc/os-release', 'utf8');
  const id = /^ID="?([^"\n]*)/m.exec(osr)![1]!;
  const version = /^VERSION_ID="?([^"\n]*)/m.exec(osr)![1]!;
  const arch = process.arch === 'x64' ? 'x86_64' : process.arch;
  const target = join(dir, id, version, arch, `${release()}.btf`);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync('/sys/kernel/btf/vmlinux', target);
  let btfSource = '';
  const stop$ = new Subject<void>();
  const events = lastValueFrom(
    bpfSource({
      pids: [process.ppid],
      btfPath: '/nonexistent/vmlinux',
      btfDir: dir,
      stopOn: stop$,
      onReady: (info) => {
        btfSource = info.btfSource;
        stop$.next();
      },
    }).pipe(toArray()),
  );
  await events;
  assert.equal(btfSource, target);
  // And without the file: one line naming where it should be.
  await assert.rejects(
    lastValueFrom(
      bpfSource({
        pids: [process.pid],
        btfPath: '/nonexistent/vmlinux',
        btfDir: join(dir, 'empty'),
      }),
    ),
    (err: unknown) => {
      assert.ok(isTracerError(err));
      assert.equal(err.code, ErrorCode.NoBtf);
      assert.match(
        err.message,
        new RegExp(
          `put this kernel's BTF file at .*/${id}/${version}/${arch}/${release().replace(/[.+]/g, '\\$&')}\\.btf$`,
        ),
      );
      return true;
    },
  );
});
