/** The tracer's command line. */
import { parseArgs } from 'node:util';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

/** What the command line asks for. */
export interface CliArgs {
  readonly help: boolean;
  readonly configPath?: string;
  readonly pids: number[];
  readonly cgroups: string[];
  readonly all: boolean;
  readonly record?: string;
  readonly replay?: string;
  readonly exporter?: 'otlp' | 'console' | 'jsonl' | 'module';
  readonly output?: string;
  readonly mode?: 'ingress' | 'egress' | 'ingress_and_egress';
}

/** Usage text. */
export const USAGE = `usage: ebpf-tracer [--config FILE] [--pid PID]... [--cgroup PATH]... [--all]
                   [--mode ingress|egress|ingress_and_egress]
                   [--exporter otlp|console|jsonl|module] [--output FILE] [--record FILE]
       ebpf-tracer --replay FILE [--exporter …] [--output FILE]

Captures the HTTP traffic of the given processes (and their children), of the processes in the
given cgroups, or of every process (--all), with eBPF, and exports one span per request. Needs
root. --record also writes the raw kernel events to FILE; --replay runs the pipeline on such a
file instead of the kernel (no root needed). OTLP settings come from OTEL_EXPORTER_OTLP_*;
module is the exporter plugin the config's exporter.module names.`;

const EXPORTERS = ['otlp', 'console', 'jsonl', 'module'] as const;
const MODES = ['ingress', 'egress', 'ingress_and_egress'] as const;

/** Parses argv (without node and the script); throws a one-line Usage error. */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        config: { type: 'string', short: 'c' },
        pid: { type: 'string', short: 'p', multiple: true },
        cgroup: { type: 'string', multiple: true },
        all: { type: 'boolean' },
        record: { type: 'string' },
        replay: { type: 'string' },
        exporter: { type: 'string', short: 'e' },
        output: { type: 'string', short: 'o' },
        mode: { type: 'string', short: 'm' },
      },
    }));
  } catch (err) {
    // node's messages are one line; drop its advice about '--' and positionals
    const msg = String((err as Error).message)
      .split('\n')[0]!
      .replace(/\. To specify a positional.*$/, '');
    throw new TracerError(ErrorCode.Usage, msg);
  }
  const pids = ((values.pid as string[] | undefined) ?? []).map((p) => {
    if (!/^[1-9]\d{0,9}$/.test(p))
      throw new TracerError(ErrorCode.Usage, `--pid '${p}' is not a process id`);
    return Number(p);
  });
  const exporter = values.exporter as string | undefined;
  if (exporter !== undefined && !(EXPORTERS as readonly string[]).includes(exporter)) {
    throw new TracerError(
      ErrorCode.Usage,
      `--exporter '${exporter}': use otlp, console or jsonl, or module (the config's exporter.module)`,
    );
  }
  const mode = values.mode as string | undefined;
  if (mode !== undefined && !(MODES as readonly string[]).includes(mode)) {
    throw new TracerError(
      ErrorCode.Usage,
      `--mode '${mode}': use ingress, egress or ingress_and_egress`,
    );
  }
  if (
    values.replay !== undefined &&
    (pids.length > 0 || values.cgroup || values.all || values.record)
  ) {
    throw new TracerError(
      ErrorCode.Usage,
      '--replay reads a recording: it takes no --pid, --cgroup, --all or --record',
    );
  }
  if (values.output !== undefined && exporter !== 'jsonl' && exporter !== 'console') {
    throw new TracerError(ErrorCode.Usage, '--output goes with --exporter jsonl or console');
  }
  return {
    help: values.help === true,
    configPath: values.config as string | undefined,
    pids,
    cgroups: (values.cgroup as string[] | undefined) ?? [],
    all: values.all === true,
    record: values.record as string | undefined,
    replay: values.replay as string | undefined,
    exporter: exporter as CliArgs['exporter'],
    output: values.output as string | undefined,
    mode: mode as CliArgs['mode'],
  };
}
