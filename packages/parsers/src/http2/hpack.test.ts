/**
 * HPACK: RFC 7541 Appendix C's examples (requests and responses, with and without Huffman, table
 * evictions) and every story of the hpack-test-case corpus in ../shared/testdata (CI has it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HpackDecoder, UNKNOWN_ENTRY } from './hpack.js';
import { HUFFMAN_LENGTHS, huffmanCode, huffmanDecode } from './hpack-huffman.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decodeOk(d: HpackDecoder, wire: string) {
  const r = d.decode(hex(wire));
  assert.equal(r.status, 'ok', r.status === 'invalid' ? r.reason : '');
  return r.status === 'ok' ? r.headers : [];
}

test('Huffman code: complete, canonical, and the codes the RFC lists', () => {
  assert.equal(HUFFMAN_LENGTHS.length, 257);
  assert.equal(
    HUFFMAN_LENGTHS.reduce((s, l) => s + 2 ** -l, 0),
    1,
    'Kraft sum 1: every bit string decodes',
  );
  const rfc: Array<[number, number, number]> = [
    [0, 0x1ff8, 13],
    [10, 0x3ffffffc, 30],
    [32, 0x14, 6],
    [48, 0x0, 5],
    [97, 0x3, 5],
    [127, 0xffffffc, 28],
    [195, 0x7fff1, 19],
    [255, 0x3ffffee, 26],
    [256, 0x3fffffff, 30],
  ];
  for (const [sym, code, length] of rfc) assert.deepEqual(huffmanCode(sym), { code, length });
});

test('Huffman strings: RFC examples decode; EOS inside, long or non-EOS padding are invalid', () => {
  assert.equal(huffmanDecode(hex('f1e3c2e5f23a6ba0ab90f4ff')), 'www.example.com');
  assert.equal(huffmanDecode(hex('a8eb10649cbf')), 'no-cache');
  assert.equal(huffmanDecode(hex('25a849e95ba97d7f')), 'custom-key');
  assert.equal(huffmanDecode(hex('')), '');
  assert.equal(huffmanDecode(hex('ffffffff')), undefined); // EOS, then padding
  assert.equal(huffmanDecode(hex('1fff')), undefined); // '0' then 11 padding bits
  assert.equal(huffmanDecode(hex('00')), undefined); // '0' then padding of zeros
});

test('RFC 7541 C.3 and C.4: three requests on one connection, plain and Huffman', () => {
  for (const [one, two, three] of [
    [
      '828684410f7777772e6578616d706c652e636f6d',
      '828684be58086e6f2d6361636865',
      '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
    ],
    [
      '828684418cf1e3c2e5f23a6ba0ab90f4ff',
      '828684be5886a8eb10649cbf',
      '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
    ],
  ]) {
    const d = new HpackDecoder();
    assert.deepEqual(decodeOk(d, one!), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    assert.equal(d.tableSize, 57);
    assert.deepEqual(decodeOk(d, two!).at(-1), ['cache-control', 'no-cache']);
    assert.equal(d.tableSize, 110);
    assert.deepEqual(decodeOk(d, three!), [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
    assert.equal(d.tableSize, 164);
    assert.deepEqual(d.dynamicTable, [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ]);
  }
});

test('RFC 7541 C.5 and C.6: three responses with a 256-byte table, entries evicted', () => {
  for (const [one, two, three] of [
    [
      '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
      '4803333037c1c0bf',
      '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
    ],
    [
      '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
      '4883640effc1c0bf',
      '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
    ],
  ]) {
    const d = new HpackDecoder({ maxTableSize: 256 });
    assert.deepEqual(decodeOk(d, one!), [
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['location', 'https://www.example.com'],
    ]);
    assert.equal(d.tableSize, 222);
    assert.deepEqual(decodeOk(d, two!)[0], [':status', '307']);
    assert.equal(d.tableSize, 222);
    assert.deepEqual(decodeOk(d, three!), [
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
      ['location', 'https://www.example.com'],
      ['content-encoding', 'gzip'],
      ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    ]);
    assert.equal(d.tableSize, 215);
    assert.deepEqual(
      d.dynamicTable.map(([k]) => k),
      ['set-cookie', 'content-encoding', 'date'],
    );
  }
});

test('invalid blocks are reported, never thrown: index 0, unknown index, bad size update, truncation', () => {
  const d = () => new HpackDecoder();
  assert.deepEqual(d().decode(hex('80')), { status: 'invalid', reason: 'index 0' });
  assert.equal(d().decode(hex('be')).status, 'invalid'); // 62: dynamic table empty
  assert.equal(d().decode(hex('3fe21f')).status, 'invalid'); // size update 4097 > 4096
  assert.equal(d().decode(hex('823f01')).status, 'invalid'); // size update after a field
  assert.equal(d().decode(hex('410f7777')).status, 'invalid'); // string cut short
  assert.equal(d().decode(hex('ff')).status, 'invalid'); // integer cut short
  assert.equal(d().decode(hex('ffffffffffff7f')).status, 'invalid'); // integer too large
});

test('lenient (joined mid-stream): unknown indexes become placeholders, flagged; known ones decode', () => {
  const d = new HpackDecoder({ lenient: true });
  const r = d.decode(hex('82bf4088' + '25a849e95ba97d7f' + '8925a849e95bb8e8b4bf' + 'be'));
  assert.equal(r.status, 'ok');
  assert.ok(r.status === 'ok' && r.partial);
  assert.deepEqual(r.status === 'ok' && r.headers, [
    [':method', 'GET'],
    [UNKNOWN_ENTRY(63), UNKNOWN_ENTRY(63)],
    ['custom-key', 'custom-value'],
    ['custom-key', 'custom-value'], // index 62: the entry just added is known now
  ]);
  const next = d.decode(hex('be'));
  assert.ok(next.status === 'ok' && !next.partial, 'a refilled table decodes fully');
});

const CORPUS = fileURLToPath(
  new URL('../../../../../shared/testdata/hpack-test-case', import.meta.url),
);

test('every story of the hpack-test-case corpus decodes to its headers', (t) => {
  if (!existsSync(CORPUS)) {
    if (process.env.CI) assert.fail(`hpack-test-case corpus missing at ${CORPUS}`);
    t.skip(`corpus not found at ${CORPUS}`);
    return;
  }
  let stories = 0;
  let blocks = 0;
  for (const dir of readdirSync(CORPUS, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const file of readdirSync(`${CORPUS}/${dir.name}`).filter((f) => f.endsWith('.json'))) {
      const story = JSON.parse(readFileSync(`${CORPUS}/${dir.name}/${file}`, 'utf8')) as {
        cases: Array<{
          header_table_size?: number;
          wire: string;
          headers: Array<Record<string, string>>;
        }>;
      };
      const d = new HpackDecoder();
      for (const [i, c] of story.cases.entries()) {
        if (c.header_table_size !== undefined) d.setMaxTableSize(c.header_table_size);
        const r = d.decode(hex(c.wire));
        const where = `${dir.name}/${file} case ${i}`;
        assert.equal(r.status, 'ok', `${where}: ${r.status === 'invalid' ? r.reason : ''}`);
        // Corpus text is UTF-8; the decoder gives each byte as a latin1 character.
        const want = c.headers.map((h) => {
          const [k, v] = Object.entries(h)[0]!;
          return [Buffer.from(k).toString('latin1'), Buffer.from(v).toString('latin1')];
        });
        assert.deepEqual(r.status === 'ok' && r.headers, want, where);
        blocks++;
      }
      stories++;
    }
  }
  assert.ok(stories > 100, `only ${stories} stories found`);
  t.diagnostic(`${stories} stories, ${blocks} header blocks`);
});

/** A literal field with incremental indexing and a new name (raw strings, lengths < 127). */
const literalIndexed = (name: string, value: string) => {
  const lengthOf = (n: number) => (n < 127 ? [n] : [127, ...varint(n - 127)]);
  const varint = (n: number): number[] => (n < 128 ? [n] : [(n & 0x7f) | 0x80, ...varint(n >> 7)]);
  return [
    0x40,
    ...lengthOf(name.length),
    ...Buffer.from(name),
    ...lengthOf(value.length),
    ...Buffer.from(value),
  ];
};

test('a block of references to one large entry (an HPACK bomb) keeps at most maxListBytes of fields; the table stays in step', () => {
  const d = new HpackDecoder();
  const bomb = Uint8Array.from([
    0x82,
    ...literalIndexed('x-big', 'v'.repeat(4000)),
    ...new Array<number>(10_000).fill(0xbe), // 10,000 × the 4 KB entry: 40 MB if all were kept
  ]);
  const r = d.decode(bomb, 64 * 1024);
  assert.equal(r.status, 'ok');
  if (r.status !== 'ok') return;
  assert.equal(r.truncated, true);
  const kept = r.headers.reduce((n, [k, v]) => n + k.length + v.length, 0);
  assert.ok(kept <= 64 * 1024, `${kept} bytes kept`);
  assert.deepEqual(r.headers[0], [':method', 'GET']);
  // The entry went in: the next block's reference decodes.
  const next = d.decode(Uint8Array.from([0xbe]), 64 * 1024);
  assert.deepEqual(next.status === 'ok' && [next.headers[0]![0], next.truncated], ['x-big', false]);
});

test('a table announced far larger than the memory limit: entries past the limit become placeholders, never other entries', () => {
  const d = new HpackDecoder({ maxTableSize: 1 << 20, memoryLimit: 8 * 1024 });
  // 20 entries of ~1 KiB: the encoder (1 MiB table) keeps all; this side keeps the newest ~7.
  const block: number[] = [];
  for (let i = 0; i < 20; i++)
    block.push(...literalIndexed(`x-${i}`, String(i).repeat(1000 / String(i).length)));
  assert.equal(d.decode(Uint8Array.from(block)).status, 'ok');
  assert.ok(d.tableSize <= 8 * 1024);
  // Index 62 is the newest (x-19), 62 + 19 the oldest (x-0): kept ones decode, the others are
  // placeholders (strict mode, yet no error: this side chose to drop them).
  const r = d.decode(Uint8Array.from([0x80 | 62, 0x80 | (62 + 19)]));
  assert.equal(r.status, 'ok');
  if (r.status !== 'ok') return;
  assert.deepEqual(
    r.headers.map(([k]) => k),
    ['x-19', UNKNOWN_ENTRY(81)],
  );
  assert.equal(r.partial, true);
});
