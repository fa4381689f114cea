/**
 * Property tests (fast-check) for HTTP/2 through the parsing stage: generated multiplexed
 * conversations, cut into events anywhere, give exactly their streams; with a run of bytes lost
 * in one direction they never throw, never report a stream that was not there, never decode a
 * stale table entry, and always count the loss; mutated bytes never throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Stats, type KernelEvent } from '@traceable-ebpf/core';
import { CLIENT_PREFACE, FrameFlag, FrameType } from './frame-layout.js';
import { chunks, close, h2frame, open, run } from '../testing/streams.js';

interface StreamModel {
  path: string;
  authority: string;
  status: number;
  body: Uint8Array;
}

const streamModel: fc.Arbitrary<StreamModel> = fc.record({
  path: fc.stringMatching(/^\/[a-z0-9]{1,12}$/),
  authority: fc.constantFrom('a.local', 'b.local', 'c.local'),
  status: fc.constantFrom(200, 204, 404, 500),
  body: fc.uint8Array({ maxLength: 600 }),
});

const literal = (s: string) => [s.length, ...Buffer.from(s, 'latin1')];

/**
 * Both directions of a conversation. The client indexes each :authority the first time (so
 * later requests refer to the dynamic table); responses carry :status as a literal and the body
 * in DATA frames of up to 256 bytes.
 */
function conversation(streams: StreamModel[]): { client: Buffer; server: Buffer } {
  const client: Buffer[] = [CLIENT_PREFACE, h2frame(FrameType.SETTINGS, 0, 0, '')];
  const server: Buffer[] = [h2frame(FrameType.SETTINGS, 0, 0, '')];
  const table: string[] = []; // newest first
  streams.forEach((s, i) => {
    const id = 2 * i + 1;
    const at = table.indexOf(s.authority);
    const authority = at >= 0 ? [0x80 | (62 + at)] : [0x41, ...literal(s.authority)];
    if (at < 0) table.unshift(s.authority);
    const block = Uint8Array.from([0x82, 0x86, 0x04, ...literal(s.path), ...authority]);
    client.push(
      h2frame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, id, block),
    );
    const last = s.body.length === 0;
    server.push(
      h2frame(
        FrameType.HEADERS,
        FrameFlag.END_HEADERS | (last ? FrameFlag.END_STREAM : 0),
        id,
        Uint8Array.from([0x08, ...literal(String(s.status))]),
      ),
    );
    for (let o = 0; o < s.body.length; o += 256) {
      const end = o + 256 >= s.body.length;
      server.push(
        h2frame(FrameType.DATA, end ? FrameFlag.END_STREAM : 0, id, s.body.subarray(o, o + 256)),
      );
    }
  });
  return { client: Buffer.concat(client), server: Buffer.concat(server) };
}

/** Events of one direction cut at `cuts`, with bytes [lostFrom, lostTo) never delivered. */
function direction(
  dir: 'send' | 'recv',
  bytes: Buffer,
  cuts: number[],
  ts: number,
  lost?: [number, number],
): KernelEvent[] {
  if (!lost) return chunks(dir, bytes, cuts, ts);
  const [from, to] = lost;
  return [
    ...chunks(dir, bytes.subarray(0, from), cuts, ts),
    ...chunks(
      dir,
      bytes.subarray(to),
      cuts.map((c) => c - to),
      ts + 1000,
      to,
    ),
  ];
}

const cuts = fc
  .array(fc.nat({ max: 20_000 }), { maxLength: 12 })
  .map((c) => [...c].sort((a, b) => a - b));

test('any HTTP/2 conversation, cut anywhere, gives exactly its streams', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(streamModel, { selector: (s) => s.path, minLength: 1, maxLength: 8 }),
      cuts,
      cuts,
      async (streams, cc, sc) => {
        const { client, server } = conversation(streams);
        const stats = new Stats();
        const exs = await run(
          [
            open('server'),
            ...direction('recv', client, cc, 10),
            ...direction('send', server, sc, 5000),
            close(server.length, client.length),
          ],
          stats,
        );
        assert.deepEqual(
          exs.map((e) => [
            e.request.target,
            e.request.authority,
            e.response?.status,
            e.response?.bodySize,
            e.partial,
          ]),
          streams.map((s) => [s.path, s.authority, s.status, s.body.length, false]),
        );
      },
    ),
    { numRuns: 200 },
  );
});

test('bytes lost in one direction: no throw, only real streams, exact unless flagged partial, the loss counted', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(streamModel, { selector: (s) => s.path, minLength: 2, maxLength: 8 }),
      fc.boolean(),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 1, max: 700 }),
      cuts,
      async (streams, inRequests, where, length, cc) => {
        const { client, server } = conversation(streams);
        const bytes = inRequests ? client : server;
        const from = Math.floor(where * (bytes.length - 1));
        const lost: [number, number] = [from, Math.min(bytes.length, from + length)];
        const stats = new Stats();
        const exs = await run(
          [
            open('server'),
            ...direction('recv', client, cc, 10, inRequests ? lost : undefined),
            ...direction('send', server, [], 5000, inRequests ? undefined : lost),
            close(server.length, client.length),
          ],
          stats,
        );
        const byPath = new Map(streams.map((s) => [s.path, s]));
        for (const e of exs) {
          if (e.request.target === '') continue; // a response whose request was lost
          const s = byPath.get(e.request.target);
          assert.ok(s, `no stream ${e.request.target}`);
          // A stream not flagged partial is exact.
          if (!e.partial && e.response)
            assert.deepEqual(
              [e.request.authority, e.response.status, e.response.bodySize],
              [s.authority, s.status, s.body.length],
            );
          // An authority is either the stream's own or not known; never another entry's.
          if (e.request.authority !== undefined)
            assert.ok(
              streams.some(
                (m) => m.path === e.request.target && m.authority === e.request.authority,
              ),
            );
        }
        assert.ok(exs.length <= streams.length + 1);
        if (lost[1] > lost[0] && lost[1] < bytes.length) {
          // The reassembler marks the gap once; the parser says what became of it: absorbed in
          // a body, resynchronised at a frame boundary, the connection given up, or (before the
          // preface was whole) followed from there as a connection joined mid-stream.
          assert.equal(stats.get('ReassemblyGaps'), 1);
          assert.equal(
            stats.get('GapsAbsorbedInBodies') +
              stats.get('Http2GapsResynced') +
              stats.get('Http2ConnectionsAbandoned') +
              stats.get('GapsBeforeParsing'),
            1,
            JSON.stringify(Object.entries(stats.snapshot()).filter(([, v]) => v)),
          );
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('mutated HTTP/2 bytes never throw', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(streamModel, { selector: (s) => s.path, minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 8 }),
      async (streams, flips) => {
        const { client, server } = conversation(streams);
        for (const [at, b] of flips) {
          const target = at % 2 ? client : server;
          target[at % target.length] = b;
        }
        const stats = new Stats();
        const exs = await run(
          [open('server'), ...chunks('recv', client, [], 10), ...chunks('send', server, [], 20)],
          stats,
        );
        assert.ok(exs.length <= 2 * streams.length + 1);
      },
    ),
    { numRuns: 300 },
  );
});
