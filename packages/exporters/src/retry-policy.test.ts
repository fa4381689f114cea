import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelayMs,
  parseRetryAfter,
  retryDelayMs,
} from './retry-policy.js';

const mid = () => 0.5; // no jitter

test('backoff doubles from 1 s and stops growing at 5 s', () => {
  const delays = [1, 2, 3, 4, 5, 10, 100].map((n) => backoffDelayMs(n, undefined, mid));
  assert.deepEqual(delays, [1000, 2000, 4000, 5000, 5000, 5000, 5000]);
  assert.equal(backoffDelayMs(0, undefined, mid), 1000, 'attempt below 1 counts as the first');
});

test('a policy overrides the defaults field by field', () => {
  const p = { initialMs: 100, multiplier: 3, maxMs: 1000 };
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => backoffDelayMs(n, p, mid)),
    [100, 300, 900, 1000],
  );
});

test('jitter stays within ±20 % and covers the range', () => {
  for (const attempt of [1, 3, 8]) {
    const base = Math.min(5000, 1000 * 2 ** (attempt - 1));
    assert.equal(
      backoffDelayMs(attempt, undefined, () => 0),
      Math.round(base * 0.8),
    );
    assert.equal(
      backoffDelayMs(attempt, undefined, () => 0.999999),
      Math.round(base * 1.2),
    );
    for (let i = 0; i < 200; i++) {
      const d = backoffDelayMs(attempt, undefined);
      assert.ok(d >= base * 0.8 && d <= base * 1.2, `${d} outside ${base} ± 20 %`);
    }
  }
  assert.equal(
    backoffDelayMs(2, { jitter: 0 }, () => 0),
    2000,
  );
});

test('Retry-After is never undercut, and absurd values are capped', () => {
  assert.equal(retryDelayMs(1, 3000, undefined, mid), 3000, 'longer than the backoff: honoured');
  assert.equal(retryDelayMs(3, 1000, undefined, mid), 4000, 'shorter: the backoff still applies');
  assert.equal(retryDelayMs(1, 0, undefined, mid), 1000, 'Retry-After: 0 does not spin');
  assert.equal(retryDelayMs(1, 86_400_000, undefined, mid), DEFAULT_RETRY_POLICY.maxRetryAfterMs);
  assert.equal(retryDelayMs(2, undefined, undefined, mid), 2000);
});

test('Retry-After parses delta-seconds and HTTP-dates', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('1', now), 1000);
  assert.equal(parseRetryAfter(' 120 ', now), 120_000);
  assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now), 0, 'a past date is now');
  assert.equal(parseRetryAfter(['2', '5'], now), 2000);
  for (const bad of [undefined, '', '-1', '1.5', 'soon', 'Wed, 99 Foo 2025']) {
    assert.equal(parseRetryAfter(bad, now), undefined, String(bad));
  }
});
