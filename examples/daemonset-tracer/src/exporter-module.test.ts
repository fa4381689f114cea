import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';
import type { SpanExporter } from '@traceable-ebpf/exporters';
import {
  MIN_CLOSE_MS,
  ModuleExporter,
  loadExporterModule,
  resolveExporterModule,
  type ExporterModuleLogger,
} from './exporter-module.js';

/** A logger that keeps its lines. */
function recordingLogger(): ExporterModuleLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (fields: object, message: string) =>
    lines.push(`${message} ${JSON.stringify(fields)}`);
  return { lines, debug: log, info: log, warn: log, error: log };
}

/** A directory holding the given files (paths relative to it). */
function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'te-plugin-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** A plugin whose exporter records what it was built with and what it got. */
const GOOD = `
export function createExporter(options, context) {
  const got = [];
  return {
    options, context, got,
    export(spans, done) { got.push(...spans); done({ code: 0 }); },
    async forceFlush() {},
    async shutdown() { this.shut = (this.shut ?? 0) + 1; },
  };
}
`;

const load = (module: string, baseDir: string, options: Record<string, unknown> = {}) =>
  loadExporterModule({
    module,
    options,
    baseDir,
    logger: recordingLogger(),
    closeBy: () => Date.now() + 5000,
  });

/** Loading `module` from `baseDir` fails with one E_EXPORTER_MODULE line matching `message`. */
async function refused(module: string, baseDir: string, message: RegExp) {
  await assert.rejects(load(module, baseDir), (err: unknown) => {
    assert.ok(err instanceof TracerError, String(err));
    assert.equal(err.code, ErrorCode.ExporterModule);
    assert.ok(err.message.startsWith(`exporter.module '${module}': `), err.message);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return true;
  });
}

const inner = (e: ModuleExporter) =>
  (e as unknown as { inner: SpanExporter & Record<string, unknown> }).inner;

test('a path is taken from the config directory; the factory gets the options and a context', async () => {
  const dir = dirWith({ 'plugins/good.mjs': GOOD });
  const exporter = await load('./plugins/good.mjs', dir, { url: 'http://x/', n: 3 });
  assert.ok(exporter instanceof ModuleExporter);
  const plugin = inner(exporter);
  assert.deepEqual(plugin.options, { url: 'http://x/', n: 3 });
  const context = plugin.context as { baseDir: string; signal: AbortSignal; logger: unknown };
  assert.equal(context.baseDir, dir);
  assert.equal(context.signal.aborted, false);
  assert.equal(typeof (context.logger as ExporterModuleLogger).warn, 'function');
  const result = await new Promise<ExportResult>((r) => exporter.export([], r));
  assert.equal(result.code, ExportResultCode.SUCCESS);
  await exporter.shutdown();
  await exporter.shutdown();
  assert.equal(plugin.shut, 1, 'shut down once');
  assert.equal(context.signal.aborted, true, 'the signal is aborted once it is shut down');
  // Absolute paths and file: URLs too; a directory by its package.json's main.
  const abs = join(dir, 'plugins', 'good.mjs');
  assert.ok((await load(abs, '/')) instanceof ModuleExporter);
  assert.ok((await load(pathToFileURL(abs).href, '/')) instanceof ModuleExporter);
  const pkgDir = dirWith({
    'p/package.json': '{"name":"p","type":"module","main":"./dist/entry.js"}',
    'p/dist/entry.js': GOOD,
  });
  assert.equal(resolveExporterModule('./p', pkgDir), join(pkgDir, 'p', 'dist', 'entry.js'));
});

test('a package is looked up from the config directory', async () => {
  const dir = dirWith({
    'node_modules/@acme/exporter/package.json': JSON.stringify({
      name: '@acme/exporter',
      type: 'module',
      exports: { '.': { default: './index.js' } },
    }),
    'node_modules/@acme/exporter/index.js': `export default ${GOOD.replace('export function createExporter', 'function')}`,
  });
  const sub = join(dir, 'conf', 'deep');
  mkdirSync(sub, { recursive: true });
  const exporter = await load('@acme/exporter', sub, { a: 1 });
  assert.deepEqual(inner(exporter).options, { a: 1 });
  // The tracer's own dependencies are found too (not a plugin: it has no factory).
  await refused('rxjs', sub, /exports no factory/);
});

test('a package is resolved as import resolves it: an ESM-only exports map loads, a require-only one is refused', async () => {
  const dir = dirWith({
    'node_modules/esm-only/package.json': JSON.stringify({
      name: 'esm-only',
      type: 'module',
      exports: { '.': { import: './esm.js' } },
    }),
    'node_modules/esm-only/esm.js': GOOD,
    'node_modules/cjs-only/package.json': JSON.stringify({
      name: 'cjs-only',
      exports: { '.': { require: './index.cjs' } },
    }),
    'node_modules/cjs-only/index.cjs': 'exports.createExporter = () => ({});',
  });
  assert.equal(resolveExporterModule('esm-only', dir), join(dir, 'node_modules/esm-only/esm.js'));
  assert.ok((await load('esm-only', dir)) instanceof ModuleExporter);
  await refused('cjs-only', dir, /^exporter\.module 'cjs-only': .*(exports|export)/);
});

test('a module that cannot be found or loaded is one line', async () => {
  const dir = dirWith({
    'broken.mjs': 'export const createExporter = (;',
    'throws.mjs': "throw new Error('top-level\\nsecond line');",
  });
  await refused('./missing.mjs', dir, /no such file: .*missing\.mjs$/);
  await refused('@nobody/no-such-exporter', dir, /no such package from .* or from the tracer/);
  await refused('./broken.mjs', dir, /cannot load .*broken\.mjs: .*SyntaxError|Unexpected token/);
  await refused('./throws.mjs', dir, /cannot load .*throws\.mjs: top-level$/);
});

test('a module without a usable factory is one line', async () => {
  const dir = dirWith({
    'none.mjs': 'export const version = 1;',
    'class.mjs': 'export default class Webhook { export() {} async shutdown() {} }',
    'throwing.mjs':
      "export function createExporter() { throw new Error('option url is required'); }",
    'rejecting.mjs': "export default async () => { throw new Error('no route'); };",
    'undefined.mjs': 'export function createExporter() {}',
    'string.mjs': "export default () => 'exporter';",
    'partial.mjs': 'export default () => ({ export() {} });',
    'flush.mjs': 'export default () => ({ export() {}, async shutdown() {}, forceFlush: 1 });',
  });
  await refused(
    './none.mjs',
    dir,
    /exports no factory: a named createExporter or a default export/,
  );
  await refused('./class.mjs', dir, /its default export is a class: .*new Webhook\(options\)/);
  await refused('./throwing.mjs', dir, /createExporter failed: option url is required$/);
  await refused('./rejecting.mjs', dir, /default export failed: no route$/);
  await refused('./undefined.mjs', dir, /createExporter returned undefined, not a SpanExporter/);
  await refused('./string.mjs', dir, /returned a string, not a SpanExporter/);
  await refused('./partial.mjs', dir, /returned an object without shutdown\(\)/);
  await refused('./flush.mjs', dir, /forceFlush is not a function/);
});

test('an async factory is awaited', async () => {
  const dir = dirWith({ 'async.mjs': GOOD.replace('export function', 'export async function') });
  assert.ok((await load('./async.mjs', dir)) instanceof ModuleExporter);
});

/** A guard around `plugin` whose close deadline is `closeBy`. */
function guard(plugin: Partial<SpanExporter>, closeBy = () => Date.now() + 5000) {
  const controller = new AbortController();
  const logger = recordingLogger();
  const exporter = new ModuleExporter(plugin as SpanExporter, { controller, logger, closeBy });
  return { exporter, controller, logger };
}

test('guard: an export that throws fails its batch; a second callback is ignored', async () => {
  const results: ExportResult[] = [];
  const { exporter } = guard({
    export(_spans, done) {
      done({ code: ExportResultCode.SUCCESS });
      done({ code: ExportResultCode.FAILED });
    },
  });
  exporter.export([], (r) => results.push(r));
  assert.deepEqual(results, [{ code: ExportResultCode.SUCCESS }]);
  const throwing = guard({
    export() {
      throw new Error('plugin bug');
    },
  }).exporter;
  const failed = await new Promise<ExportResult>((r) => throwing.export([], r));
  assert.equal(failed.code, ExportResultCode.FAILED);
  assert.equal(failed.error?.message, 'plugin bug');
});

test('guard: a shutdown that hangs ends at the deadline (at least MIN_CLOSE_MS), aborting the signal', async () => {
  const { exporter, controller, logger } = guard(
    { export: () => {}, shutdown: () => new Promise<void>(() => {}) },
    () => Date.now() - 60_000, // the stop deadline has passed
  );
  const started = Date.now();
  await exporter.shutdown();
  assert.ok(Date.now() - started >= MIN_CLOSE_MS - 20, 'waited at least MIN_CLOSE_MS');
  assert.equal(controller.signal.aborted, true);
  assert.match(
    logger.lines.join('\n'),
    /did not finish by the stop deadline: stopped .*"step":"shutdown"/,
  );
  const after = await new Promise<ExportResult>((r) => exporter.export([], r));
  assert.equal(after.code, ExportResultCode.FAILED, 'refused once shut down');
});

test('guard: a failing flush or shutdown is logged, not thrown', async () => {
  const { exporter, logger } = guard({
    export: () => {},
    forceFlush: async () => {
      throw new Error('flush broke');
    },
    shutdown: async () => {
      throw new Error('close broke\nmore');
    },
  });
  await exporter.forceFlush();
  await exporter.shutdown();
  assert.deepEqual(logger.lines, [
    'exporter module forceFlush failed: flush broke {"step":"forceFlush"}',
    'exporter module shutdown failed: close broke {"step":"shutdown"}',
  ]);
});
