import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { parseProcCgroup } from './proc-cgroup.js';
import { findPodCgroups } from './pod-cgroups.js';
import { podAttributes, podOwners } from './pod-attributes.js';

const UID = '1f2e3d4c-5b6a-4789-8abc-def012345678';
const UID_ = UID.replace(/-/g, '_');
const ID = 'a'.repeat(64);
const ID2 = 'b'.repeat(64);

test('a process’s container and pod from /proc/<pid>/cgroup: systemd and cgroupfs, v1 and v2', () => {
  assert.deepEqual(
    parseProcCgroup(
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope\n`,
    ),
    {
      path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      containerId: ID,
      podUid: UID,
    },
  );
  assert.deepEqual(parseProcCgroup(`0::/kubepods/besteffort/pod${UID}/${ID}\n`), {
    path: `/kubepods/besteffort/pod${UID}/${ID}`,
    containerId: ID,
    podUid: UID,
  });
  assert.deepEqual(
    parseProcCgroup(`0::/kubepods.slice/kubepods-pod${UID_}.slice/crio-${ID}.scope\n`).containerId,
    ID,
  );
  // CRI-O's conmon is not the container.
  assert.equal(
    parseProcCgroup(`0::/kubepods.slice/kubepods-pod${UID_}.slice/crio-conmon-${ID}.scope\n`)
      .containerId,
    undefined,
  );
  // cgroup v1 (and hybrid hosts whose v2 line says nothing).
  assert.deepEqual(
    parseProcCgroup(
      `12:memory:/kubepods/burstable/pod${UID}/${ID}\n11:cpu,cpuacct:/kubepods/burstable/pod${UID}/${ID}\n0::/\n`,
    ),
    { path: '/', containerId: ID, podUid: UID },
  );
  assert.deepEqual(parseProcCgroup('0::/user.slice/user-0.slice/session-1.scope\n'), {
    path: '/user.slice/user-0.slice/session-1.scope',
  });
  assert.deepEqual(parseProcCgroup(''), {});
});

const pod = (qosClass: string, runtime = 'containerd'): V1Pod => ({
  metadata: { name: 'web-7d9f-x2', namespace: 'shop', uid: UID },
  spec: { containers: [], nodeName: 'node-a' },
  status: {
    qosClass,
    containerStatuses: [
      {
        name: 'web',
        containerID: `${runtime}://${ID}`,
        image: '',
        imageID: '',
        ready: true,
        restartCount: 0,
      },
      {
        name: 'sidecar',
        containerID: `${runtime}://${ID2}`,
        image: '',
        imageID: '',
        ready: true,
        restartCount: 0,
      },
      { name: 'pending', image: '', imageID: '', ready: false, restartCount: 0 },
    ],
  },
});

test('a pod’s container cgroups are found for each driver and QoS class, and by search elsewhere', () => {
  const cases: Array<[string, string, string, (id: string) => string]> = [
    [
      'Burstable',
      'containerd',
      `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`,
      (id) => `cri-containerd-${id}.scope`,
    ],
    ['Guaranteed', 'cri-o', `kubepods.slice/kubepods-pod${UID_}.slice`, (id) => `crio-${id}.scope`],
    ['BestEffort', 'docker', `kubepods/besteffort/pod${UID}`, (id) => id],
    ['BestEffort', 'cri-o', `kubepods/besteffort/pod${UID}`, (id) => `crio-${id}`],
    // kind-style: the kubelet's tree nested in its own slice.
    [
      'Burstable',
      'containerd',
      `kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${UID_}.slice`,
      (id) => `cri-containerd-${id}.scope`,
    ],
  ];
  for (const [qos, runtime, podDir, leaf] of cases) {
    const root = mkdtempSync(join(tmpdir(), 'cg-'));
    mkdirSync(join(root, podDir, leaf(ID)), { recursive: true });
    const found = findPodCgroups(pod(qos, runtime), [join(root, 'unified'), root]);
    assert.deepEqual(
      found.map((c) => [c.name, c.id, c.dir]),
      [
        ['web', ID, join(root, podDir, leaf(ID))],
        // Its directory isn't there (yet): reported without one.
        ['sidecar', ID2, undefined],
      ],
      `${qos} ${runtime} ${podDir}`,
    );
  }
});

test('pod attributes: the conventions’ names, owners, service name and selected labels', () => {
  const p: V1Pod = {
    metadata: {
      name: 'web-7d9f8c6b5-x2q4z',
      namespace: 'shop',
      uid: UID,
      labels: {
        'pod-template-hash': '7d9f8c6b5',
        'app.kubernetes.io/name': 'storefront',
        team: 'a',
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-7d9f8c6b5',
          uid: 'rs',
          controller: true,
        },
      ],
    },
    spec: { containers: [], nodeName: 'node-a' },
  };
  assert.deepEqual(
    podAttributes(
      p,
      { name: 'web', id: ID },
      { nodeName: 'node-a', podLabels: ['app.kubernetes.io/name', 'missing'] },
    ),
    {
      'service.name': 'storefront',
      'k8s.pod.name': 'web-7d9f8c6b5-x2q4z',
      'k8s.pod.uid': UID,
      'k8s.namespace.name': 'shop',
      'k8s.node.name': 'node-a',
      'k8s.container.name': 'web',
      'container.id': ID,
      'k8s.replicaset.name': 'web-7d9f8c6b5',
      'k8s.deployment.name': 'web',
      'k8s.pod.label.app.kubernetes.io/name': 'storefront',
    },
  );
  // A key may be written as the attribute it becomes, as the product's docs write it.
  assert.equal(
    podAttributes(p, {}, { nodeName: 'n', podLabels: ['k8s.pod.label.team'] })[
      'k8s.pod.label.team'
    ],
    'a',
  );
  // A Service selecting the pod names it first.
  assert.equal(
    podAttributes(p, {}, { nodeName: 'n', service: 'web-svc' })['service.name'],
    'web-svc',
  );
  const job: V1Pod = {
    metadata: {
      name: 'report-28871234-abcde',
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          name: 'report-28871234',
          uid: 'j',
          controller: true,
        },
      ],
    },
  };
  assert.deepEqual(podOwners(job), [
    { kind: 'job', name: 'report-28871234' },
    { kind: 'cronjob', name: 'report' },
  ]);
  assert.equal(podAttributes(job, {}, { nodeName: 'n' })['service.name'], 'report');
});

test('a static pod’s cgroup is named by its config hash; waiting containers have no cgroup', () => {
  const hash = '0123456789abcdef0123456789abcdef';
  const root = mkdtempSync(join(tmpdir(), 'cg-'));
  const dir = join(
    root,
    `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${hash}.slice/cri-containerd-${ID}.scope`,
  );
  mkdirSync(dir, { recursive: true });
  const p = pod('Burstable');
  p.metadata!.annotations = {
    'kubernetes.io/config.hash': hash,
    'kubernetes.io/config.mirror': hash,
  };
  p.status!.containerStatuses![1]!.state = { waiting: { reason: 'CrashLoopBackOff' } };
  assert.deepEqual(
    findPodCgroups(p, [root]).map((c) => [c.name, c.dir]),
    [['web', dir]],
  );
  // The process side reads the same hash out of its cgroup path.
  assert.equal(parseProcCgroup(`0::/${dir.slice(root.length + 1)}\n`).podUid, hash);
});
