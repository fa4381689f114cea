/**
 * Delta debugging of a failing input: whole events, then byte runs inside each event, then lost
 * runs, are removed while the same failure (kind and rule) still reproduces; bounded in time.
 */
import type { FuzzEvent, FuzzInput } from './input.js';
import type { Failure, Target } from './targets.js';

/** The smallest input found within `budgetMs` that still fails like `failure`. */
export function minimise(
  target: Target,
  input: FuzzInput,
  units: number,
  failure: Failure,
  budgetMs: number,
): { input: FuzzInput; attempts: number } {
  const deadline = Date.now() + budgetMs;
  let attempts = 0;
  const fails = (events: FuzzEvent[]) => {
    attempts++;
    const r = target.execute({ ...input, events }, undefined, units);
    return r.some((f) => f.kind === failure.kind && f.rule === failure.rule);
  };
  let events = [...input.events];
  const timeLeft = () => Date.now() < deadline;

  // Whole events, in halving chunks.
  for (
    let chunk = Math.ceil(events.length / 2);
    chunk >= 1 && timeLeft();
    chunk = Math.floor(chunk / 2)
  ) {
    for (let at = 0; at < events.length && timeLeft(); ) {
      const candidate = [...events.slice(0, at), ...events.slice(at + chunk)];
      if (candidate.length < events.length && fails(candidate)) events = candidate;
      else at += chunk;
    }
    if (chunk === 1) break;
  }
  // Byte runs inside each event; lost runs dropped or halved.
  for (let k = 0; k < events.length && timeLeft(); k++) {
    for (
      let chunk = Math.ceil(events[k]!.data.length / 2);
      chunk >= 1 && timeLeft();
      chunk = Math.floor(chunk / 2)
    ) {
      for (let at = 0; at < events[k]!.data.length && timeLeft(); ) {
        const e = events[k]!;
        const data = Buffer.concat([e.data.subarray(0, at), e.data.subarray(at + chunk)]);
        const candidate = [...events];
        candidate[k] = { ...e, data };
        if (fails(candidate)) events = candidate;
        else at += chunk;
      }
      if (chunk === 1) break;
    }
    let lost = events[k]!.lost ?? 0;
    while (lost > 0 && timeLeft()) {
      const smaller = lost === 1 ? 0 : Math.floor(lost / 2);
      const candidate = [...events];
      const { dir, data } = events[k]!;
      candidate[k] = smaller ? { dir, data, lost: smaller } : { dir, data };
      if (!fails(candidate)) break;
      events = candidate;
      lost = smaller;
    }
  }
  return { input: { ...input, events }, attempts };
}
