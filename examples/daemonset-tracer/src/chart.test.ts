/**
 * The Helm chart, linted and rendered by a real helm (v4): every value reaches the DaemonSet and
 * the tracer's config file, the config it renders passes the tracer's own validation, and wrong
 * or contradictory values are refused with a line naming them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { parseConfig, type TracerConfig } from './config.js';
import { MirrorPolicy } from '@traceable-ebpf/k8s-enricher';
import { CHART, helm, renderChart, renderedConfig, type RenderedObject } from './testing/helm.js';

const daemonSet = (objects: RenderedObject[]) => objects.find((o) => o.kind === 'DaemonSet');
const config = (objects: RenderedObject[]): TracerConfig =>
  parseConfig(parseYaml(renderedConfig(objects)), 'chart');
const set = (...pairs: string[]) => pairs.flatMap((p) => ['--set', p]);
/** helm template's failure message (it must fail). */
const refused = (args: string[]): string => {
  const r = helm(['template', 'test', CHART, ...args]);
  assert.notEqual(r.status, 0, `expected helm to refuse ${args.join(' ')}`);
  return r.stderr;
};

test('helm lint passes', () => {
  const r = helm(['lint', '--strict', CHART]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('defaults: Kubernetes mode with the mirroring policy (nothing captured until a namespace or pod asks), ingress, probes, RBAC', () => {
  const objects = renderChart();
  const c = config(objects);
  assert.equal(c.k8s_enabled, true);
  assert.equal(c.capture_all, false);
  assert.equal(c.mode, 'ingress');
  assert.equal(c.daemon_set_mirror_all_namespaces, false);
  assert.deepEqual(c.daemon_set_mirroring.match_selectors, []);
  assert.equal(c.proc_fs_path, '/hostproc');
  assert.equal(c.cgroup_fs_path, '/hostcgroup');
  assert.deepEqual(c.health, { enabled: true, port: 8099 });
  assert.equal(c.http2_capture_enabled, true);
  assert.equal(c.exporter.otlp.endpoint, undefined);
  const ds = daemonSet(objects)!;
  const spec = ds.spec.template.spec;
  assert.equal(spec.hostPID, true);
  assert.equal(spec.serviceAccountName, 'test-traceable-ebpf-tracer');
  assert.deepEqual(ds.spec.updateStrategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: 1 },
  });
  const container = spec.containers[0];
  assert.deepEqual(container.args, ['--config', '/etc/traceable-ebpf/config.yaml']);
  assert.deepEqual(container.securityContext, {
    capabilities: { add: ['BPF', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE', 'SYS_RESOURCE'] },
  });
  assert.equal(container.image, 'traceable-ebpf/ebpf-tracer:0.1.0');
  assert.deepEqual(container.env, [
    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  ]);
  assert.deepEqual(container.ports, [{ name: 'health', containerPort: 8099, protocol: 'TCP' }]);
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  const mounts = Object.fromEntries(
    container.volumeMounts.map((m: { name: string; mountPath: string }) => [m.name, m.mountPath]),
  );
  assert.deepEqual(mounts, {
    config: '/etc/traceable-ebpf',
    hostproc: '/hostproc',
    hostcgroup: '/hostcgroup',
    btf: '/sys/kernel/btf',
    tracefs: '/sys/kernel/tracing',
    debugfs: '/sys/kernel/debug',
  });
  const hostPaths = Object.fromEntries(
    spec.volumes
      .filter((v: { hostPath?: unknown }) => v.hostPath)
      .map((v: { name: string; hostPath: { path: string } }) => [v.name, v.hostPath.path]),
  );
  assert.equal(hostPaths['hostproc'], '/proc');
  assert.equal(hostPaths['hostcgroup'], '/sys/fs/cgroup');
  const role = objects.find((o) => o.kind === 'ClusterRole') as unknown as {
    rules: Array<{ resources: string[]; verbs: string[] }>;
  };
  assert.deepEqual(role.rules, [
    {
      apiGroups: [''],
      resources: ['pods', 'namespaces', 'services'],
      verbs: ['get', 'list', 'watch'],
    },
  ]);
  const binding = objects.find((o) => o.kind === 'ClusterRoleBinding') as unknown as {
    subjects: Array<{ name: string; namespace: string }>;
  };
  assert.deepEqual(binding.subjects, [
    { kind: 'ServiceAccount', name: 'test-traceable-ebpf-tracer', namespace: 'default' },
  ]);
  assert.equal(objects.filter((o) => o.kind === 'Secret').length, 0);
});

test('mirroring values: all namespaces, match selectors (either spelling), pod labels, mode, mirroring off', () => {
  const c = config(
    renderChart([
      ...set('daemonSetMirrorAllNamespaces=true', 'ebpfCaptureMode=ingress_and_egress'),
      '--set-json',
      'daemonSetMirroring.matchSelectors=[{"fieldSelectors":["metadata.namespace=testgoapp"]},{"field_selectors":"metadata.name=web","labelSelectors":["app in (a,b)"]}]',
      '--set-json',
      'ebpfPodLabels=["app.kubernetes.io/name","team"]',
    ]),
  );
  assert.equal(c.daemon_set_mirror_all_namespaces, true);
  assert.equal(c.mode, 'ingress_and_egress');
  assert.deepEqual(c.daemon_set_mirroring.match_selectors, [
    { field_selectors: ['metadata.namespace=testgoapp'] },
    { field_selectors: ['metadata.name=web'], label_selectors: ['app in (a,b)'] },
  ]);
  assert.deepEqual(c.pod_labels, ['app.kubernetes.io/name', 'team']);
  const off = config(renderChart(set('daemonSetMirroringEnabled=false')));
  assert.equal(off.capture_all, true);
  assert.equal(off.k8s_enabled, true);
});

test('endpoints: host:port as the product writes it, or a URL; ebpfOnly reports to the remote endpoint', () => {
  const endpoint = (...args: string[]) => config(renderChart(set(...args))).exporter.otlp.endpoint;
  assert.equal(
    endpoint('ebpfReportingEndpoint=agent.traceableai:5443'),
    'http://agent.traceableai:5443/v1/traces',
  );
  assert.equal(
    endpoint('ebpfReportingEndpoint=agent.traceableai:5443', 'ebpfToTpaTlsEnabled=true'),
    'https://agent.traceableai:5443/v1/traces',
  );
  assert.equal(
    endpoint('ebpfReportingEndpoint=http://otel-collector:4318/v1/traces'),
    'http://otel-collector:4318/v1/traces',
  );
  assert.equal(
    endpoint(
      'ebpfOnly=true',
      'ebpfRemoteEndpoint=tpa.example.com:443',
      'ebpfReportingEndpoint=agent:5443',
      'ebpfToTpaTlsEnabled=true',
    ),
    'https://tpa.example.com:443/v1/traces',
  );
  assert.match(refused(set('ebpfOnly=true')), /ebpfOnly: true needs ebpfRemoteEndpoint/);
  assert.match(
    refused(set('ebpfReportingEndpoint=http://agent:4318/v1/traces', 'ebpfToTpaTlsEnabled=true')),
    /ebpfToTpaTlsEnabled: true, but the endpoint http:\/\/agent:4318\/v1\/traces is http:\/\//,
  );
  assert.match(refused(set('ebpfReportingEndpoint=agent')), /ebpfReportingEndpoint/);
});

test('TLS to the agent: the CA from tpaCaBundle, tpaCaCertSecret or tpaCaCertFile, mounted and passed to the exporter', () => {
  const pem = Buffer.from(
    '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  ).toString('base64');
  const tls = ['ebpfReportingEndpoint=agent:5443', 'ebpfToTpaTlsEnabled=true'];
  const caOf = (objects: RenderedObject[]) => {
    const spec = daemonSet(objects)!.spec.template.spec;
    return {
      caFile: config(objects).exporter.otlp.ca_file,
      mount: spec.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'tpa-ca')
        ?.mountPath,
      volume: spec.volumes.find((v: { name: string }) => v.name === 'tpa-ca'),
    };
  };
  const bundle = renderChart(set(...tls, `tpaCaBundle=${pem}`));
  assert.deepEqual(caOf(bundle), {
    caFile: '/etc/traceable-ebpf/tpa-ca/ca.crt',
    mount: '/etc/traceable-ebpf/tpa-ca',
    volume: {
      name: 'tpa-ca',
      secret: {
        secretName: 'test-traceable-ebpf-tracer',
        items: [{ key: 'ca.crt', path: 'ca.crt' }],
      },
    },
  });
  assert.equal(bundle.find((o) => o.kind === 'Secret')?.data?.['ca.crt'], pem);
  assert.deepEqual(
    caOf(
      renderChart(
        set(...tls, 'tpaCaCertSecret.secretName=tpa-ca', 'tpaCaCertSecret.caCertFileName=root.pem'),
      ),
    ),
    {
      caFile: '/etc/traceable-ebpf/tpa-ca/root.pem',
      mount: '/etc/traceable-ebpf/tpa-ca',
      volume: {
        name: 'tpa-ca',
        secret: { secretName: 'tpa-ca', items: [{ key: 'root.pem', path: 'root.pem' }] },
      },
    },
  );
  assert.deepEqual(caOf(renderChart(set(...tls, 'tpaCaCertFile=/etc/traceable/certs/ca.pem'))), {
    caFile: '/etc/traceable-ebpf/tpa-ca/ca.pem',
    mount: '/etc/traceable-ebpf/tpa-ca',
    volume: { name: 'tpa-ca', hostPath: { path: '/etc/traceable/certs', type: 'Directory' } },
  });
  assert.match(
    refused(set(...tls, `tpaCaBundle=${pem}`, 'tpaCaCertFile=/x/ca.pem')),
    /give the agent's CA one way, not tpaCaBundle and tpaCaCertFile/,
  );
  assert.match(
    refused(set(`tpaCaBundle=${pem}`)),
    /tpaCaBundle is set but ebpfToTpaTlsEnabled is false/,
  );
});

test('token and environment: the token from a Secret as the agent-token header, the environment on spans', () => {
  const objects = renderChart(
    set('ebpfReportingEndpoint=agent:5443', 'token=s3cr3t', 'environment=prod'),
  );
  const secret = objects.find((o) => o.kind === 'Secret')!;
  assert.equal(Buffer.from(secret.data!['token']!, 'base64').toString(), 's3cr3t');
  assert.doesNotMatch(renderedConfig(objects), /s3cr3t/);
  const env = daemonSet(objects)!.spec.template.spec.containers[0].env;
  assert.deepEqual(env.slice(1), [
    {
      name: 'TRACEABLE_AGENT_TOKEN',
      valueFrom: { secretKeyRef: { name: 'test-traceable-ebpf-tracer', key: 'token' } },
    },
    {
      name: 'OTEL_EXPORTER_OTLP_HEADERS',
      value: 'traceableai-agent-token=$(TRACEABLE_AGENT_TOKEN)',
    },
  ]);
  assert.equal(config(objects).environment, 'prod');
  assert.match(refused(set('token=s3cr3t')), /token is set but no endpoint is/);
});

test('the rest: privileged, tolerations, HTTP/2 off, host paths, health port, resources, ebpfConfig', () => {
  const objects = renderChart([
    ...set(
      'ebpfRunAsPrivileged=true',
      'ebpfHttp2CaptureEnabled=false',
      'hostProcPath=/host/proc',
      'hostCgroupPath=/sys/fs/cgroup/unified',
      'healthPort=9100',
      'resources.limits.memory=512Mi',
      'ebpfConfig.max_body_size=131072',
    ),
    '--set-json',
    'ebpfTolerations=[{"key":"node-role.kubernetes.io/control-plane","operator":"Exists","effect":"NoSchedule"}]',
  ]);
  const c = config(objects);
  assert.equal(c.http2_capture_enabled, false);
  assert.equal(c.health.port, 9100);
  assert.equal(c.max_body_size, 131072);
  const spec = daemonSet(objects)!.spec.template.spec;
  assert.deepEqual(spec.containers[0].securityContext, { privileged: true });
  assert.deepEqual(spec.containers[0].ports, [
    { name: 'health', containerPort: 9100, protocol: 'TCP' },
  ]);
  assert.equal(spec.containers[0].resources.limits.memory, '512Mi');
  assert.deepEqual(spec.tolerations, [
    { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
  ]);
  const hostPath = (name: string) =>
    spec.volumes.find((v: { name: string }) => v.name === name).hostPath.path;
  assert.equal(hostPath('hostproc'), '/host/proc');
  assert.equal(hostPath('hostcgroup'), '/sys/fs/cgroup/unified');
});

test('a config change changes the pod template (pods roll); ebpfCaptureEnabled=false renders nothing; runAsDaemonSet=false is refused', () => {
  const checksum = (args: string[]) =>
    daemonSet(renderChart(args))!.spec.template.metadata.annotations['checksum/config'];
  assert.notEqual(checksum([]), checksum(set('ebpfHttp2CaptureEnabled=false')));
  assert.deepEqual(renderChart(set('ebpfCaptureEnabled=false')), []);
  assert.match(refused(set('runAsDaemonSet=false')), /runAsDaemonSet: false is not supported/);
});

test('bad values: unknown or misspelled values and wrong types are refused by the schema; an unknown config key by the tracer', () => {
  assert.match(refused(['--set-string', 'ebpfHttp2CaptureEnabled=yes']), /ebpfHttp2CaptureEnabled/);
  assert.match(refused(set('ebpfCaptureMode=sideways')), /ebpfCaptureMode/);
  assert.match(refused(set('daemonSetMirrorAllNamespace=true')), /daemonSetMirrorAllNamespace/);
  assert.match(
    refused(set('daemonSetMirroring.matchSelector[0].fieldSelectors=x')),
    /matchSelector/,
  );
  assert.match(refused(set('tpaCaCertSecret.name=x')), /name/);
  assert.match(refused(['--set-json', 'ebpfPodLabels={"team":"a"}']), /ebpfPodLabels/);
  // What the chart's mounts and probes follow can't be changed behind them through ebpfConfig.
  for (const key of [
    'health.port=9000',
    'proc_fs_path=/x',
    'cgroup_fs_path=/y',
    'k8s_enabled=false',
  ])
    assert.match(refused(set(`ebpfConfig.${key}`)), /ebpfConfig\.\w+: the chart sets it/);
  assert.match(
    refused([
      '--set-json',
      'daemonSetMirroring.matchSelectors=[{"fieldSelectors":["a=b"],"field_selectors":["c=d"]}]',
    ]),
    /matchSelectors\[0\]: give each selector list once/,
  );
  assert.match(
    refused(['--set-json', 'daemonSetMirroring.matchSelectors=[{"fieldSelectors":[]}]']),
    /fieldSelectors/,
  );
  assert.match(refused(set('tpaCaCertSecret.caCertFileName=a b')), /caCertFileName/);
  // Paths are quoted into the manifest: one with a space or a '#' stays one path.
  const odd = renderChart(set('hostCgroupPath=/sys/fs/cgroup #x'));
  assert.equal(
    daemonSet(odd)!.spec.template.spec.volumes.find(
      (v: { name: string }) => v.name === 'hostcgroup',
    ).hostPath.path,
    '/sys/fs/cgroup #x',
  );
  const text = renderedConfig(renderChart(set('ebpfConfig.bogus_key=1')));
  assert.throws(
    () => parseConfig(parseYaml(text), 'chart'),
    (err: Error) => err.message === "chart: 'bogus_key': unknown key",
  );
  // A selector the API server would refuse is refused by the tracer at start, naming it.
  const bad = config(
    renderChart([
      '--set-json',
      'daemonSetMirroring.matchSelectors=[{"fieldSelectors":"metadata.labels=x"}]',
    ]),
  );
  assert.throws(
    () => new MirrorPolicy({ matchSelectors: bad.daemon_set_mirroring.match_selectors }),
    (err: Error) =>
      /field selector 'metadata.labels=x': 'metadata.labels' is not a pod field/.test(err.message),
  );
});
