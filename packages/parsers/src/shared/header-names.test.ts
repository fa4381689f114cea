import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderNameCache, internHeaderName } from './header-names.js';

test('equal header names come back as one string, whatever string they were cut from', () => {
  const text = 'Content-Type: text/html\r\nContent-Type';
  const a = internHeaderName(text.slice(0, 12));
  const b = internHeaderName(text.slice(25));
  assert.equal(a, 'Content-Type');
  assert.equal(b, 'Content-Type');
  // The cache hands the first one back for the second: one string per name.
  const cache = new HeaderNameCache();
  const first = cache.intern(0, `Content-${'Type'}`);
  assert.equal(first, a);
  assert.equal(cache.intern(0, text.slice(25)), first);
  // Another name at the same position replaces it; names keep their case.
  assert.equal(cache.intern(0, 'content-type'), 'content-type');
  assert.equal(cache.intern(1, 'X-Custom'), 'X-Custom');
});

test('long names pass through unchanged and hostile streams of new names stay bounded', () => {
  const long = 'X'.repeat(200);
  assert.equal(internHeaderName(long), long);
  const cache = new HeaderNameCache();
  // 10,000 distinct names at 100 positions: every one comes back equal to itself.
  for (let i = 0; i < 10_000; i++) {
    const name = `x-name-${i}`;
    assert.equal(cache.intern(i % 100, name), name);
  }
});
