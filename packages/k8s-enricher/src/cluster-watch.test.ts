import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { filter, firstValueFrom, ReplaySubject, timeout } from 'rxjs';
import { watchCluster, type ClusterState } from './cluster-watch.js';
import { FakeApiServer, type FakeObject } from './testing/fake-api-server.js';

const pod = (name: string, node: string, extra: Partial<FakeObject> = {}): FakeObject => ({
  metadata: { name, namespace: 'shop', uid: `uid-${name}` },
  spec: { nodeName: node },
  ...extra,
});

/** Runs watchCluster against `server`; states arrive on the returned subject. */
function watching(server: FakeApiServer, logs: string[] = []) {
  const kc = new KubeConfig();
  kc.loadFromFile(server.writeKubeconfig(join(mkdtempSync(join(tmpdir(), 'kc-')), 'config')));
  const states = new ReplaySubject<ClusterState>(1);
  const sub = watchCluster({
    kubeConfig: kc,
    nodeName: 'node-a',
    retryMs: 50,
    maxRetryMs: 200,
    log: (level, message) => logs.push(`${level}: ${message}`),
  }).subscribe(states);
  const until = (pred: (s: ClusterState) => boolean) =>
    firstValueFrom(states.pipe(filter(pred), timeout(10_000)));
  return { states, until, stop: () => sub.unsubscribe() };
}

const podNames = (s: ClusterState) => [...s.pods.values()].map((p) => p.metadata?.name).sort();

test('the watch lists this node’s pods, namespaces and services, then follows changes', async () => {
  const server = new FakeApiServer();
  await server.start();
  server.put('namespaces', {
    metadata: { name: 'shop', labels: { 'traceableai-mirror': 'enabled' } },
  });
  server.put('pods', pod('web', 'node-a'));
  server.put('pods', pod('elsewhere', 'node-b'));
  server.put('services', {
    metadata: { name: 'web', namespace: 'shop' },
    spec: { selector: { app: 'web' } },
  });
  const w = watching(server);
  try {
    const first = await w.until(() => true);
    assert.deepEqual(podNames(first), ['web']);
    assert.equal(first.nodeName, 'node-a');
    assert.equal(first.namespaces.get('shop')?.metadata?.labels?.['traceableai-mirror'], 'enabled');
    assert.equal(first.services.get('shop')?.[0]?.metadata?.name, 'web');
    // The pod list and watch asked for this node only.
    assert.ok(
      server.requests.some(
        (r) =>
          r.startsWith('GET /api/v1/pods?') && r.includes('fieldSelector=spec.nodeName%3Dnode-a'),
      ),
      server.requests.join('\n'),
    );
    server.put('pods', pod('api', 'node-a'));
    assert.deepEqual(podNames(await w.until((s) => s.pods.size === 2)), ['api', 'web']);
    server.delete('pods', 'web', 'shop');
    assert.deepEqual(podNames(await w.until((s) => s.pods.size === 1)), ['api']);
    server.put('namespaces', {
      metadata: { name: 'shop', labels: { 'traceableai-mirror': 'disabled' } },
    });
    await w.until(
      (s) => s.namespaces.get('shop')?.metadata?.labels?.['traceableai-mirror'] === 'disabled',
    );
  } finally {
    w.stop();
    await server.stop();
  }
});

test('the watch survives a watch timeout, bookmarks, 410 Gone and an API server restart', async () => {
  const server = new FakeApiServer();
  await server.start();
  server.put('namespaces', { metadata: { name: 'shop' } });
  server.put('pods', pod('web', 'node-a'));
  const logs: string[] = [];
  const w = watching(server, logs);
  try {
    await w.until((s) => s.pods.size === 1);
    // The server ends its watches (its timeout): they resume from their version.
    server.endWatches();
    server.put('pods', pod('a2', 'node-a'));
    await w.until((s) => s.pods.size === 2);
    server.bookmark();
    // A change, then the history compacted while no watch is open: the next watch gets 410 Gone
    // and relists.
    server.endWatches();
    const lists = () =>
      server.requests.filter((r) => /^GET \/api\/v1\/pods\?fieldSelector/.test(r)).length;
    const listedBefore = lists();
    server.put('pods', pod('a3', 'node-a'));
    server.compact();
    await w.until((s) => s.pods.size === 3);
    assert.equal(lists(), listedBefore + 1, 'relisted after 410 Gone');
    // Restarted, down for a while: one warning, then the watch resumes and sees later changes.
    // Meanwhile a2 was recreated under its name (a new UID): the old one must not linger.
    await server.restart(400);
    server.delete('pods', 'web', 'shop');
    server.put('pods', pod('a4', 'node-a'));
    server.put('pods', {
      ...pod('a2', 'node-a'),
      metadata: { name: 'a2', namespace: 'shop', uid: 'uid-a2-new' },
    });
    server.compact();
    const after = await w.until(
      (s) => s.pods.size === 3 && s.pods.has('uid-a4') && s.pods.has('uid-a2-new'),
    );
    assert.deepEqual(podNames(after), ['a2', 'a3', 'a4']);
    assert.equal(after.pods.has('uid-a2'), false);
    assert.ok(
      logs.some((l) => /^warn: Kubernetes API: watching \w+ failed/.test(l)),
      logs.join('\n'),
    );
    assert.ok(
      logs.some((l) => /^info: Kubernetes API: watching \w+ again/.test(l)),
      logs.join('\n'),
    );
    // One line per outage and resource, not one per retry.
    assert.ok(
      logs.filter((l) => l.startsWith('warn: Kubernetes API: watching pods')).length <= 2,
      logs.join('\n'),
    );
  } finally {
    w.stop();
    await server.stop();
  }
});

test('a 403 is one line naming the permission; the watch retries and recovers when it is granted', async () => {
  const server = new FakeApiServer();
  await server.start();
  server.put('namespaces', { metadata: { name: 'shop' } });
  server.put('pods', pod('web', 'node-a'));
  server.refuse.set('pods', 403);
  const logs: string[] = [];
  const w = watching(server, logs);
  try {
    await new Promise((r) => setTimeout(r, 600));
    const refused = logs.filter((l) => l.startsWith('error: '));
    assert.deepEqual(refused, [
      "error: Kubernetes API refused to list and watch pods (HTTP 403): the tracer's service account needs get, list and watch on pods",
    ]);
    server.refuse.delete('pods');
    const s = await w.until((st) => st.pods.size === 1);
    assert.deepEqual(podNames(s), ['web']);
  } finally {
    w.stop();
    await server.stop();
  }
});

test('unsubscribing while a watch is being re-established leaves no watch open', async () => {
  // The informer re-watches by itself after a watch ends normally; a stop that lands while that
  // watch request is in flight has nothing to abort yet, and the watch that opens after it would
  // keep the process alive.
  const server = new FakeApiServer();
  await server.start();
  server.put('namespaces', { metadata: { name: 'shop' } });
  server.put('pods', pod('web', 'node-a'));
  const w = watching(server);
  try {
    await w.until((s) => s.pods.size === 1);
    assert.equal(server.openWatches, 3);
    server.hold('pods');
    server.hold('namespaces');
    server.endWatches();
    const deadline = Date.now() + 10_000;
    while (server.held < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.held, 2, 'the informers asked to watch again');
    w.stop();
    server.release();
    // The held watches are answered after the stop: the client must close them at once.
    while (server.openWatches > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.openWatches, 0, 'every watch closed after the stop');
  } finally {
    w.stop();
    await server.stop();
  }
});
