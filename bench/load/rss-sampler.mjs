// node bench/load/rss-sampler.mjs PID: reads VmRSS of PID every 50 ms from "ready" on; when its
// stdin ends, prints {"samples": n, "medianMiB": …, "maxMiB": …} and exits. The benchmarks run
// their load generators synchronously, so the sampling runs in this process of its own.
import { memoryMiB } from '../proc-stats.mjs';

const pid = process.argv[2];
const samples = [];
const timer = setInterval(() => {
  try {
    samples.push(memoryMiB(pid).rss);
  } catch {
    // the process ended
  }
}, 50);
process.stdin.resume();
process.stdin.on('end', () => {
  clearInterval(timer);
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  console.log(JSON.stringify({ samples: sorted.length, medianMiB: at(0.5), maxMiB: at(1) }));
});
console.log('ready');
