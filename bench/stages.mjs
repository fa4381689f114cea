#!/usr/bin/env node
// What each stage of the main thread costs, from the nginx recording (.tmp/bench/nginx.rec, from
// `node bench/run.mjs nginx`): the recorded batches decoded, then reassembled, parsed, mapped to
// spans and encoded as OTLP protobuf (the exporter's batch encoder, no HTTP), each prefix of the
// pipeline timed in turn, alternating, in this one process. The differences between rows are
// the stages' costs. Not a test.
//   node bench/stages.mjs [checkout]   (default this one; it needs a build)
//   ROUNDS=n (default 6, the first a warm-up); BODY_BYTES=n body bytes kept per message (default
//   0, as the tracer keeps none without capture_bodies)
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Observable, lastValueFrom, count, tap } from 'rxjs';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const tree = resolve(process.argv[2] ?? here);
const imp = (p) => import(pathToFileURL(join(tree, p)).href);
const core = await imp('packages/core/dist/index.js');
const src = await imp('packages/bpf-source/dist/index.js');
const { decodeBatch } = await imp('packages/bpf-source/dist/decode.js');
const parsers = await imp('packages/parsers/dist/index.js');
const exp = await imp('packages/exporters/dist/index.js');
const rec = process.env.REC ?? join(here, '.tmp/bench/nginx.rec');
const info = src.readRecordingInfo(rec);

// The recording: magic (8), version (4), info length (4), info, then [length u32, 4 bytes] + block.
const file = readFileSync(rec);
let pos = 16 + file.readUInt32LE(12);
const blocks = [];
while (pos + 8 <= file.length) {
  const n = file.readUInt32LE(pos);
  const b = file.subarray(pos + 8, pos + 8 + n);
  blocks.push(b.buffer.slice(b.byteOffset, b.byteOffset + n));
  pos += 8 + n;
}

/** The recorded batches decoded, one after another (a fresh copy each time: decoding keeps views). */
const decoded = () =>
  new Observable((sub) => {
    for (const b of blocks) decodeBatch(b.slice(0), b.byteLength, (ev) => sub.next(ev));
    sub.complete();
  });

const encoder = exp.createBatchEncoder('http/protobuf');
const encode = tap((span) => {
  encoder.append(span);
  if (encoder.spans >= 4096) encoder.seal()?.release?.();
});
const parseHttp = () => parsers.parseHttp({ maxBodyBytes: Number(process.env.BODY_BYTES ?? 0) });
const clock = () => core.clockFromOffset(BigInt(info.epochOffsetNs));
const prefixes = {
  decode: () => decoded(),
  reassemble: () => decoded().pipe(core.reassemble()),
  parse: () => decoded().pipe(core.reassemble(), parseHttp()),
  spans: () => decoded().pipe(core.reassemble(), parseHttp(), exp.toSpans({ clock: clock() })),
  encode: () =>
    decoded().pipe(core.reassemble(), parseHttp(), exp.toSpans({ clock: clock() }), encode),
};

const names = process.env.ONLY ? process.env.ONLY.split(',') : Object.keys(prefixes);
const times = Object.fromEntries(names.map((n) => [n, []]));
let exchanges = 0;
const rounds = Number(process.env.ROUNDS) || 6;
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...names].reverse() : names;
  for (const name of order) {
    const t0 = process.cpuUsage();
    const n = await lastValueFrom(prefixes[name]().pipe(count()));
    const t = process.cpuUsage(t0);
    // The prefixes from parse on emit one item per exchange; decode and reassemble emit events.
    if (name === 'parse' || name === 'spans' || name === 'encode') exchanges = n;
    if (r > 0) {
      times[name].push((t.user + t.system) / 1000);
    }
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `${tree}: ${blocks.length} batches -> ${exchanges} exchanges; CPU of this process (all threads), median of ${rounds - 1} rounds`,
);
let prev = 0;
for (const name of names) {
  const m = med(times[name]);
  console.log(
    `  ${name.padEnd(10)} ${((1000 * m) / exchanges).toFixed(2).padStart(6)} µs/exchange (+${((1000 * (m - prev)) / exchanges).toFixed(2)}); rounds ${times[name].map((x) => x.toFixed(0)).join(', ')} ms`,
  );
  prev = m;
}
