#!/usr/bin/env node
// Builds the eBPF object: vmlinux.h from the running kernel's BTF (never committed), clang -target
// bpf with BTF for CO-RE, then regenerates the TypeScript layout from the object's BTF.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(root, 'bpf', 'build');
const outDir = join(root, 'packages', 'bpf-source', 'bpf');
const vmlinuxBtf = process.env.TE_VMLINUX_BTF ?? '/sys/kernel/btf/vmlinux';

function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 28,
      ...opts,
    });
  } catch (err) {
    if (err.code === 'ENOENT') {
      console.error(`build-bpf: '${cmd}' not found: install clang llvm libbpf-dev bpftool`);
    } else {
      console.error(`build-bpf: ${cmd} failed (exit ${err.status})`);
    }
    process.exit(1);
  }
}

if (!existsSync(vmlinuxBtf)) {
  console.error(`build-bpf: no kernel BTF at ${vmlinuxBtf} (set TE_VMLINUX_BTF to a BTF file)`);
  process.exit(1);
}
mkdirSync(buildDir, { recursive: true });
mkdirSync(outDir, { recursive: true });
writeFileSync(
  join(buildDir, 'vmlinux.h'),
  run('bpftool', ['btf', 'dump', 'file', vmlinuxBtf, 'format', 'c']),
);
const arch = { x64: 'x86', arm64: 'arm64' }[process.arch] ?? process.arch;
const object = join(outDir, 'tracer.bpf.o');
const compile = (out, defines) =>
  run('clang', [
    '-g',
    '-O2',
    '-target',
    'bpf',
    `-D__TARGET_ARCH_${arch}`,
    ...defines,
    '-Wall',
    '-Werror',
    '-I',
    buildDir,
    '-I',
    join(root, 'bpf'),
    '-c',
    join(root, 'bpf', 'tracer.bpf.c'),
    '-o',
    out,
  ]);
// The ring buffer build (kernels 5.8+), and the perf buffer build for older kernels.
// TE_BPF_DEFINES adds clang defines to the ring buffer build: for cost experiments only (ablate
// a step behind an #ifdef, rebuild, run `bench/run.mjs kernel`), never for a shipped object.
compile(object, (process.env.TE_BPF_DEFINES ?? '').split(' ').filter(Boolean));
const perfObject = join(outDir, 'tracer-perfbuf.bpf.o');
compile(perfObject, ['-DTE_PERFBUF']);
// Drop DWARF; keep .BTF and .BTF.ext, which CO-RE relocation needs.
run('llvm-strip', ['-g', object]);
run('llvm-strip', ['-g', perfObject]);
run(process.execPath, [join(root, 'scripts', 'gen-layout.mjs'), '--write'], { stdio: 'inherit' });
console.log(`build-bpf: ${object}`);
