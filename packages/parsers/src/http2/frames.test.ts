import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_PREFACE, FrameFlag, FrameType } from './frame-layout.js';
import type { Http2Frame } from './frame-payloads.js';
import { Http2FrameParser } from './frames.js';
import { h2frame } from '../testing/streams.js';

const frame = h2frame;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

const STREAM = Buffer.concat([
  CLIENT_PREFACE,
  frame(FrameType.SETTINGS, 0, 0, Buffer.from([0, 1, 0, 0, 0x10, 0, 0, 5, 0, 0, 0x40, 0])),
  frame(FrameType.SETTINGS, FrameFlag.ACK, 0, ''),
  // HEADERS, padded (3 bytes) with priority fields, block continued twice
  frame(
    FrameType.HEADERS,
    FrameFlag.PADDED | FrameFlag.PRIORITY,
    1,
    Buffer.concat([
      Buffer.from([3]),
      u32(0),
      Buffer.from([16]),
      Buffer.from('ab'),
      Buffer.alloc(3),
    ]),
  ),
  frame(FrameType.CONTINUATION, 0, 1, 'cd'),
  frame(FrameType.CONTINUATION, FrameFlag.END_HEADERS, 1, 'ef'),
  frame(
    FrameType.DATA,
    FrameFlag.PADDED,
    1,
    Buffer.concat([Buffer.from([2]), Buffer.from('hello'), Buffer.alloc(2)]),
  ),
  frame(FrameType.DATA, FrameFlag.END_STREAM, 1, ' world'),
  frame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.END_STREAM, 3, 'xy'),
  frame(FrameType.RST_STREAM, 0, 3, u32(8)),
  frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
  frame(FrameType.WINDOW_UPDATE, 0, 0, u32(65535)),
  frame(
    FrameType.PUSH_PROMISE,
    FrameFlag.END_HEADERS,
    1,
    Buffer.concat([u32(2), Buffer.from('pp')]),
  ),
  frame(0xfa, 0, 0, 'unknown types are ignored'),
  frame(FrameType.GOAWAY, 0, 0, Buffer.concat([u32(3), u32(0)])),
]);

const EXPECTED: unknown[] = [
  {
    type: 'settings',
    settings: [
      [1, 4096],
      [5, 16384],
    ],
  },
  { type: 'other', frameType: FrameType.SETTINGS, streamId: 0 },
  { type: 'headers', streamId: 1, block: 'abcdef', endStream: false },
  { type: 'data', streamId: 1, data: 'hello', endStream: false },
  { type: 'data', streamId: 1, data: ' world', endStream: true },
  { type: 'headers', streamId: 3, block: 'xy', endStream: true },
  { type: 'rst-stream', streamId: 3, errorCode: 8 },
  { type: 'other', frameType: FrameType.PING, streamId: 0 },
  { type: 'other', frameType: FrameType.WINDOW_UPDATE, streamId: 0 },
  { type: 'headers', streamId: 1, block: 'pp', endStream: false, promisedStreamId: 2 },
  { type: 'other', frameType: 0xfa, streamId: 0 },
  { type: 'goaway', lastStreamId: 3, errorCode: 0 },
];

/**
 * Frames with consecutive DATA of one stream joined: a DATA payload is delivered as it arrives,
 * so where it is cut depends on the feeds, not on the stream.
 */
type Plain = { type: string; streamId?: number; data?: string; endStream?: boolean };
function joinData(frames: unknown[]): unknown[] {
  const out: Plain[] = [];
  for (const f of frames as Plain[]) {
    const last = out.at(-1);
    if (
      f.type === 'data' &&
      last?.type === 'data' &&
      last.streamId === f.streamId &&
      !last.endStream
    )
      out[out.length - 1] = { ...last, data: last.data! + f.data!, endStream: f.endStream! };
    else out.push(f);
  }
  return out;
}

/** Frames with byte payloads as text, for comparison. */
const plain = (f: Http2Frame) =>
  f.type === 'data'
    ? { ...f, data: Buffer.from(f.data).toString('latin1') }
    : f.type === 'headers'
      ? { ...f, block: Buffer.from(f.block).toString('latin1') }
      : f;

function parse(pieces: Uint8Array[], expectPreface = true) {
  const frames: unknown[] = [];
  const p = new Http2FrameParser({ expectPreface, onFrame: (f) => frames.push(plain(f)) });
  const statuses = pieces.map((b) => p.feed(b).status);
  return { frames, statuses, buffered: p.buffered };
}

test('every frame type, padding, priority fields and CONTINUATION, in one piece', () => {
  const r = parse([STREAM]);
  assert.deepEqual(r.frames, EXPECTED); // in one piece, each DATA frame is one piece
  assert.equal(r.buffered, 0);
});

test('the stream split at every byte position, and one byte per feed, gives the same frames', () => {
  for (let cut = 1; cut < STREAM.length; cut++) {
    const r = parse([STREAM.subarray(0, cut), STREAM.subarray(cut)]);
    assert.deepEqual(joinData(r.frames), joinData(EXPECTED), `cut at ${cut}`);
  }
  const bytes = Array.from(STREAM, (b) => Uint8Array.of(b));
  const r = parse(bytes);
  assert.deepEqual(joinData(r.frames), joinData(EXPECTED));
  assert.ok(r.statuses.every((s) => s === 'need-more'));
});

test('broken framing is reported once and for good, never thrown', () => {
  const invalid = (pieces: Uint8Array[], expectPreface = false) => {
    const p = new Http2FrameParser({ expectPreface, onFrame: () => {} });
    let last = '';
    for (const b of pieces) {
      const r = p.feed(b);
      if (r.status === 'invalid') last = r.reason;
    }
    return last;
  };
  assert.equal(invalid([Buffer.from('GET / HTTP/1.1\r\n')], true), 'no client connection preface');
  assert.match(invalid([frame(FrameType.DATA, 0, 1, Buffer.alloc(16385))]), /over the limit/);
  assert.match(invalid([frame(FrameType.CONTINUATION, FrameFlag.END_HEADERS, 1, 'x')]), /without/);
  assert.match(
    invalid([frame(FrameType.HEADERS, 0, 1, 'a'), frame(FrameType.DATA, 0, 1, 'b')]),
    /interrupted/,
  );
  assert.match(
    invalid([frame(FrameType.DATA, FrameFlag.PADDED, 1, Buffer.from([9, 1]))]),
    /padding/,
  );
  assert.match(invalid([frame(FrameType.RST_STREAM, 0, 1, 'abc')]), /RST_STREAM/);
  // After an error, later bytes are not parsed.
  assert.match(
    invalid([
      frame(FrameType.RST_STREAM, 0, 1, 'abc'),
      frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
    ]),
    /RST_STREAM/,
  );
});

test('SETTINGS_MAX_FRAME_SIZE from the other direction raises the limit', () => {
  const frames: Http2Frame[] = [];
  const p = new Http2FrameParser({ expectPreface: false, onFrame: (f) => frames.push(f) });
  p.setMaxFrameSize(65536);
  assert.equal(p.feed(frame(FrameType.DATA, 0, 1, Buffer.alloc(40000))).status, 'need-more');
  assert.equal(frames.length, 1);
});

test('a header block growing past its cap through CONTINUATIONs is invalid (memory stays bounded)', () => {
  const p = new Http2FrameParser({
    expectPreface: false,
    onFrame: () => {},
    maxHeaderBlockBytes: 1000,
  });
  assert.equal(p.feed(frame(FrameType.HEADERS, 0, 1, Buffer.alloc(600))).status, 'need-more');
  const r = p.feed(frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(600)));
  assert.deepEqual(r, { status: 'invalid', reason: 'header block too large' });
  assert.equal(p.buffered, 0);
});

test('an optional preface (a connection joined near its start): consumed when there, frames when not', () => {
  for (const [bytes, expected] of [
    [STREAM, EXPECTED],
    [STREAM.subarray(CLIENT_PREFACE.length), EXPECTED],
  ] as const) {
    const frames: unknown[] = [];
    const p = new Http2FrameParser({
      expectPreface: 'optional',
      onFrame: (f) => frames.push(plain(f)),
    });
    assert.equal(p.feed(bytes.subarray(0, 3)).status, 'need-more');
    assert.equal(p.feed(bytes.subarray(3)).status, 'need-more');
    assert.deepEqual(joinData(frames), joinData(expected));
  }
});

test('a gap inside a DATA payload is absorbed: the payload goes on, a piece says how much was lost', () => {
  const frames: Http2Frame[] = [];
  const p = new Http2FrameParser({ expectPreface: false, onFrame: (f) => frames.push(f) });
  const data = frame(FrameType.DATA, FrameFlag.END_STREAM, 1, 'abcdefghij');
  const text = (fs: Http2Frame[]) =>
    fs.map((f) => (f.type === 'data' ? { ...f, data: Buffer.from(f.data).toString() } : f));
  p.feed(data.subarray(0, 12)); // header + "abc"
  assert.equal(p.skip(4), 'absorbed'); // "defg" lost
  p.feed(data.subarray(16)); // "hij"
  assert.deepEqual(text(frames), [
    { type: 'data', streamId: 1, data: 'abc', endStream: false },
    { type: 'data', streamId: 1, data: '', endStream: false, lost: 4 },
    { type: 'data', streamId: 1, data: 'hij', endStream: true },
  ]);
  // A gap that ends the frame ends it (END_STREAM with the lost piece); a gap past it resyncs.
  frames.length = 0;
  p.feed(data.subarray(0, 15));
  assert.equal(p.skip(4), 'absorbed');
  assert.deepEqual(text(frames).at(-1), {
    type: 'data',
    streamId: 1,
    data: '',
    endStream: true,
    lost: 4,
  });
  p.feed(data.subarray(0, 15));
  assert.equal(p.skip(5), 'resync');
});

test('a 4 MiB DATA frame is passed on as it arrives, never held whole', () => {
  const p = new Http2FrameParser({ expectPreface: false, onFrame: () => {} });
  p.setMaxFrameSize(1 << 24);
  const big = frame(FrameType.DATA, FrameFlag.END_STREAM, 1, Buffer.alloc(4 << 20));
  let most = 0;
  for (let at = 0; at < big.length; at += 16384) {
    p.feed(big.subarray(at, at + 16384));
    most = Math.max(most, p.buffered);
  }
  assert.ok(most < 9, `${most} bytes held`);
});

test('a gap across frame boundaries: the parser finds the next frame start, wherever the bytes resume', () => {
  const tail = Buffer.concat([
    frame(FrameType.HEADERS, FrameFlag.END_HEADERS, 5, 'block'),
    frame(FrameType.DATA, 0, 5, 'x'.repeat(30)),
    frame(FrameType.WINDOW_UPDATE, 0, 0, u32(100)),
  ]);
  // Resuming at a frame start (the next event), or mid-way through a frame (a stack whose
  // writes split frames): the bytes before the first frame start are skipped, counted.
  for (const junk of [0, 1, 7, 40]) {
    const frames: Http2Frame[] = [];
    const p = new Http2FrameParser({ expectPreface: false, onFrame: (f) => frames.push(f) });
    p.feed(frame(FrameType.HEADERS, 0, 1, 'partial-bl')); // a block waiting for CONTINUATION
    assert.equal(p.skip(500), 'resync');
    const r = p.feed(Buffer.concat([Buffer.from('Z'.repeat(junk)), tail]));
    assert.deepEqual(r, junk ? { status: 'need-more', skipped: junk } : { status: 'need-more' });
    assert.deepEqual(
      frames.map((f) => f.type),
      ['headers', 'data', 'other'],
      `junk ${junk}`,
    );
  }
});

test('no frame boundary within the search budget after a gap: invalid, for good', () => {
  const p = new Http2FrameParser({ expectPreface: false, onFrame: () => {} });
  p.skip(10);
  let r = p.feed(Buffer.alloc(0x40000, 0xff));
  for (let i = 0; i < 4 && r.status === 'need-more'; i++) r = p.feed(Buffer.alloc(0x40000, 0xff));
  assert.equal(r.status, 'invalid');
});
