/**
 * `tracer ready` means capturing: a client that opens a new connection the moment the line
 * appears, and pipelines requests on it in one write, has every request reported. Each round
 * starts a fresh tracer on a running nginx, so the line is raced against the capture policy
 * reaching the kernel every time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestsOf, startOtlpReceiver, SPAN_KIND } from './otlp-receiver.js';
import { freePort, kernelTestsPossible, kill, startNginx, startTracer } from './harness.js';

const ROUNDS = 5;

/** The four requests of one round, in the order sent; the last asks nginx to close. */
const requestsOfRound = (round: number) => [
  ['GET', `/a.txt?round=${round}`],
  ['GET', `/missing?round=${round}`],
  ['HEAD', `/b.txt?round=${round}`],
  ['GET', `/b.txt?round=${round}`],
];

/** What the receiver should hold for one round, as `requestsOf` lists it. */
const expectedOfRound = (round: number) =>
  [
    `GET /a.txt?round=${round} 200`,
    `GET /missing?round=${round} 404`,
    `HEAD /b.txt?round=${round} 200`,
    `GET /b.txt?round=${round} 200`,
  ].sort();

/**
 * The status codes of the HTTP/1.1 responses in `bytes`, read one after the other by their
 * Content-Length (a response to HEAD has no body whatever its Content-Length says).
 */
function statusCodes(bytes: Buffer, methods: string[]): number[] {
  const out: number[] = [];
  let pos = 0;
  for (const method of methods) {
    const end = bytes.indexOf('\r\n\r\n', pos, 'latin1');
    if (end < 0) break;
    const head = bytes.toString('latin1', pos, end);
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
    if (!status) break;
    out.push(Number(status[1]));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    pos = end + 4 + (method === 'HEAD' || !length ? 0 : Number(length[1]));
  }
  return out;
}

/**
 * Opens a new connection, writes every request in one write, and resolves with the status
 * codes of the responses once the server closes (the last request says `Connection: close`).
 */
function pipeline(port: number, requests: string[][]): Promise<number[]> {
  const bytes = requests
    .map(
      ([method, path], i) =>
        `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        (i === requests.length - 1 ? 'Connection: close\r\n' : '') +
        '\r\n',
    )
    .join('');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('end', () =>
      resolve(
        statusCodes(
          Buffer.concat(chunks),
          requests.map(([method]) => method!),
        ),
      ),
    );
  });
}

test('a request pipelined on a new connection the moment `tracer ready` is logged is reported', async (t) => {
  if (!kernelTestsPossible(t, ['nginx'])) return;
  const dir = mkdtempSync(join(tmpdir(), 'te-ready-'));
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(dir, 'www', 'a.txt'), 'a'.repeat(100));
  writeFileSync(join(dir, 'www', 'b.txt'), 'b'.repeat(2000));
  const port = await freePort();
  const receiver = await startOtlpReceiver();
  const { nginx } = await startNginx(dir, port);
  t.after(async () => {
    await kill(nginx);
    await receiver.close();
  });

  for (let round = 1; round <= ROUNDS; round++) {
    const tracer = await startTracer([nginx.pid!], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    });
    let statuses: number[];
    try {
      statuses = await pipeline(port, requestsOfRound(round));
    } finally {
      assert.equal(await tracer.stop(), 0, tracer.stderr());
    }
    assert.deepEqual(statuses, [200, 404, 200, 200], `round ${round}: nginx's answers`);
    const log = tracer.stderr();

    const spans = receiver.spans.filter(
      (s) =>
        s.attributes['server.port'] === port &&
        String(s.attributes['url.query']) === `round=${round}`,
    );
    assert.deepEqual(requestsOf(spans), expectedOfRound(round), `round ${round}: ${log}`);
    for (const s of spans) assert.equal(s.kind, SPAN_KIND.SERVER);

    // The line comes once, after the system info and the policy it waits for.
    const ready = [...log.matchAll(/"msg":"tracer ready"/g)].length;
    assert.equal(ready, 1, log);
    assert.ok(log.indexOf('"msg":"system info"') < log.indexOf('"msg":"tracer ready"'), log);
    assert.ok(
      log.indexOf('"msg":"capture policy applied"') < log.indexOf('"msg":"tracer ready"'),
      log,
    );
  }
  // Nothing else was captured: ROUNDS × 4 requests, each once.
  assert.equal(
    receiver.spans.filter((s) => s.attributes['server.port'] === port).length,
    ROUNDS * 4,
  );
});
