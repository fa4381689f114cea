import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { Subject, firstValueFrom, from, lastValueFrom, of, toArray } from 'rxjs';
import { Stats, type ApiExchange } from '@traceable-ebpf/core';
import type { ClusterState } from './cluster-watch.js';
import { MirrorPolicy } from './mirror-policy.js';
import { podCapturePolicy } from './pod-policy.js';
import { enrichPods } from './enrich-pods.js';

const uid = (n: number) => `0000000${n}-0000-4000-8000-000000000000`;
const cid = (n: number) => String(n).repeat(64).slice(0, 64);

function mkPod(n: number, ns: string, annotations: Record<string, string> = {}): V1Pod {
  return {
    metadata: {
      name: `web-${n}`,
      namespace: ns,
      uid: uid(n),
      resourceVersion: '1',
      annotations,
      labels: { app: 'web', tier: `t${n}` },
    },
    spec: { containers: [], nodeName: 'node-a' },
    status: {
      qosClass: 'BestEffort',
      containerStatuses: [
        {
          name: 'main',
          containerID: `containerd://${cid(n)}`,
          image: '',
          imageID: '',
          ready: true,
          restartCount: 0,
        },
      ],
    },
  };
}

const state = (pods: V1Pod[], namespaces: V1Namespace[] = []): ClusterState => ({
  nodeName: 'node-a',
  pods: new Map(pods.map((p) => [p.metadata!.uid!, p])),
  namespaces: new Map(namespaces.map((n) => [n.metadata!.name!, n])),
  services: new Map(),
});

test('mirrored pods become cgroup selectors in their mode; decisions are logged once per change', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cg-'));
  const dir = (n: number) => join(root, `kubepods/besteffort/pod${uid(n)}/${cid(n)}`);
  for (const n of [1, 2, 3]) mkdirSync(dir(n), { recursive: true });
  const logs: Array<[string, Record<string, unknown> | undefined]> = [];
  const shop: V1Namespace = {
    metadata: { name: 'shop', labels: { 'traceableai-mirror': 'enabled' } },
  };
  const states = [
    state([mkPod(1, 'shop'), mkPod(2, 'other')], [shop]),
    // A pod annotated to egress, and one turned off.
    state(
      [
        mkPod(1, 'shop', { 'mirror.traceable.ai/mode': 'egress' }),
        mkPod(2, 'other'),
        mkPod(3, 'shop', { 'mirror.traceable.ai/enabled': 'false' }),
      ],
      [shop],
    ),
    // The same again: no new policy, no new lines.
    state(
      [
        mkPod(1, 'shop', { 'mirror.traceable.ai/mode': 'egress' }),
        mkPod(2, 'other'),
        mkPod(3, 'shop', { 'mirror.traceable.ai/enabled': 'false' }),
      ],
      [shop],
    ),
    state([], [shop]),
  ];
  const policies = await lastValueFrom(
    from(states).pipe(
      podCapturePolicy({
        policy: new MirrorPolicy(),
        cgroupRoots: [root],
        log: (_level, message, fields) => logs.push([message, fields]),
      }),
      toArray(),
    ),
  );
  assert.deepEqual(
    policies.map((p) => p.cgroups),
    [[{ cgroup: dir(1), mode: 'ingress' }], [{ cgroup: dir(1), mode: 'egress' }], []],
  );
  assert.deepEqual(
    logs.map(([m, f]) => [m, f?.['Name'], f?.['Namespace'], f?.['Enabled'], f?.['Mode']]),
    [
      ['Added pod to maps', 'web-1', 'shop', true, 'ingress'],
      ['Added pod to maps', 'web-2', 'other', false, 'ingress'],
      ['Added pod to maps', 'web-1', 'shop', true, 'egress'],
      ['Added pod to maps', 'web-3', 'shop', false, 'ingress'],
      ['Removed pod from maps', 'web-1', 'shop', true, 'egress'],
      ['Removed pod from maps', 'web-2', 'other', false, 'ingress'],
      ['Removed pod from maps', 'web-3', 'shop', false, 'ingress'],
    ],
  );
  assert.equal(logs[0]![1]?.['Service'], 'web-1');
});

test('a mirrored container whose cgroup appears later is selected once it does', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cg-'));
  const states = new Subject<ClusterState>();
  const got: string[][] = [];
  const sub = states
    .pipe(
      podCapturePolicy({
        policy: new MirrorPolicy({ mirrorAllNamespaces: true }),
        cgroupRoots: [root],
        retryMs: 20,
      }),
    )
    .subscribe((p) => got.push(p.cgroups.map((c) => c.cgroup)));
  states.next(state([mkPod(1, 'shop')]));
  const dir = join(root, `kubepods/besteffort/pod${uid(1)}/${cid(1)}`);
  mkdirSync(dir, { recursive: true });
  await new Promise((r) => setTimeout(r, 200));
  sub.unsubscribe();
  assert.deepEqual(got, [[], [dir]]);
});

function exchange(tgid: number): ApiExchange {
  return {
    protocol: 'http1',
    connection: {
      id: `${tgid}:5:1`,
      tgid,
      fd: 5,
      family: 4,
      tls: false,
      comm: 'web',
      role: 'server',
      local: { address: '127.0.0.1', port: 80 },
      remote: { address: '127.0.0.1', port: 4000 },
    },
    request: {
      method: 'GET',
      target: '/',
      version: '1.1',
      headers: [],
      body: new Uint8Array(),
      bodySize: 0,
      startNs: 1,
      endNs: 2,
    },
    partial: false,
  };
}

test('exchanges carry their pod’s attributes (one object per container); others pass unchanged, counted', async () => {
  const proc = mkdtempSync(join(tmpdir(), 'proc-'));
  const write = (pid: number, text: string) => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'cgroup'), text);
  };
  write(100, `0::/kubepods/besteffort/pod${uid(1)}/${cid(1)}\n`);
  write(101, `0::/kubepods/besteffort/pod${uid(1)}/${cid(1)}\n`);
  write(200, '0::/system.slice/sshd.service\n');
  const pod = mkPod(1, 'shop');
  const cluster: ClusterState = {
    ...state([pod]),
    services: new Map([
      [
        'shop',
        [{ metadata: { name: 'web-svc', namespace: 'shop' }, spec: { selector: { app: 'web' } } }],
      ],
    ]),
  };
  const stats = new Stats();
  const out = await lastValueFrom(
    from([exchange(100), exchange(101), exchange(200), exchange(999)]).pipe(
      enrichPods({ cluster: of(cluster), procFsPath: proc, podLabels: ['tier'], stats }),
      toArray(),
    ),
  );
  assert.deepEqual(out[0]!.resource, {
    'service.name': 'web-svc',
    'k8s.pod.name': 'web-1',
    'k8s.pod.uid': uid(1),
    'k8s.namespace.name': 'shop',
    'k8s.node.name': 'node-a',
    'k8s.container.name': 'main',
    'container.id': cid(1),
    'k8s.pod.label.tier': 't1',
  });
  assert.equal(out[1]!.resource, out[0]!.resource, 'the same object for the same container');
  assert.equal(out[2]!.resource, undefined);
  assert.equal(out[3]!.resource, undefined);
  assert.equal(stats.get('ExchangesWithoutPod'), 2);
});

test('a pod that went away keeps enriching for the grace period; without a cluster the stage passes through', async () => {
  const proc = mkdtempSync(join(tmpdir(), 'proc-'));
  mkdirSync(join(proc, '100'));
  writeFileSync(join(proc, '100', 'cgroup'), `0::/kubepods/besteffort/pod${uid(1)}/${cid(1)}\n`);
  const cluster = new Subject<ClusterState>();
  const exchanges = new Subject<ApiExchange>();
  const out: ApiExchange[] = [];
  const sub = exchanges
    .pipe(enrichPods({ cluster, procFsPath: proc, graceMs: 60_000 }))
    .subscribe((e) => out.push(e));
  cluster.next(state([mkPod(1, 'shop')]));
  cluster.next(state([])); // deleted
  exchanges.next(exchange(100));
  sub.unsubscribe();
  assert.equal(out[0]!.resource?.['k8s.pod.name'], 'web-1');
  const ex = exchange(100);
  assert.equal(await firstValueFrom(of(ex).pipe(enrichPods({}))), ex);
});
