/** Logging with pino: JSON lines, or `console` encoding for people. */
import { createWriteStream } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { TracerConfig } from './config.js';

export type { Logger } from 'pino';

function destination(path: string): { write(s: string): void } {
  if (path === 'stdout') return process.stdout;
  if (path === 'stderr') return process.stderr;
  return createWriteStream(path, { flags: 'a' });
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** `time LEVEL msg key=value…` from one pino JSON line. */
function consoleLine(json: string): string {
  const {
    time,
    level,
    msg,
    pid: _pid,
    hostname: _h,
    ...rest
  } = JSON.parse(json) as Record<string, unknown>;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${new Date(Number(time)).toISOString()} ${LEVELS[Number(level)] ?? level} ${String(msg)}${fields ? ` ${fields}` : ''}\n`;
}

/** A logger as `logging` configures it. */
export function createLogger(logging: TracerConfig['logging']): Logger {
  const out = destination(logging.output_paths[0]!);
  const stream =
    logging.encoding === 'console' ? { write: (s: string) => out.write(consoleLine(s)) } : out;
  return pino(
    { level: logging.level, base: undefined, timestamp: pino.stdTimeFunctions.epochTime },
    stream,
  );
}
