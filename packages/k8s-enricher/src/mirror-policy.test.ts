import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { isTracerError } from '@traceable-ebpf/core';
import { MirrorPolicy } from './mirror-policy.js';
import { matches, parseFieldSelector, parseLabelSelector } from './selectors.js';

const pod = (
  annotations: Record<string, string> = {},
  labels: Record<string, string> = {},
  namespace = 'shop',
): V1Pod => ({
  metadata: { name: 'web-1', namespace, uid: 'u1', annotations, labels },
  spec: { containers: [], nodeName: 'node-a', serviceAccountName: 'web' },
  status: { phase: 'Running' },
});
const ns = (
  labels: Record<string, string> = {},
  annotations: Record<string, string> = {},
): V1Namespace => ({
  metadata: { name: 'shop', labels, annotations },
});
const decide = (policy: MirrorPolicy, p: V1Pod, n?: V1Namespace) => {
  const d = policy.decide(p, n);
  return [d.enabled, d.mode, d.reason];
};

test('mirroring is off by default and on everywhere with mirror-all-namespaces', () => {
  assert.deepEqual(decide(new MirrorPolicy(), pod(), ns()), [false, 'ingress', 'default-off']);
  assert.deepEqual(decide(new MirrorPolicy({ mirrorAllNamespaces: true }), pod(), ns()), [
    true,
    'ingress',
    'all-namespaces',
  ]);
  // A pod whose namespace isn't known yet follows the settings alone.
  assert.deepEqual(decide(new MirrorPolicy({ mirrorAllNamespaces: true }), pod(), undefined), [
    true,
    'ingress',
    'all-namespaces',
  ]);
});

test('the namespace label turns a namespace on or off, over mirror-all; the pod annotation turns one pod off', () => {
  const off = new MirrorPolicy();
  const all = new MirrorPolicy({ mirrorAllNamespaces: true });
  assert.deepEqual(decide(off, pod(), ns({ 'traceableai-mirror': 'enabled' })), [
    true,
    'ingress',
    'namespace-label',
  ]);
  assert.deepEqual(decide(all, pod(), ns({ 'traceableai-mirror': 'disabled' })), [
    false,
    'ingress',
    'namespace-label',
  ]);
  assert.deepEqual(
    decide(
      off,
      pod({ 'mirror.traceable.ai/enabled': 'false' }),
      ns({ 'traceableai-mirror': 'enabled' }),
    ),
    [false, 'ingress', 'pod-annotation'],
  );
  assert.deepEqual(decide(all, pod({ 'mirror.traceable.ai/enabled': 'FALSE ' }), ns()), [
    false,
    'ingress',
    'pod-annotation',
  ]);
  // Any other value of the annotation changes nothing.
  assert.deepEqual(decide(all, pod({ 'mirror.traceable.ai/enabled': 'true' }), ns()), [
    true,
    'ingress',
    'all-namespaces',
  ]);
});

test('the mode: the pod annotation, else the namespace default, else ingress; a bad value is reported', () => {
  const all = new MirrorPolicy({ mirrorAllNamespaces: true });
  assert.deepEqual(decide(all, pod(), ns({}, { 'mirror.traceable.ai/defaultMode': 'egress' })), [
    true,
    'egress',
    'all-namespaces',
  ]);
  assert.deepEqual(
    decide(
      all,
      pod({ 'mirror.traceable.ai/mode': 'ingress_and_egress' }),
      ns({}, { 'mirror.traceable.ai/defaultMode': 'egress' }),
    ),
    [true, 'ingress_and_egress', 'all-namespaces'],
  );
  const bad = all.decide(pod({ 'mirror.traceable.ai/mode': 'both' }), ns());
  assert.deepEqual([bad.mode, bad.badMode], ['ingress', 'both']);
});

test('match selectors: field and label selectors, all of an entry, any entry', () => {
  const policy = new MirrorPolicy({
    matchSelectors: [
      { field_selectors: ['metadata.namespace=testgoapp'] },
      {
        field_selectors: ['metadata.namespace=shop,status.phase=Running'],
        label_selectors: ['app in (web,api)'],
      },
    ],
  });
  assert.deepEqual(decide(policy, pod({}, {}, 'testgoapp'), undefined), [
    true,
    'ingress',
    'match-selector',
  ]);
  assert.deepEqual(decide(policy, pod({}, { app: 'web' }), ns()), [
    true,
    'ingress',
    'match-selector',
  ]);
  assert.deepEqual(decide(policy, pod({}, { app: 'db' }), ns()), [false, 'ingress', 'default-off']);
  assert.deepEqual(decide(policy, pod({}, {}, 'other'), undefined), [
    false,
    'ingress',
    'default-off',
  ]);
  // The namespace label still wins.
  assert.deepEqual(
    decide(policy, pod({}, {}, 'testgoapp'), {
      metadata: { name: 'testgoapp', labels: { 'traceableai-mirror': 'disabled' } },
    }),
    [false, 'ingress', 'namespace-label'],
  );
});

test('selectors parse the API server’s syntax and reject what it would', () => {
  const labels: Record<string, string> = {
    app: 'web',
    tier: 'front',
    'app.kubernetes.io/name': 'shop',
  };
  const has = (text: string) => matches(parseLabelSelector(text), (k) => labels[k]);
  assert.equal(has('app=web'), true);
  assert.equal(has('app==web,tier!=db'), true);
  assert.equal(has('app.kubernetes.io/name=shop'), true);
  assert.equal(has('app notin (web)'), false);
  assert.equal(has('tier in (front, back)'), true);
  assert.equal(has('canary'), false);
  assert.equal(has('!canary'), true);
  assert.equal(has('missing!=x'), true);
  assert.equal(has(''), true);
  for (const bad of ['app in ()', 'a=b=c', '=web', 'app in (a', '!app in (x)']) {
    assert.throws(
      () => parseLabelSelector(bad),
      (e: unknown) => isTracerError(e) && e.message.startsWith(`label selector '${bad}'`),
      bad,
    );
  }
  assert.equal(
    matches(parseFieldSelector('metadata.namespace!=kube-system'), () => 'shop'),
    true,
  );
  assert.throws(
    () => parseFieldSelector('metadata.labels=x'),
    (e: unknown) => isTracerError(e) && /'metadata.labels' is not a pod field/.test(e.message),
  );
  assert.throws(
    () => new MirrorPolicy({ matchSelectors: [{}] }),
    (e: unknown) => isTracerError(e) && /match_selectors\[0\]: needs/.test(e.message),
  );
});
