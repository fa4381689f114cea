#!/usr/bin/env node
// The main thread's memory per idle connection, without a kernel: N synthetic nginx-like
// connections (open, one request, a response head and its sendfile body), then left open; the
// JS heap after a full GC, per connection. STAGE=reassemble|parse (default)|encode picks how much
// of the pipeline holds them; SNAP=1 adds a heap snapshot's biggest kinds of object per
// connection. Not a test.
//   node --expose-gc bench/idle-state.mjs [N=10000]

import { Subject } from 'rxjs';
const P = new URL('../packages/', import.meta.url).pathname;
const core = await import(P + 'core/dist/index.js');
const parsers = await import(P + 'parsers/dist/index.js');
const v8 = await import('node:v8');
const N = Number(process.argv[2] ?? 10000);
const req = Buffer.from('GET /bench.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
const resHead = Buffer.from(
  'HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 17:00:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 13\r\nLast-Modified: Thu, 03 Dec 2026 16:00:00 GMT\r\nConnection: keep-alive\r\nETag: "abc-d"\r\nAccept-Ranges: bytes\r\n\r\n',
);
const body = Buffer.from('<p>bench</p>\n');
const sub = new Subject();
let ex = 0;
const stage = process.env.STAGE ?? 'parse';
const exp = await import(P + 'exporters/dist/index.js');
const { tap } = await import('rxjs');
const enc = exp.createBatchEncoder('http/protobuf');
const pipe =
  stage === 'reassemble'
    ? sub.pipe(core.reassemble())
    : stage === 'encode'
      ? sub.pipe(
          core.reassemble(),
          parsers.parseHttp(),
          exp.toSpans(),
          tap((sp) => {
            enc.append(sp);
            if (enc.spans >= 1024) enc.seal()?.release?.();
          }),
        )
      : sub.pipe(core.reassemble(), parsers.parseHttp());
pipe.subscribe(() => ex++);
const gcUsed = () => {
  globalThis.gc();
  globalThis.gc();
  return v8.getHeapStatistics().used_heap_size;
};
const before = gcUsed();
const mem0 = process.memoryUsage();
let ts = 1e9;
/** A data event in the decoder's shape (one literal: every event shares its hidden class). */
function dataEvent(conn, fd, tsNs, direction, offset, size, bytes, syscall) {
  return {
    conn,
    tgid: 100,
    fd,
    kind: 'data',
    tsNs,
    tid: 100,
    direction,
    offset,
    size,
    data: bytes ? new Uint8Array(bytes) : new Uint8Array(0),
    syscall,
  };
}
for (let i = 0; i < N; i++) {
  // Literals of one shape each, as the decoder makes them (a spread would give each its own).
  const conn = `100:${1000 + i}:1`;
  const fd = 1000 + i;
  sub.next({
    conn,
    tgid: 100,
    fd,
    kind: 'open',
    tsNs: ts++,
    tid: 100,
    role: 'server',
    family: 4,
    local: { address: '127.0.0.1', port: 80 },
    remote: { address: '127.0.0.1', port: 10000 + (i % 50000) },
    tls: false,
    comm: 'nginx',
  });
  // The request, the response head and its sendfile body (its size only, no bytes copied).
  sub.next(dataEvent(conn, fd, ts++, 'recv', 0, req.length, req, 'recvfrom'));
  sub.next(dataEvent(conn, fd, ts++, 'send', 0, resHead.length, resHead, 'writev'));
  sub.next(dataEvent(conn, fd, ts++, 'send', resHead.length, body.length, undefined, 'sendfile'));
}
const after = gcUsed();
const mem1 = process.memoryUsage();
console.log(
  `${stage}: ${ex} exchanges; JS heap ${((after - before) / N).toFixed(0)} B per connection; external ${((mem1.external - mem0.external) / N).toFixed(0)} B; arrayBuffers ${((mem1.arrayBuffers - mem0.arrayBuffers) / N).toFixed(0)} B; rss ${((mem1.rss - mem0.rss) / N).toFixed(0)} B`,
);
if (process.env.SNAP) {
  const file = v8.writeHeapSnapshot('/tmp/perconn.heapsnapshot');
  const { readFileSync } = await import('node:fs');
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const f = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const nf = f.length;
  const nodes = snap.nodes;
  const strings = snap.strings;
  const agg = new Map();
  for (let i = 0; i < nodes.length; i += nf) {
    const type = types[nodes[i]];
    let name = strings[nodes[i + 1]];
    const size = nodes[i + 3];
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string')
      name = `(${type})`;
    else if (type === 'closure') name = `closure ${name}`;
    else if (type !== 'object') name = `(${type}) ${name.slice(0, 40)}`;
    const k = name;
    const a = agg.get(k) ?? [0, 0];
    a[0]++;
    a[1] += size;
    agg.set(k, a);
  }
  for (const [k, [c, s]] of [...agg].sort((a, b) => b[1][1] - a[1][1]).slice(0, 30))
    console.log(
      `${(s / N).toFixed(0).padStart(6)} B/conn ${(c / N).toFixed(2).padStart(6)} objs/conn  ${k}`,
    );
}
