/**
 * The OpenTelemetry resource attributes of a pod's container (Kubernetes semantic conventions):
 * pod, namespace, node, container, owner workload, service name and selected pod labels.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { ResourceAttributes } from '@traceable-ebpf/core';

/** The workload that owns a pod, from its controller owner reference. */
export interface PodOwner {
  /** `deployment`, `replicaset`, `daemonset`, `statefulset`, `job`, `cronjob`, … (lower case). */
  readonly kind: string;
  readonly name: string;
}

/**
 * The pod's owners, outermost last: a ReplicaSet's Deployment and a Job's CronJob are named the
 * way their controllers name what they create (the pod's `pod-template-hash` label; the
 * CronJob's scheduled-time suffix), without asking the API for them.
 */
export function podOwners(pod: V1Pod): PodOwner[] {
  const ref =
    pod.metadata?.ownerReferences?.find((r) => r.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (!ref) return [];
  const owners: PodOwner[] = [{ kind: ref.kind.toLowerCase(), name: ref.name }];
  if (ref.kind === 'ReplicaSet') {
    const hash = pod.metadata?.labels?.['pod-template-hash'];
    if (hash && ref.name.endsWith(`-${hash}`))
      owners.push({ kind: 'deployment', name: ref.name.slice(0, -hash.length - 1) });
  } else if (ref.kind === 'Job') {
    // A CronJob names its Jobs `<cronjob>-<scheduled time in minutes since the epoch>`: taken
    // as one only when that reads as a time from 2014 to 2084 (`report-20240601` is not).
    const m = /^(.+)-(\d{8})$/.exec(ref.name);
    const minutes = m ? Number(m[2]) : 0;
    if (m && minutes >= 23_000_000 && minutes <= 60_000_000)
      owners.push({ kind: 'cronjob', name: m[1]! });
  }
  return owners;
}

/** Options of {@link podAttributes}. */
export interface PodAttributeOptions {
  /** The node's name (`k8s.node.name`). */
  readonly nodeName: string;
  /**
   * Pod label keys copied as `k8s.pod.label.<key>` (Helm `ebpfPodLabels`); a key may also be
   * written as the attribute it becomes (`k8s.pod.label.app.kubernetes.io/name`).
   */
  readonly podLabels?: readonly string[];
  /** The Kubernetes Service the pod serves, when one selects it. */
  readonly service?: string;
}

/** The attribute prefix of copied pod labels. */
const LABEL_PREFIX = 'k8s.pod.label.';

/** Owner kinds the conventions name attributes for. */
const OWNER_ATTRIBUTE: Readonly<Record<string, string>> = {
  deployment: 'k8s.deployment.name',
  replicaset: 'k8s.replicaset.name',
  daemonset: 'k8s.daemonset.name',
  statefulset: 'k8s.statefulset.name',
  job: 'k8s.job.name',
  cronjob: 'k8s.cronjob.name',
};

/**
 * The pod's service name as the spans say it: the Service that selects it, else its
 * `app.kubernetes.io/name` label, else its outermost owner's name, else the pod's name.
 */
export function podServiceName(pod: V1Pod, service?: string): string {
  return (
    service ??
    pod.metadata?.labels?.['app.kubernetes.io/name'] ??
    podOwners(pod).at(-1)?.name ??
    pod.metadata?.name ??
    ''
  );
}

/** The resource attributes of `container` (name and bare id) in `pod`. */
export function podAttributes(
  pod: V1Pod,
  container: { name?: string; id?: string },
  options: PodAttributeOptions,
): ResourceAttributes {
  const m = pod.metadata ?? {};
  const out: Record<string, string> = {
    'service.name': podServiceName(pod, options.service),
    'k8s.pod.name': m.name ?? '',
    'k8s.pod.uid': m.uid ?? '',
    'k8s.namespace.name': m.namespace ?? '',
    'k8s.node.name': pod.spec?.nodeName ?? options.nodeName,
  };
  if (container.name) out['k8s.container.name'] = container.name;
  if (container.id) out['container.id'] = container.id;
  for (const owner of podOwners(pod)) {
    const key = OWNER_ATTRIBUTE[owner.kind];
    if (key) out[key] = owner.name;
  }
  const labels = m.labels ?? {};
  for (const item of options.podLabels ?? []) {
    // A key, or the attribute it becomes (`k8s.pod.label.app.kubernetes.io/name`): both name it.
    const key = item.startsWith(LABEL_PREFIX) ? item.slice(LABEL_PREFIX.length) : item;
    const v = labels[key];
    if (v !== undefined) out[`${LABEL_PREFIX}${key}`] = v;
  }
  return out;
}
