/**
 * Runs an input through the real pipeline, `reassemble()` then `parseHttp()`, with one Stats
 * set, synchronously (the events come from an array, so the whole run happens inside subscribe;
 * the stage's response timer is off so nothing depends on the clock).
 */
import { config, from } from 'rxjs';
import { Stats, reassemble, type ApiExchange } from '@traceable-ebpf/core';
import { parseHttp } from '@traceable-ebpf/parsers';
import { kernelEvents } from './events.js';
import type { FuzzInput } from './input.js';
import type { StageCaps } from './invariants.js';

/** Caps the connection targets run the stage with (small, so inputs reach them). */
export const CAPS: StageCaps = { maxBodyBytes: 8192, maxHeaderBytes: 8192 };

/** What one run of the stage gave. */
export interface StageRun {
  readonly exchanges: ApiExchange[];
  readonly stats: Stats;
  /** What the stage threw, or signalled as an error, or reported as unhandled; undefined if none. */
  readonly error?: unknown;
  /** The stage completed (it must, on a finite input). */
  readonly completed: boolean;
}

let unhandled: unknown[] = [];
// rxjs reports errors thrown inside subscriber callbacks asynchronously; catch them here instead.
config.onUnhandledError = (err) => {
  unhandled.push(err);
};

/** Runs the stage on `input`. */
export function runStage(input: FuzzInput, caps: StageCaps = CAPS): StageRun {
  const stats = new Stats();
  const exchanges: ApiExchange[] = [];
  let error: unknown;
  let completed = false;
  unhandled = [];
  try {
    const subscription = from(kernelEvents(input))
      .pipe(
        reassemble({ stats }),
        parseHttp({
          stats,
          maxBodyBytes: caps.maxBodyBytes,
          maxHeaderBytes: caps.maxHeaderBytes,
          responseTimeoutMs: 0,
        }),
      )
      .subscribe({
        next: (ex) => exchanges.push(ex),
        error: (err) => {
          error = err;
        },
        complete: () => {
          completed = true;
        },
      });
    subscription.unsubscribe();
  } catch (err) {
    error = err;
  }
  if (error === undefined && unhandled.length) error = unhandled[0];
  return { exchanges, stats, error, completed };
}
