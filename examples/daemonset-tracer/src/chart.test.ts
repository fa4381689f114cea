/**
 * The Helm chart, linted and rendered by a real helm (v4): its values reach the DaemonSet and
 * the tracer's config file, and the config it renders passes the tracer's own validation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '@traceable-ebpf/core';
import { CHART, helm, renderChart, renderedConfig } from './testing/helm.js';

const daemonSet = (objects: ReturnType<typeof renderChart>) =>
  objects.find((o) => o.kind === 'DaemonSet');

test('helm lint passes', () => {
  const r = helm(['lint', '--strict', CHART]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('defaults: a DaemonSet on the host pid namespace with eBPF capabilities; the config captures ingress, HTTP/2 on', () => {
  const objects = renderChart();
  const config = parseConfig(parseYaml(renderedConfig(objects)), 'chart');
  assert.equal(config.capture_all, true);
  assert.equal(config.mode, 'ingress');
  assert.equal(config.http2_capture_enabled, true);
  assert.equal(config.exporter.otlp.endpoint, undefined);
  const spec = daemonSet(objects)!.spec.template.spec;
  assert.equal(spec.hostPID, true);
  assert.equal(spec.tolerations, undefined);
  const container = spec.containers[0];
  assert.deepEqual(container.args, ['--config', '/etc/traceable-ebpf/config.yaml']);
  assert.deepEqual(container.securityContext, {
    capabilities: { add: ['BPF', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE', 'SYS_RESOURCE'] },
  });
  assert.equal(container.image, 'traceable-ebpf/ebpf-tracer:0.1.0');
});

test('values: ebpfHttp2CaptureEnabled, ebpfReportingEndpoint, ebpfCaptureMode, ebpfConfig, ebpfRunAsPrivileged, ebpfTolerations, ebpfPodLabels', () => {
  const objects = renderChart([
    '--set',
    'ebpfHttp2CaptureEnabled=false',
    '--set',
    'ebpfReportingEndpoint=http://otel-collector:4318/v1/traces',
    '--set',
    'ebpfCaptureMode=ingress_and_egress',
    '--set',
    'ebpfConfig.max_body_size=131072',
    '--set',
    'ebpfRunAsPrivileged=true',
    '--set-json',
    'ebpfTolerations=[{"key":"node-role.kubernetes.io/control-plane","operator":"Exists","effect":"NoSchedule"}]',
    '--set',
    'ebpfPodLabels.team=api',
  ]);
  const config = parseConfig(parseYaml(renderedConfig(objects)), 'chart');
  assert.equal(config.http2_capture_enabled, false);
  assert.equal(config.exporter.otlp.endpoint, 'http://otel-collector:4318/v1/traces');
  assert.equal(config.mode, 'ingress_and_egress');
  assert.equal(config.max_body_size, 131072);
  const pod = daemonSet(objects)!.spec.template;
  assert.equal(pod.metadata.labels.team, 'api');
  assert.deepEqual(pod.spec.containers[0].securityContext, { privileged: true });
  assert.deepEqual(pod.spec.tolerations, [
    { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
  ]);
});

test('a config change changes the pod template (pods roll); ebpfCaptureEnabled=false renders nothing', () => {
  const checksum = (args: string[]) =>
    daemonSet(renderChart(args))!.spec.template.metadata.annotations['checksum/config'];
  assert.notEqual(checksum([]), checksum(['--set', 'ebpfHttp2CaptureEnabled=false']));
  assert.deepEqual(renderChart(['--set', 'ebpfCaptureEnabled=false']), []);
});

test('bad values: a wrong type is refused by the chart schema; an unknown config key by the tracer, in one line', () => {
  const r = helm(['template', 'test', CHART, '--set-string', 'ebpfHttp2CaptureEnabled=yes']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /ebpfHttp2CaptureEnabled/);
  const mode = helm(['template', 'test', CHART, '--set', 'ebpfCaptureMode=sideways']);
  assert.notEqual(mode.status, 0);
  assert.match(mode.stderr, /ebpfCaptureMode/);
  const text = renderedConfig(renderChart(['--set', 'ebpfConfig.bogus_key=1']));
  assert.throws(
    () => parseConfig(parseYaml(text), 'chart'),
    (err: Error) => err.message === "chart: 'bogus_key': unknown key",
  );
});
