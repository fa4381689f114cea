/**
 * Kubernetes mode end to end: real servers (Python, nginx, Node) moved into kubepods-shaped
 * cgroup v2 directories, a fake API server (list/watch, driven by the tracer's real
 * `@kubernetes/client-node`) describing them as pods, and the real tracer with `k8s_enabled`.
 * Only the mirrored pods' requests become spans, with their pod's attributes; namespace labels,
 * pod annotations, pods deleted and started, and an API server restart all apply live.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer, type FakeObject } from '@traceable-ebpf/k8s-enricher/testing';
import {
  freePort,
  kernelTestsPossible,
  kill,
  run,
  startNginx,
  startTracer,
  waitForPort,
  type TracerProcess,
} from './harness.js';

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const NODE_NAME = 'node-e2e';

interface Pod {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly containerId: string;
  /** The container's cgroup directory. */
  readonly dir: string;
  readonly port: number;
  readonly pids: number[];
  readonly child: ChildProcess;
}

const hex = (n: number, len: number) => n.toString(16).padStart(len, '0');
const uidOf = (n: number) => `${hex(n, 8)}-0000-4000-8000-${hex(n, 12)}`;
const containerIdOf = (n: number) => hex(n, 2).repeat(32);

/** Removes a cgroup directory tree (directories only; each must be empty of processes). */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  rmdirSync(dir);
}

function podObject(p: Pod, extra: { annotations?: Record<string, string> } = {}): FakeObject {
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: p.uid,
      labels: { app: p.name.replace(/-\w+$/, '') },
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'DaemonSet',
          name: `${p.name}-ds`,
          uid: 'x',
          controller: true,
        },
      ],
    },
    spec: { nodeName: NODE_NAME, containers: [{ name: 'main', image: 'x' }] },
    status: {
      phase: 'Running',
      qosClass: 'BestEffort',
      containerStatuses: [
        {
          name: 'main',
          containerID: `containerd://${p.containerId}`,
          image: 'x',
          imageID: 'x',
          ready: true,
          restartCount: 0,
          state: { running: {} },
        },
      ],
    },
  };
}

interface JsonSpan {
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

test('Kubernetes mode: the mirroring policy selects pods live, and spans carry their pod', async (t) => {
  if (!kernelTestsPossible(t, ['curl'])) return;
  const v2 = existsSync('/sys/fs/cgroup/cgroup.procs')
    ? '/sys/fs/cgroup'
    : '/sys/fs/cgroup/unified';
  if (!existsSync(`${v2}/cgroup.procs`)) {
    if (process.env.CI) assert.fail('no cgroup v2 hierarchy');
    t.skip('no cgroup v2 hierarchy');
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'te-k8s-'));
  // The node's cgroup tree for the tracer: a subtree of the real v2 mount, kubepods inside.
  const cgroupFs = join(v2, `te-k8s-${process.pid}`);
  mkdirSync(cgroupFs);
  const pods: Pod[] = [];
  t.after(async () => {
    for (const p of pods) await kill(p.child);
    removeCgroupTree(cgroupFs);
  });

  const place = (n: number, systemd: boolean) => {
    const uid = uidOf(n);
    const containerId = containerIdOf(n);
    const dir = systemd
      ? join(
          cgroupFs,
          'kubepods.slice/kubepods-besteffort.slice',
          `kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice`,
          `cri-containerd-${containerId}.scope`,
        )
      : join(cgroupFs, 'kubepods/besteffort', `pod${uid}`, containerId);
    mkdirSync(dir, { recursive: true });
    return { uid, containerId, dir };
  };
  const enter = (dir: string, pids: number[]) => {
    for (const pid of pids) writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  };

  const python = async (n: number, name: string, namespace: string): Promise<Pod> => {
    const at = place(n, false);
    const port = await freePort();
    const www = join(work, name);
    mkdirSync(www);
    for (const f of ['a1', 'a3', 'a7']) writeFileSync(join(www, f), f);
    const child = spawn(
      PYTHON,
      ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', www],
      {
        stdio: 'ignore',
      },
    );
    enter(at.dir, [child.pid!]);
    await waitForPort(port);
    const p = { name, namespace, ...at, port, pids: [child.pid!], child };
    pods.push(p);
    return p;
  };
  const nginx = async (n: number, name: string, namespace: string): Promise<Pod> => {
    const at = place(n, true);
    const port = await freePort();
    const dir = join(work, name);
    mkdirSync(join(dir, 'www'), { recursive: true });
    for (const f of ['b1', 'b2', 'b4']) writeFileSync(join(dir, 'www', f), f);
    const { nginx: child, workers } = await startNginx(dir, port);
    enter(at.dir, [child.pid!, ...workers]);
    const p = { name, namespace, ...at, port, pids: [child.pid!, ...workers], child };
    pods.push(p);
    return p;
  };
  const node = async (n: number, name: string, namespace: string): Promise<Pod> => {
    const at = place(n, true);
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['-e', `require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`],
      { stdio: 'ignore' },
    );
    enter(at.dir, [child.pid!]);
    await waitForPort(port);
    const p = { name, namespace, ...at, port, pids: [child.pid!], child };
    pods.push(p);
    return p;
  };

  const api = new FakeApiServer();
  await api.start();
  t.after(() => api.stop());
  api.put('namespaces', {
    metadata: { name: 'shop', labels: { 'traceableai-mirror': 'enabled' } },
  });
  api.put('namespaces', { metadata: { name: 'other' } });
  const a = await python(1, 'web-a', 'shop');
  const b = await nginx(2, 'proxy-b', 'other');
  api.put('pods', podObject(a));
  api.put('pods', podObject(b));

  const out = join(work, 'spans.jsonl');
  const config = join(work, 'config.yaml');
  const healthPort = await freePort();
  writeFileSync(
    config,
    [
      'k8s_enabled: true',
      `cgroup_fs_path: ${cgroupFs}`,
      'pod_labels: [app]',
      'stats_interval: 0',
      'health:',
      '  enabled: true',
      '  address: 127.0.0.1',
      `  port: ${healthPort}`,
      'exporter:',
      '  type: jsonl',
      `  output: ${out}`,
      '',
    ].join('\n'),
  );
  const tracer: TracerProcess = await startTracer(
    [],
    {
      KUBECONFIG: api.writeKubeconfig(join(work, 'kubeconfig')),
      NODE_NAME,
    },
    ['--config', config],
  );
  t.after(() => tracer.stop().then(() => undefined));

  // The cgroup ids (inode numbers) the tracer's `capture policy applied` line lists.
  const id = (p: Pod) => String(statSync(p.dir).ino);
  const applied = () =>
    tracer
      .stderr()
      .split('\n')
      .filter((l) => l.includes('"capture policy applied"'))
      .map((l) => (JSON.parse(l) as { cgroups: string[] }).cgroups.slice().sort());
  const delays: number[] = [];
  /** Waits for the policy in the kernel to be exactly `want` (the documented line). */
  const policyIs = async (want: Pod[], what: string) => {
    const expected = want.map(id).sort();
    const since = Date.now();
    while (JSON.stringify(applied().at(-1)) !== JSON.stringify(expected)) {
      if (Date.now() - since > 20_000)
        assert.fail(
          `${what}: policy never became ${expected.join(',')}: ${JSON.stringify(applied())}`,
        );
      await new Promise((r) => setTimeout(r, 25));
    }
    delays.push(Date.now() - since);
  };
  const get = (p: Pod, path: string) =>
    run('curl', ['-sS', '-o', '/dev/null', `http://127.0.0.1:${p.port}/${path}`]);

  await policyIs([a], 'start');
  // Ready as `tracer ready` said: the probes' endpoint agrees.
  const probe = async (path: string) =>
    (await fetch(`http://127.0.0.1:${healthPort}${path}`)).status;
  assert.deepEqual([await probe('/readyz'), await probe('/healthz')], [200, 200]);
  get(a, 'a1');
  get(b, 'b1'); // not mirrored: namespace `other` has no label
  // A namespace labelled: its pods are mirrored.
  api.put('namespaces', {
    metadata: { name: 'other', labels: { 'traceableai-mirror': 'enabled' } },
  });
  await policyIs([a, b], 'namespace labelled');
  api.bookmark(); // a watch bookmark moves the informers' version, nothing else
  get(b, 'b2');
  // A pod annotated off.
  api.put('pods', podObject(a, { annotations: { 'mirror.traceable.ai/enabled': 'false' } }));
  await policyIs([b], 'pod annotated off');
  get(a, 'a3');
  // A pod switched to egress: its server's requests are no longer captured (the same cgroup,
  // another mode: one more applied line).
  const before = applied().length;
  api.put('pods', podObject(b, { annotations: { 'mirror.traceable.ai/mode': 'egress' } }));
  for (
    const since = Date.now();
    applied().length === before;
    await new Promise((r) => setTimeout(r, 25))
  )
    if (Date.now() - since > 20_000) assert.fail('the egress policy was never applied');
  assert.match(tracer.stderr(), /"Name":"proxy-b".*"Mode":"egress","msg":"Added pod to maps"/);
  get(b, 'b4');
  // A pod deleted, a new one started.
  api.delete('pods', b.name, b.namespace);
  await policyIs([], 'pod deleted');
  const c = await node(3, 'api-c', 'shop');
  api.put('pods', podObject(c));
  await policyIs([c], 'pod started');
  get(c, 'c6');
  // The API server restarts (down a second): capture goes on, later changes still apply.
  await api.restart(1000);
  get(c, 'c7');
  api.put('pods', podObject(a));
  await policyIs([a, c], 'after the API server restarted');
  get(a, 'a7');

  assert.equal(await tracer.stop(), 0, tracer.stderr());
  const spans = readFileSync(out, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JsonSpan);
  const seen = spans
    .map((s) => [s.resource['k8s.pod.name'], s.attributes['url.path']])
    .sort((x, y) => String(x[1]).localeCompare(String(y[1])));
  assert.deepEqual(seen, [
    ['web-a', '/a1'],
    ['web-a', '/a7'],
    ['proxy-b', '/b2'],
    ['api-c', '/c6'],
    ['api-c', '/c7'],
  ]);
  const attrs = (pod: string) => spans.find((s) => s.resource['k8s.pod.name'] === pod)!.resource;
  for (const p of [a, b, c]) {
    const r = attrs(p.name);
    assert.equal(r['k8s.namespace.name'], p.namespace);
    assert.equal(r['k8s.pod.uid'], p.uid);
    assert.equal(r['k8s.node.name'], NODE_NAME);
    assert.equal(r['k8s.container.name'], 'main');
    assert.equal(r['container.id'], p.containerId);
    assert.equal(r['k8s.daemonset.name'], `${p.name}-ds`);
    assert.equal(r['k8s.pod.label.app'], p.name.replace(/-\w+$/, ''));
    assert.equal(r['service.name'], `${p.name}-ds`);
  }
  assert.match(tracer.stderr(), /"Added pod to maps"/);
  assert.match(tracer.stderr(), /"Removed pod from maps"/);
  t.diagnostic(`change → policy in the kernel: ${delays.join(', ')} ms`);
});
