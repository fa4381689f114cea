/**
 * The protocol seam: a protocol written outside the built-in ones plugs into the stage,
 * detection asks protocols in order, `http2: false` leaves HTTP/2 out, and `parseHttp1` is the
 * same stage as `parseHttp`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stats, type Direction, type HttpRequest } from '@traceable-ebpf/core';
import { parseHttp, parseHttp1 } from './parse-http.js';
import { http1Protocol } from './http1/protocol.js';
import { http2Protocol } from './http2/protocol.js';
import type { ConnectionParser, Protocol } from './protocol.js';
import { CLIENT_PREFACE } from './http2/frame-layout.js';
import {
  chunks,
  close,
  h2frame,
  hpackBlock,
  open,
  run,
  serverConnection,
} from './testing/streams.js';

/**
 * A line protocol for the test: a client sends `PING <word>\n`, the server answers `PONG <word>\n`.
 * Each pair is one exchange with protocol `ping`.
 */
function pingProtocol(): Protocol {
  return {
    name: 'ping',
    detect: ({ bytes }) => {
      const text = Buffer.from(bytes).toString('latin1');
      if (text.startsWith('PING ')) return { verdict: 'yes', role: 'server', at: 0, other: 'drop' };
      return 'PING '.startsWith(text) ? { verdict: 'more' } : { verdict: 'no' };
    },
    create: (start, ctx): ConnectionParser => {
      const reqDir: Direction = start.role === 'server' ? 'recv' : 'send';
      const text: Record<Direction, string> = { send: '', recv: '' };
      const asked: Array<{ word: string; tsNs: number }> = [];
      return {
        tentative: false,
        feed(direction, data, tsNs) {
          text[direction] += Buffer.from(data).toString('latin1');
          let nl: number;
          while ((nl = text[direction].indexOf('\n')) >= 0) {
            const line = text[direction].slice(0, nl);
            text[direction] = text[direction].slice(nl + 1);
            const [verb, word = ''] = line.split(' ');
            if (direction === reqDir && verb === 'PING') asked.push({ word, tsNs });
            else if (direction !== reqDir && verb === 'PONG') {
              const q = asked.shift();
              if (!q) continue;
              const request: HttpRequest = {
                method: 'PING',
                target: q.word,
                version: '',
                headers: [],
                body: new Uint8Array(0),
                bodySize: 0,
                startNs: q.tsNs,
                endNs: q.tsNs,
              };
              ctx.emit({
                protocol: 'ping',
                connection: start.connection(),
                request,
                partial: false,
                response: {
                  ...request,
                  status: word === q.word ? 200 : 500,
                  startNs: tsNs,
                  endNs: tsNs,
                },
              });
            } else return { stop: 'unsupported' };
          }
          return undefined;
        },
        gap: () => {},
        expire: () => {},
        close: () => {},
        abandon: () => {},
        dispose: () => {},
      };
    },
  };
}

test('a protocol of its own plugs in beside the built-in ones; each connection goes to the one that recognises it', async () => {
  const stats = new Stats();
  const events = [
    ...serverConnection('PING a\nPING b\n', 'PONG a\nPONG c\n'),
    ...serverConnection(
      'GET /x HTTP/1.1\r\nHost: h\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
    ).map((e) => ({ ...e, conn: '7:6:100' })),
  ];
  const exs = await run(
    events,
    stats,
    undefined,
    {},
    {
      protocols: [pingProtocol(), http1Protocol()],
    },
  );
  assert.deepEqual(
    exs.map((e) => [e.protocol, e.request.method, e.request.target, e.response?.status]),
    [
      ['ping', 'PING', 'a', 200],
      ['ping', 'PING', 'b', 500],
      ['http1', 'GET', '/x', 204],
    ],
  );
  assert.equal(stats.get('TotalRequestsParsed'), 1, 'the ping protocol keeps its own counts');
});

test('a connection no protocol recognises is dropped, counted, and reported to onUnsupported', async () => {
  const stats = new Stats();
  const unsupported: string[] = [];
  const exs = await run(
    serverConnection('HELLO there\n', 'hi\n'),
    stats,
    undefined,
    {},
    {
      protocols: [pingProtocol()],
      onUnsupported: (id) => unsupported.push(id),
    },
  );
  assert.deepEqual(exs, []);
  assert.equal(unsupported.length, 1);
  assert.equal(stats.get('TotalEventsDroppedAtParsing'), 'HELLO there\n'.length + 'hi\n'.length);
});

const H2C_CONNECTION = () => {
  const request = Buffer.concat([
    CLIENT_PREFACE,
    h2frame(4, 0, 0, ''),
    h2frame(1, 0x5, 1, hpackBlock(0x82, 0x86, 0x84, [':authority', 'h'])),
  ]);
  const response = Buffer.concat([h2frame(4, 0, 0, ''), h2frame(1, 0x5, 1, hpackBlock(0x88))]);
  return [
    open('server'),
    ...chunks('recv', request, [], 10),
    ...chunks('send', response, [], 20),
    close(response.length, request.length),
  ];
};

test('HTTP/2 is followed by default and left out with http2: false (its preface is not HTTP/1 either)', async () => {
  const on = await run(H2C_CONNECTION());
  assert.deepEqual(
    on.map((e) => [e.protocol, e.request.method, e.request.target, e.response?.status]),
    [['http2', 'GET', '/', 200]],
  );
  const stats = new Stats();
  const off = await run(H2C_CONNECTION(), stats, undefined, {}, { http2: false });
  assert.deepEqual(off, []);
  assert.ok(stats.get('TotalEventsDroppedAtParsing') > 0);
  const listed = await run(
    H2C_CONNECTION(),
    new Stats(),
    undefined,
    {},
    {
      protocols: [http1Protocol()],
    },
  );
  assert.deepEqual(listed, [], 'a protocol list without http2 is the same as http2: false');
  const only = await run(
    H2C_CONNECTION(),
    new Stats(),
    undefined,
    {},
    {
      protocols: [http2Protocol()],
    },
  );
  assert.equal(only.length, 1);
});

test('parseHttp1 (deprecated) is the same stage as parseHttp', () => {
  assert.equal(parseHttp1, parseHttp);
});
