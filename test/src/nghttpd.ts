/**
 * nghttpd (nghttp2's HTTP/2 server) for the kernel end-to-end tests: serving a directory over
 * h2c, traced by the tracer CLI, which exports to a test OTLP receiver.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { freePort, kill, startTracer, waitForPort } from './harness.js';
import { startOtlpReceiver, type OtlpReceiverOptions } from './otlp-receiver.js';

/**
 * nghttpd serving `dir` without TLS, traced (extra tracer arguments in `tracerArgs`), with an
 * OTLP receiver (made with `receiverOptions`); all stopped after the test. Resolves with the
 * base URL, the receiver, the tracer and the server.
 */
export async function tracedNghttpd(
  t: TestContext,
  dir: string,
  tracerArgs: string[] = [],
  receiverOptions: OtlpReceiverOptions = {},
) {
  const port = await freePort();
  const receiver = await startOtlpReceiver(receiverOptions);
  const server: ChildProcess = spawn('nghttpd', ['--no-tls', '-d', dir, String(port)], {
    stdio: 'ignore',
  });
  t.after(async () => {
    await kill(server);
    await receiver.close();
  });
  await waitForPort(port);
  const tracer = await startTracer(
    [server.pid!],
    { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint },
    tracerArgs,
  );
  return { url: `http://127.0.0.1:${port}`, receiver, tracer, server };
}
