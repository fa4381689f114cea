#!/usr/bin/env node
// What llhttp's WebAssembly costs for the nginx benchmark's request and response heads, apart
// from what the project's binding builds: a runtime whose handlers do nothing, then the message
// parsers (headers, message objects) on the same bytes, then heads of other shapes (how the cost
// grows with header lines and with bytes). Best of 4 timed runs of N each, after a warm-up run.
// Not a test.
//   node bench/llhttp-costs.mjs [checkout]   (default this one; it needs a build)
//   N=n (default 300000)
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const tree = resolve(process.argv[2] ?? here);
const imp = (p) => import(pathToFileURL(join(tree, 'packages/parsers/dist', p)).href);
const { LlhttpRuntime, LlhttpType } = await imp('http1/llhttp.js');
const { Http1MessageParser } = await imp('http1/message-parser.js');

const N = Number(process.env.N) || 300_000;
/** Best ns per call of `fn` over 4 timed runs (after one untimed). */
function best(fn) {
  let min = Infinity;
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn();
    const ns = Number(process.hrtime.bigint() - t) / N;
    if (r > 0) min = Math.min(min, ns);
  }
  return min;
}
const row = (name, ns) => console.log(`${name.padEnd(52)} ${ns.toFixed(0).padStart(6)} ns`);

const request = Buffer.from('GET /bench.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
const response = Buffer.from(
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 20:40:29 GMT\r\n' +
    'Content-Type: text/html\r\nContent-Length: 13\r\n' +
    'Last-Modified: Sun, 06 Dec 2026 20:40:29 GMT\r\nConnection: keep-alive\r\n' +
    'ETag: "6b15c83d-d"\r\nAccept-Ranges: bytes\r\n\r\n',
);

const quiet = {
  onMessageBegin() {},
  onUrl() {},
  onStatus() {},
  onHeaderField() {},
  onHeaderValue() {},
  onHeadersComplete: () => 0,
  onBody() {},
  onMessageComplete() {},
};
const rt = new LlhttpRuntime();
const req = rt.create(LlhttpType.REQUEST, quiet);
const res = rt.create(LlhttpType.RESPONSE, quiet);
console.log(`${tree}: llhttp with handlers that do nothing`);
row(
  'nginx request + response heads',
  best(() => (rt.execute(req, request), rt.execute(res, response), rt.reset(res))),
);
row(
  'nginx request head',
  best(() => rt.execute(req, request)),
);
row(
  'nginx response head (9 lines)',
  best(() => (rt.execute(res, response), rt.reset(res))),
);
const shapes = {
  'request line only': 'GET / HTTP/1.1\r\n\r\n',
  'request line, a 60-byte path': `GET /${'a/'.repeat(30)} HTTP/1.1\r\n\r\n`,
  'request line, one header line': 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  'status line only': 'HTTP/1.1 200 OK\r\n\r\n',
  'status line, one header line': 'HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n',
  'status line, one 80-byte header line': `HTTP/1.1 200 OK\r\nX-${'a'.repeat(30)}: ${'b'.repeat(46)}\r\n\r\n`,
};
for (const [name, text] of Object.entries(shapes)) {
  const bytes = Buffer.from(text);
  const p = text.startsWith('HTTP') ? res : req;
  row(
    name,
    best(() => (rt.execute(p, bytes), p === res && rt.reset(res))),
  );
}

console.log(`${tree}: the message parsers (headers, message objects)`);
let messages = 0;
const options = { maxBodyBytes: 0, maxHeaderBytes: 16384, onMessage: () => messages++ };
const rt2 = new LlhttpRuntime();
const requests = new Http1MessageParser(rt2, 'request', options);
const responses = new Http1MessageParser(rt2, 'response', {
  ...options,
  requestMethod: () => 'GET',
});
row(
  'nginx request + response heads (body skipped)',
  best(() => (requests.feed(request, 1), responses.feed(response, 2), responses.skip(13, 3))),
);
if (messages === 0) throw new Error('no message parsed');
