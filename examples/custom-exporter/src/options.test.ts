import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebhookExporter, WebhookOptionError, resolveOptions } from './index.js';

/** Constructing with `options` throws a one-line WebhookOptionError naming `option`. */
function refused(options: unknown, option: string, message: RegExp) {
  assert.throws(
    () => new WebhookExporter(options as never),
    (err: unknown) => {
      assert.ok(err instanceof WebhookOptionError, String(err));
      assert.equal(err.option, option);
      assert.ok(err.message.startsWith(`webhook exporter: option '${option}' `), err.message);
      assert.match(err.message, message);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    },
  );
}

test('defaults', () => {
  const o = resolveOptions({ url: 'https://hooks.example/spans' });
  assert.equal(o.url.href, 'https://hooks.example/spans');
  assert.deepEqual(
    [o.maxBatchSpans, o.maxWaitMs, o.maxQueueSpans, o.timeoutMs, o.maxRetries],
    [512, 1000, 8192, 10_000, 3],
  );
  assert.deepEqual([o.retryDelayMs, o.maxRetryDelayMs, o.shutdownTimeoutMs], [500, 10_000, 10_000]);
  assert.deepEqual(o.headers, {});
});

test('a bad option is one line naming it', () => {
  const url = 'http://127.0.0.1:9/';
  refused(undefined, '(options)', /must be an object/);
  refused({}, 'url', /must be an http: or https: URL \(got undefined\)/);
  refused({ url: 'not a url' }, 'url', /is not a URL/);
  refused({ url: 'ftp://host/x' }, 'url', /got ftp:/);
  refused({ url, maxBatch: 10 }, 'maxBatch', /is not an option/);
  refused({ url, maxBatchSpans: 0 }, 'maxBatchSpans', /integer of at least 1 \(got 0\)/);
  refused({ url, maxWaitMs: 1.5 }, 'maxWaitMs', /integer of at least 0 \(got 1.5\)/);
  refused({ url, timeoutMs: '100' }, 'timeoutMs', /got "100"/);
  refused({ url, maxRetries: -1 }, 'maxRetries', /got -1/);
  refused({ url, headers: ['a'] }, 'headers', /must map header names to strings/);
  refused(
    { url, headers: { Authorization: 42 } },
    'headers.Authorization',
    /one-line string \(got 42\)/,
  );
  refused({ url, headers: { 'X-A': 'a\r\nX-B: b' } }, 'headers.X-A', /one-line string/);
  refused({ url, headers: { 'bad name': 'x' } }, 'headers.bad name', /not a valid header name/);
  refused(
    { url, maxBatchSpans: 100, maxQueueSpans: 10 },
    'maxQueueSpans',
    /at least maxBatchSpans \(100\)/,
  );
  refused({ url, signal: 'stop' }, 'signal', /must be an AbortSignal/);
});
