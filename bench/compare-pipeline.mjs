#!/usr/bin/env node
// The parser stage of two checkouts side by side: reassemble + parse + span mapping over the nginx
// recording (.tmp/bench/nginx.rec, from `node bench/run.mjs nginx`), alternating rounds in this
// one process; everything but the parser stage comes from this checkout. Not a test.
//   node bench/compare-pipeline.mjs <old checkout> <new checkout>
//   ROUNDS=n (default 8, the first a warm-up); ONLY=old|new runs one side (one process per side
//   removes the bias two copies of the same code show in one process: compare a checkout with
//   itself first to see the noise).
// Each checkout needs a build (its packages/parsers/dist).
import { from, lastValueFrom, count } from 'rxjs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
const [oldTree, newTree] = process.argv.slice(2);
const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const imp = (tree, p) => import(pathToFileURL(join(tree, p)).href);
const core = await imp(here, 'packages/core/dist/index.js');
const src = await imp(here, 'packages/bpf-source/dist/index.js');
const exp = await imp(here, 'packages/exporters/dist/index.js');
const oldP = await imp(oldTree, 'packages/parsers/dist/index.js');
const newP = await imp(newTree, 'packages/parsers/dist/index.js');
const rec = join(here, '.tmp/bench/nginx.rec');
const info = src.readRecordingInfo(rec);
const events = [];
await new Promise((r) =>
  src.replaySource(rec).subscribe({ next: (e) => events.push(e), complete: r }),
);
const stages = { old: oldP.parseHttp ?? oldP.parseHttp1, new: newP.parseHttp ?? newP.parseHttp1 };
const runs = { old: [], new: [] };
const counts = {};
for (let round = 0; round < (Number(process.env.ROUNDS) || 8); round++)
  for (const name of process.env.ONLY
    ? [process.env.ONLY]
    : round % 2
      ? ['new', 'old']
      : ['old', 'new']) {
    const t0 = performance.now();
    counts[name] = await lastValueFrom(
      from(events).pipe(
        core.reassemble(),
        stages[name](),
        exp.toSpans({ clock: core.clockFromOffset(BigInt(info.epochOffsetNs)) }),
        count(),
      ),
    );
    const ms = performance.now() - t0;
    if (round > 0) runs[name].push(ms);
  }
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const name of process.env.ONLY ? [process.env.ONLY] : ['old', 'new'])
  console.log(
    `${name}: ${events.length} events -> ${counts[name]} exchanges; median ${med(runs[name]).toFixed(0)} ms of ${runs[name].map((r) => r.toFixed(0)).join(', ')}; ${Math.round((counts[name] * 1000) / med(runs[name]))} exchanges/s`,
  );
console.log(`new/old time ratio: ${(med(runs.new) / med(runs.old)).toFixed(3)}`);
