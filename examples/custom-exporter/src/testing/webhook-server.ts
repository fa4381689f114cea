/** A webhook on 127.0.0.1 for the tests: records each request and answers as told. */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the webhook received. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The body's lines, each parsed as JSON. */
  readonly records: Array<Record<string, unknown>>;
}

/** Answers the `n`th request (from 0); returning nothing leaves it unanswered. */
export type Responder = (n: number, res: ServerResponse) => void;

/** A running test webhook. */
export interface TestWebhook {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Resolves once `n` requests have come. */
  received(n: number): Promise<void>;
  close(): Promise<void>;
}

const ok: Responder = (_n, res) => res.writeHead(204).end();

/** Starts a webhook answering with `respond` (default 204 to every request). */
export async function startWebhook(respond: Responder = ok): Promise<TestWebhook> {
  const requests: ReceivedRequest[] = [];
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const records = text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const n = requests.length;
      requests.push({ method: req.method!, path: req.url!, headers: req.headers, records });
      for (const w of waiting.filter((w) => requests.length >= w.n)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
      respond(n, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    received: (n) =>
      requests.length >= n
        ? Promise.resolve()
        : new Promise((resolve) => waiting.push({ n, resolve })),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
