import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from './config.js';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

const rejects = (input: unknown, message: RegExp) =>
  assert.throws(
    () => parseConfig(input, 'cfg.yaml'),
    (err: unknown) =>
      err instanceof TracerError && err.code === ErrorCode.Config && message.test(err.message),
  );

test('defaults', () => {
  const c = parseConfig({});
  assert.equal(c.logging.level, 'info');
  assert.equal(c.mode, 'ingress_and_egress');
  assert.equal(c.perfmap_queue_size, 8 * 1024 * 1024);
  assert.deepEqual(c.redact_headers, [
    'authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
  ]);
  assert.equal(c.http2_capture_enabled, true);
  assert.equal(c.response_timeout, 30);
  assert.equal(c.max_header_size, 64 * 1024);
});

test('HTTP parsing keys: values kept, bad ones named', () => {
  const c = parseConfig({
    http2_capture_enabled: false,
    response_timeout: 0,
    max_header_size: 4096,
  });
  assert.deepEqual(
    [c.http2_capture_enabled, c.response_timeout, c.max_header_size],
    [false, 0, 4096],
  );
  rejects({ http2_capture_enabled: 'yes' }, /'http2_capture_enabled'/);
  rejects({ response_timeout: -1 }, /'response_timeout'/);
  rejects({ max_header_size: 10 }, /'max_header_size'/);
});

test('log_level overrides logging.level', () => {
  assert.equal(parseConfig({ log_level: 'debug' }).logging.level, 'debug');
});

test('unknown keys are named, nested ones with their path', () => {
  rejects({ bogus: 1 }, /^cfg\.yaml: 'bogus': unknown key$/);
  rejects({ logging: { colour: true } }, /^cfg\.yaml: 'logging\.colour': unknown key$/);
});

test('bad values name the key', () => {
  rejects({ mode: 'sideways' }, /'mode'/);
  rejects({ perfmap_queue_size: 5000 }, /'perfmap_queue_size': must be a power of two/);
  rejects({ exporter: { otlp: { endpoint: 'not a url' } } }, /'exporter\.otlp\.endpoint'/);
});

test('files: unreadable and invalid YAML are one line each', () => {
  assert.throws(
    () => loadConfig('/nonexistent/cfg.yaml'),
    /cannot read config \/nonexistent\/cfg\.yaml: ENOENT/,
  );
  const dir = mkdtempSync(join(tmpdir(), 'te-cfg-'));
  writeFileSync(join(dir, 'bad.yaml'), 'a: [1, 2\n');
  assert.throws(
    () => loadConfig(join(dir, 'bad.yaml')),
    (e: Error) => /invalid YAML/.test(e.message) && !e.message.includes('\n'),
  );
  writeFileSync(join(dir, 'ok.yaml'), 'log_level: warn\nmode: ingress\npids: [1]\n');
  assert.equal(loadConfig(join(dir, 'ok.yaml')).mode, 'ingress');
});

test('delivery keys: defaults, values kept, bad ones named', () => {
  const d = parseConfig({});
  assert.equal(d.shutdown_timeout, 5);
  assert.equal(d.exporter.otlp.max_queue_bytes, 256 << 20);
  assert.equal(d.exporter.otlp.max_in_flight, 4);
  assert.equal(d.exporter.otlp.implementation, 'traceable');
  const c = parseConfig({
    shutdown_timeout: 20,
    exporter: {
      otlp: {
        compression: 'gzip',
        timeout_ms: 2500,
        max_queue_bytes: 1 << 20,
        max_batch_spans: 256,
        ca_file: '/etc/ca.pem',
      },
    },
  });
  assert.deepEqual(
    [c.shutdown_timeout, c.exporter.otlp.compression, c.exporter.otlp.timeout_ms],
    [20, 'gzip', 2500],
  );
  rejects({ exporter: { otlp: { compression: 'zstd' } } }, /'exporter\.otlp\.compression'/);
  rejects({ exporter: { otlp: { max_queue_bytes: 10 } } }, /'exporter\.otlp\.max_queue_bytes'/);
  rejects({ exporter: { otlp: { max_in_flight: 0 } } }, /'exporter\.otlp\.max_in_flight'/);
  rejects({ shutdown_timeout: -1 }, /'shutdown_timeout'/);
});

test('exporter plugin keys: module and its options, checked together', () => {
  const c = parseConfig({
    exporter: {
      type: 'module',
      module: './webhook.js',
      options: { url: 'http://127.0.0.1:9000/', headers: { Authorization: 'x' } },
    },
  });
  assert.deepEqual(c.exporter.options, {
    url: 'http://127.0.0.1:9000/',
    headers: { Authorization: 'x' },
  });
  assert.equal(parseConfig({}).exporter.options, undefined);
  rejects(
    { exporter: { type: 'module' } },
    /^cfg\.yaml: 'exporter\.module': required with type module$/,
  );
  rejects(
    { exporter: { type: 'otlp', options: { url: 'x' } } },
    /'exporter\.options': goes with exporter\.module/,
  );
  rejects({ exporter: { module: '' } }, /'exporter\.module'/);
  rejects({ exporter: { module: './m.js', options: ['url'] } }, /'exporter\.options'/);
  rejects({ exporter: { modules: './m.js' } }, /'exporter\.modules': unknown key/);
});
