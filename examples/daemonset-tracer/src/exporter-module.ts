/**
 * Exporter plugins (`exporter.type: module`): the contract a plugin module meets, the loader
 * that finds and calls it, and the guard the tracer keeps around the exporter it returns.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resolve as resolveModule } from 'import-meta-resolve';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';
import type { ReadableSpan, SpanExporter } from '@traceable-ebpf/exporters';

/** The logger a plugin gets: a child of the tracer's, its lines tagged with the module. */
export interface ExporterModuleLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What the tracer hands a plugin's factory besides its options. */
export interface ExporterModuleContext {
  /** For the plugin's own log lines (tagged `exporter_module`). */
  readonly logger: ExporterModuleLogger;
  /** The config file's directory, else the working directory: where relative paths are from. */
  readonly baseDir: string;
  /**
   * Aborted when a stop has no time left for the exporter (its flush and shutdown took past
   * the stop deadline): the plugin should then drop what it holds and close its connections
   * and timers at once, or the process cannot exit.
   */
  readonly signal: AbortSignal;
}

/**
 * A plugin's factory: the module's named `createExporter` export, else its default export. It
 * gets `exporter.options` from the config (an object, `{}` when none) and returns an
 * OpenTelemetry SpanExporter, or a promise of one. It should throw, with a one-line message, on
 * options it can't use.
 *
 * The tracer hands the exporter batches and waits for each `export()` callback: a plugin should
 * call it once the spans are delivered (SUCCESS) or lost (FAILED, with the reason). A stop waits
 * for outstanding callbacks for `shutdown_timeout`; spans whose callback has not come by then
 * count in `SpansDroppedAtShutdown`. Then `forceFlush()` and `shutdown()` together get what is
 * left of the stop deadline (at least {@link MIN_CLOSE_MS}); past it, {@link
 * ExporterModuleContext.signal} is aborted and the tracer goes on without waiting.
 */
export type ExporterModuleFactory = (
  options: Record<string, unknown>,
  context: ExporterModuleContext,
) => SpanExporter | Promise<SpanExporter>;

/** Least time a plugin's final flush and shutdown get, even when the stop deadline has passed. */
export const MIN_CLOSE_MS = 1000;

/** What {@link loadExporterModule} needs. */
export interface LoadExporterModuleOptions {
  /** `exporter.module`: a path (`./…`, `../…`, `/…`, `file:…`) or a package name. */
  readonly module: string;
  /** `exporter.options`, handed to the factory as they are. */
  readonly options: Record<string, unknown>;
  /** Where a relative path is taken from and a package is first looked up from. */
  readonly baseDir: string;
  /** The plugin's logger; the guard's own warnings go there too. */
  readonly logger: ExporterModuleLogger;
  /** When (epoch ms) the exporter's final flush and shutdown must be over; asked as they start. */
  readonly closeBy: () => number;
}

/** The tracer's own directory: packages are looked up from here after the config's. */
const TRACER_DIR = dirname(fileURLToPath(import.meta.url));

const firstLine = (err: unknown) =>
  String((err as Error)?.message ?? err).split('\n')[0] || String(err);

function moduleError(spec: string, message: string, cause?: unknown): TracerError {
  return new TracerError(ErrorCode.ExporterModule, `exporter.module '${spec}': ${message}`, {
    cause,
  });
}

/** True for a spec that names a file rather than a package. */
function isPath(spec: string): boolean {
  return /^(\.\.?(\/|$)|\/|file:)/.test(spec);
}

/**
 * The file `spec` names: a path from `baseDir` (a directory by its package.json's `main` or its
 * index.js), or a package as `import` finds it (ES module resolution: its `exports` map with the
 * `node` and `import` conditions, else `main`) from `baseDir`, then from the tracer's directory.
 */
export function resolveExporterModule(spec: string, baseDir: string): string {
  if (isPath(spec)) {
    const path = spec.startsWith('file:') ? fileURLToPath(spec) : resolve(baseDir, spec);
    if (!existsSync(path)) throw moduleError(spec, `no such file: ${path}`);
    try {
      return createRequire(join(baseDir, 'noop.js')).resolve(path);
    } catch (err) {
      throw moduleError(spec, `cannot resolve ${path}: ${firstLine(err)}`, err);
    }
  }
  let lastError: unknown;
  for (const from of [baseDir, TRACER_DIR]) {
    let url: string;
    try {
      url = resolveModule(spec, pathToFileURL(join(from, 'noop.js')).href);
    } catch (err) {
      lastError = err;
      // Found but unusable (its exports refuse the entry point): say so rather than look further.
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND')
        throw moduleError(spec, firstLine(err), err);
      continue;
    }
    if (!url.startsWith('file:')) throw moduleError(spec, `not a module file: ${url}`);
    return fileURLToPath(url);
  }
  throw moduleError(
    spec,
    `no such package from ${baseDir} or from the tracer (install it, or give a path)`,
    lastError,
  );
}

/** A one-word account of what a factory returned, for the error. */
function described(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object' && typeof value !== 'function') return `a ${typeof value}`;
  const e = value as Partial<SpanExporter>;
  const missing = (['export', 'shutdown'] as const).filter((m) => typeof e[m] !== 'function');
  if (missing.length) return `an object without ${missing.map((m) => `${m}()`).join(' or ')}`;
  return 'an object whose forceFlush is not a function';
}

function isSpanExporter(value: unknown): value is SpanExporter {
  const e = value as Partial<SpanExporter> | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.export === 'function' &&
    typeof e.shutdown === 'function' &&
    (e.forceFlush === undefined || typeof e.forceFlush === 'function')
  );
}

/**
 * Finds, imports and calls an exporter plugin, and checks what its factory returns. Every
 * failure is a one-line TracerError (`E_EXPORTER_MODULE`) naming the module.
 */
export async function loadExporterModule(opts: LoadExporterModuleOptions): Promise<ModuleExporter> {
  const spec = opts.module;
  const file = resolveExporterModule(spec, opts.baseDir);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw moduleError(spec, `cannot load ${file}: ${firstLine(err)}`, err);
  }
  const [name, factory] =
    typeof mod.createExporter === 'function'
      ? ['createExporter', mod.createExporter]
      : ['default export', mod.default];
  if (typeof factory !== 'function')
    throw moduleError(
      spec,
      'exports no factory: a named createExporter or a default export, (options, context) => SpanExporter',
    );
  if (/^class[\s{]/.test(Function.prototype.toString.call(factory)))
    throw moduleError(
      spec,
      `its ${name} is a class: export a factory, (options, context) => new ${factory.name || 'Exporter'}(options)`,
    );
  const controller = new AbortController();
  const context: ExporterModuleContext = {
    logger: opts.logger,
    baseDir: opts.baseDir,
    signal: controller.signal,
  };
  let exporter: unknown;
  try {
    exporter = await (factory as ExporterModuleFactory)(opts.options, context);
  } catch (err) {
    throw moduleError(spec, `${name} failed: ${firstLine(err)}`, err);
  }
  if (!isSpanExporter(exporter))
    throw moduleError(
      spec,
      `${name} returned ${described(exporter)}, not a SpanExporter (export() and shutdown())`,
    );
  return new ModuleExporter(exporter, { controller, logger: opts.logger, closeBy: opts.closeBy });
}

/**
 * A plugin's exporter as the tracer uses it: an `export()` that throws fails its batch instead
 * of the pipeline, a callback counts once, and the final `forceFlush()` and `shutdown()` end by
 * the stop deadline whatever the plugin does (failures and lateness are logged, not thrown).
 */
export class ModuleExporter implements SpanExporter {
  private closeAt: number | undefined;
  private closed = false;
  private shutdownDone: Promise<void> | undefined;

  constructor(
    private readonly inner: SpanExporter,
    private readonly opts: {
      readonly controller: AbortController;
      readonly logger: ExporterModuleLogger;
      readonly closeBy: () => number;
    },
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.closed) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
      return;
    }
    let called = false;
    const once = (result: ExportResult) => {
      if (called) return;
      called = true;
      resultCallback(result);
    };
    try {
      this.inner.export(spans, once);
    } catch (err) {
      once({
        code: ExportResultCode.FAILED,
        error: err instanceof Error ? err : new Error(String(err)),
      });
    }
  }

  forceFlush(): Promise<void> {
    return this.bounded('forceFlush', () => this.inner.forceFlush?.());
  }

  shutdown(): Promise<void> {
    this.closed = true;
    this.shutdownDone ??= this.bounded('shutdown', () => this.inner.shutdown()).finally(() =>
      // Done or given up on: nothing of the plugin's should outlive it.
      this.opts.controller.abort(),
    );
    return this.shutdownDone;
  }

  /** Runs `step` until the close deadline (fixed when the first step starts). */
  private async bounded(step: string, run: () => Promise<void> | undefined): Promise<void> {
    this.closeAt ??= Math.max(Date.now() + MIN_CLOSE_MS, this.opts.closeBy());
    const ms = Math.max(0, this.closeAt - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
    const outcome = await Promise.race([
      Promise.resolve()
        .then(run)
        .then(
          () => 'done' as const,
          (err: unknown) => ({ error: firstLine(err) }),
        ),
      late,
    ]);
    clearTimeout(timer);
    if (outcome === 'late') {
      this.opts.logger.warn(
        { step },
        'exporter module did not finish by the stop deadline: stopped',
      );
      this.opts.controller.abort();
    } else if (outcome !== 'done') {
      this.opts.logger.warn({ step }, `exporter module ${step} failed: ${outcome.error}`);
    }
  }
}
