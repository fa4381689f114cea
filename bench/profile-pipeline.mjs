// Profiling helper: runs the recorded nginx traffic through the pipeline (no export) repeatedly.
//   node --cpu-prof bench/profile-pipeline.mjs [recording]
import { from, lastValueFrom, count } from 'rxjs';
import { reassemble, clockFromOffset } from '@traceable-ebpf/core';
import { replaySource, readRecordingInfo } from '@traceable-ebpf/bpf-source';
import { parseHttp } from '@traceable-ebpf/parsers';
import { toSpans } from '@traceable-ebpf/exporters';

const rec = process.argv[2] ?? new URL('../.tmp/bench/nginx.rec', import.meta.url).pathname;
const info = readRecordingInfo(rec);
const events = [];
await new Promise((resolve) =>
  replaySource(rec).subscribe({ next: (e) => events.push(e), complete: resolve }),
);
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  const n = await lastValueFrom(
    from(events).pipe(
      reassemble(),
      parseHttp(),
      toSpans({ clock: clockFromOffset(BigInt(info.epochOffsetNs)) }),
      count(),
    ),
  );
  console.log(`${n} exchanges in ${(performance.now() - t0).toFixed(0)} ms`);
}
