/**
 * ebpf-tracer's entry: arguments, configuration, logging, signals and exit codes. Errors are one
 * line on stderr (`ebpf-tracer: error: …`), never a stack trace; exit 2 for usage, 1 otherwise.
 */
import { dirname, resolve } from 'node:path';
import { ErrorCode, isTracerError } from '@traceable-ebpf/core';
import { loadConfig, parseConfig } from './config.js';
import { createLogger } from './logger.js';
import { USAGE, parseCliArgs } from './args.js';
import { startTracer, type RunningTracer } from './tracer.js';

/**
 * Time a stop may take beyond the delivery deadline (`shutdown_timeout`) before the process
 * exits anyway: detaching the probes and the last kernel events.
 */
const STOP_MARGIN_MS = 3000;

function report(err: unknown): number {
  if (isTracerError(err)) {
    process.stderr.write(`ebpf-tracer: error: ${err.message}\n`);
    if (err.code === ErrorCode.Usage) process.stderr.write(`${USAGE.split('\n')[0]}\n`);
    return err.code === ErrorCode.Usage ? 2 : 1;
  }
  process.stderr.write(
    `ebpf-tracer: error: ${String((err as Error)?.message ?? err).split('\n')[0]}\n`,
  );
  return 1;
}

/** Runs the tracer until SIGINT/SIGTERM; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let tracer: RunningTracer;
  let stopDeadlineMs = STOP_MARGIN_MS;
  try {
    const args = parseCliArgs(argv);
    if (args.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const config = args.configPath ? loadConfig(args.configPath) : parseConfig({});
    const logger = createLogger(config.logging);
    stopDeadlineMs = config.shutdown_timeout * 1000 + STOP_MARGIN_MS;
    tracer = await startTracer({
      config,
      logger,
      pids: args.pids,
      cgroups: args.cgroups,
      all: args.all,
      record: args.record,
      replay: args.replay,
      mode: args.mode,
      exporter: args.exporter,
      output: args.output,
      ...(args.configPath ? { configDir: dirname(resolve(args.configPath)) } : {}),
    });
  } catch (err) {
    return report(err);
  }

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const deadline = setTimeout(() => {
      process.stderr.write(
        `ebpf-tracer: error: stop took longer than ${stopDeadlineMs} ms after ${signal}; exiting\n`,
      );
      // Delivery has its own deadline inside this one: a stop that outlives both hung, and
      // says so with its exit code (a test or a supervisor sees it).
      process.exit(1);
    }, stopDeadlineMs);
    deadline.unref();
    void tracer.stop().catch(() => undefined);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await tracer.done;
    return 0;
  } catch (err) {
    return report(err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
