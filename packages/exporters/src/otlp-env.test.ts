import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_OTLP_TRACES_URL,
  otlpClientOptionsFrom,
  otlpEndpointConfigured,
  otlpProtocolFromEnv,
  otlpTracesUrlFromEnv,
  parseOtlpHeaders,
} from './otlp-env.js';

const P = 'OTEL_EXPORTER_OTLP_';

test('the traces URL: TRACES_ENDPOINT as is, else ENDPOINT + /v1/traces, else the default', () => {
  assert.equal(otlpTracesUrlFromEnv({}), DEFAULT_OTLP_TRACES_URL);
  assert.equal(
    otlpTracesUrlFromEnv({ [`${P}ENDPOINT`]: 'http://collector:4318' }),
    'http://collector:4318/v1/traces',
  );
  assert.equal(
    otlpTracesUrlFromEnv({ [`${P}ENDPOINT`]: 'https://collector:4318/' }),
    'https://collector:4318/v1/traces',
  );
  assert.equal(
    otlpTracesUrlFromEnv({ [`${P}ENDPOINT`]: 'http://gw/otlp/' }),
    'http://gw/otlp/v1/traces',
  );
  assert.equal(
    otlpTracesUrlFromEnv({ [`${P}ENDPOINT`]: 'http://gw/otlp?tenant=a' }),
    'http://gw/otlp/v1/traces?tenant=a',
  );
  assert.equal(
    otlpTracesUrlFromEnv({
      [`${P}ENDPOINT`]: 'http://generic:4318',
      [`${P}TRACES_ENDPOINT`]: 'http://traces:4318/custom/path',
    }),
    'http://traces:4318/custom/path',
  );
  assert.equal(
    otlpTracesUrlFromEnv({ [`${P}TRACES_ENDPOINT`]: ' ', [`${P}ENDPOINT`]: 'http://g' }),
    'http://g/v1/traces',
    'empty counts as unset',
  );
  assert.throws(() => otlpTracesUrlFromEnv({ [`${P}ENDPOINT`]: 'collector:4318' }), {
    code: 'E_CONFIG',
    message: `${P}ENDPOINT=collector:4318: not an http:// or https:// URL`,
  });
});

test('headers: k=v pairs, trimmed, values URL-decoded, TRACES_ keys over generic ones', () => {
  assert.deepEqual(parseOtlpHeaders('H', ' api-key = a%20b%3Dc , x=1,, empty= '), {
    'api-key': 'a b=c',
    x: '1',
    empty: '',
  });
  const o = otlpClientOptionsFrom({
    env: { [`${P}HEADERS`]: 'a=generic,b=generic', [`${P}TRACES_HEADERS`]: 'b=traces' },
  });
  assert.deepEqual(o.headers, { a: 'generic', b: 'traces' });
  for (const bad of ['novalue', '=v', 'a b=c', 'k=%zz']) {
    assert.throws(
      () => otlpClientOptionsFrom({ env: { [`${P}HEADERS`]: bad } }),
      (err: Error & { code?: string }) =>
        err.code === 'E_CONFIG' && err.message.startsWith(`${P}HEADERS=${bad}: `),
      bad,
    );
  }
});

test('protocol: http/protobuf by default, http/json, grpc refused in one line', () => {
  assert.equal(otlpProtocolFromEnv({}), 'http/protobuf');
  assert.equal(otlpProtocolFromEnv({ [`${P}PROTOCOL`]: 'http/json' }), 'http/json');
  assert.equal(
    otlpProtocolFromEnv({
      [`${P}PROTOCOL`]: 'http/json',
      [`${P}TRACES_PROTOCOL`]: 'http/protobuf',
    }),
    'http/protobuf',
  );
  assert.throws(() => otlpProtocolFromEnv({ [`${P}TRACES_PROTOCOL`]: 'grpc' }), {
    code: 'E_CONFIG',
    message: `${P}TRACES_PROTOCOL=grpc: not supported: only http/protobuf and http/json are`,
  });
});

test('compression and timeout, with bad values named', () => {
  const o = otlpClientOptionsFrom({
    env: { [`${P}COMPRESSION`]: 'GZIP', [`${P}TIMEOUT`]: '2500', [`${P}TRACES_TIMEOUT`]: '700' },
  });
  assert.equal(o.compression, 'gzip');
  assert.equal(o.timeoutMs, 700);
  assert.equal(otlpClientOptionsFrom({ env: {} }).compression, undefined);
  assert.throws(() => otlpClientOptionsFrom({ env: { [`${P}COMPRESSION`]: 'zstd' } }), {
    message: `${P}COMPRESSION=zstd: expected gzip or none`,
  });
  for (const bad of ['0', '-5', '10s', 'soon']) {
    assert.throws(() => otlpClientOptionsFrom({ env: { [`${P}TIMEOUT`]: bad } }), {
      code: 'E_CONFIG',
      message: `${P}TIMEOUT=${bad}: expected a timeout in milliseconds (a positive number)`,
    });
  }
});

test('certificate files are read; a missing one is a one-line error naming variable and path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'otlp-env-'));
  try {
    for (const f of ['ca.pem', 'traces-ca.pem', 'client.pem', 'client.key']) {
      writeFileSync(join(dir, f), f);
    }
    const o = otlpClientOptionsFrom({
      env: {
        [`${P}CERTIFICATE`]: join(dir, 'ca.pem'),
        [`${P}TRACES_CERTIFICATE`]: join(dir, 'traces-ca.pem'),
        [`${P}CLIENT_CERTIFICATE`]: join(dir, 'client.pem'),
        [`${P}TRACES_CLIENT_KEY`]: join(dir, 'client.key'),
      },
    });
    assert.equal(String(o.ca), 'traces-ca.pem');
    assert.equal(String(o.cert), 'client.pem');
    assert.equal(String(o.key), 'client.key');
    const missing = join(dir, 'nope.pem');
    assert.throws(() => otlpClientOptionsFrom({ env: { [`${P}CLIENT_KEY`]: missing } }), {
      code: 'E_CONFIG',
      message: `${P}CLIENT_KEY=${missing}: no such file`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('explicit options win over the environment; headers merge', () => {
  const env = {
    [`${P}ENDPOINT`]: 'http://env:4318',
    [`${P}PROTOCOL`]: 'http/json',
    [`${P}HEADERS`]: 'a=env,b=env',
    [`${P}TIMEOUT`]: '100',
    [`${P}CERTIFICATE`]: '/no/such/file.pem',
  };
  const o = otlpClientOptionsFrom({
    env,
    explicit: {
      url: 'https://cfg:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: { b: 'cfg' },
      timeoutMs: 3000,
      ca: Buffer.from('cfg-ca'),
    },
  });
  assert.equal(o.url, 'https://cfg:4318/v1/traces');
  assert.equal(o.protocol, 'http/protobuf');
  assert.deepEqual(o.headers, { a: 'env', b: 'cfg' });
  assert.equal(o.timeoutMs, 3000);
  assert.equal(String(o.ca), 'cfg-ca', 'the env file is not even read');
});

test('otlpEndpointConfigured sees either variable, not empty ones', () => {
  assert.equal(otlpEndpointConfigured({}), false);
  assert.equal(otlpEndpointConfigured({ [`${P}ENDPOINT`]: '' }), false);
  assert.equal(otlpEndpointConfigured({ [`${P}ENDPOINT`]: 'http://c:4318' }), true);
  assert.equal(
    otlpEndpointConfigured({ [`${P}TRACES_ENDPOINT`]: 'http://c:4318/v1/traces' }),
    true,
  );
});
