/**
 * The enrichment stage: each exchange's process is mapped to its container and pod, and the
 * exchange carries the pod's resource attributes (`k8s.*`, `container.id`, `service.name`).
 */
import { readFileSync } from 'node:fs';
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import type { V1Pod } from '@kubernetes/client-node';
import type { ApiExchange, ResourceAttributes, Stats } from '@traceable-ebpf/core';
import type { ClusterState } from './cluster-watch.js';
import { bareContainerId, parseProcCgroup } from './proc-cgroup.js';
import { podAttributes } from './pod-attributes.js';
import { podCgroupUid } from './pod-cgroups.js';
import { serviceOfPod } from './pod-services.js';

/** Options of {@link enrichPods}. */
export interface EnrichPodsOptions {
  /** The cluster as watched ({@link watchCluster}); without it the stage is a pass-through. */
  readonly cluster?: Observable<ClusterState>;
  /** Where the host's /proc is (default `/proc`; a DaemonSet mounts it at `/hostproc`). */
  readonly procFsPath?: string;
  /** Pod label keys copied as `k8s.pod.label.<key>`. */
  readonly podLabels?: readonly string[];
  /** Counts exchanges whose process maps to no known pod (`ExchangesWithoutPod`). */
  readonly stats?: Stats;
  /** A pod that went away keeps enriching late exchanges this long (ms, default 60,000). */
  readonly graceMs?: number;
  /** Processes whose cgroup is remembered (default 8,192); the oldest is forgotten first. */
  readonly maxProcesses?: number;
  /** A process's cgroup is read again after this long (ms, default 30,000): pids are reused. */
  readonly processTtlMs?: number;
}

/** Containers whose attributes are kept (the oldest is forgotten first). */
const MAX_RESOURCES = 16_384;

interface ProcessEntry {
  readonly podUid: string | undefined;
  readonly containerId: string | undefined;
  readonly readAt: number;
}

interface ResourceEntry {
  /** The cluster state they were checked against last (the fast path: nothing changed). */
  state: ClusterState;
  /** The pod's resourceVersion and Service the attributes were made from. */
  readonly version: string;
  readonly attributes: ResourceAttributes;
}

/** The container of `pod` with bare id `id` (its name), if the pod lists it. */
function containerName(pod: V1Pod, id: string | undefined): string | undefined {
  if (!id) return undefined;
  const s = pod.status;
  for (const list of [
    s?.containerStatuses,
    s?.initContainerStatuses,
    s?.ephemeralContainerStatuses,
  ])
    for (const c of list ?? [])
      if (c.containerID && bareContainerId(c.containerID).id === id) return c.name;
  return undefined;
}

/**
 * Adds the pod's resource attributes to each exchange (`ApiExchange.resource`): the process's
 * cgroup (`<procFsPath>/<pid>/cgroup`, cached per process, bounded) names its container and pod
 * UID, the watched cluster names the rest. An exchange whose process maps to no known pod passes
 * unchanged and is counted. The same attributes object is handed out for a container until its
 * pod changes, so exporters can cache by identity. Without `cluster`, a pass-through.
 *
 * @example
 * ```ts
 * import { shareReplay } from 'rxjs';
 * import { Stats, reassemble } from '@traceable-ebpf/core';
 * import { bpfSource } from '@traceable-ebpf/bpf-source';
 * import { parseHttp } from '@traceable-ebpf/parsers';
 * import { toSpans } from '@traceable-ebpf/exporters';
 * import { enrichPods, watchCluster } from '@traceable-ebpf/k8s-enricher';
 *
 * const stats = new Stats();
 * const cluster = watchCluster().pipe(shareReplay({ bufferSize: 1, refCount: true }));
 * bpfSource({ pids: [1234], stats })
 *   .pipe(
 *     reassemble({ stats }),
 *     parseHttp({ stats }),
 *     enrichPods({ cluster, procFsPath: '/proc', podLabels: ['app.kubernetes.io/name'], stats }),
 *     toSpans(),
 *   )
 *   .subscribe((span) => console.log(span.name, span.resource.attributes['k8s.pod.name']));
 * ```
 */
export function enrichPods(options: EnrichPodsOptions = {}): MonoTypeOperatorFunction<ApiExchange> {
  const cluster$ = options.cluster;
  if (!cluster$) return (source) => source;
  const proc = options.procFsPath ?? '/proc';
  const graceMs = options.graceMs ?? 60_000;
  const maxProcesses = options.maxProcesses ?? 8192;
  const ttlMs = options.processTtlMs ?? 30_000;
  return (source) =>
    new Observable<ApiExchange>((subscriber) => {
      let state: ClusterState | undefined;
      /** The state's pods by the UID their cgroups are named by (a static pod's config hash). */
      let byCgroupUid = new Map<string, V1Pod>();
      /** Pods gone from the cluster, by that UID, with when they stop enriching. */
      const departed = new Map<string, { pod: V1Pod; until: number }>();
      const processes = new Map<number, ProcessEntry>();
      const resources = new Map<string, ResourceEntry>();
      const forget = (uid: string) => {
        departed.delete(uid);
        for (const key of resources.keys()) if (key.startsWith(`${uid}/`)) resources.delete(key);
      };

      const clusterSub = cluster$.subscribe({
        next(s) {
          const now = Date.now();
          const next = new Map<string, V1Pod>();
          for (const pod of s.pods.values()) {
            const uid = podCgroupUid(pod);
            if (uid) next.set(uid, pod);
          }
          for (const [uid, pod] of byCgroupUid)
            if (!next.has(uid)) departed.set(uid, { pod, until: now + graceMs });
          for (const [uid, d] of departed) {
            if (next.has(uid)) departed.delete(uid);
            else if (d.until <= now) forget(uid);
          }
          byCgroupUid = next;
          state = s;
        },
        error: (err) => subscriber.error(err),
      });

      /** A pod by cgroup UID: in the cluster, or gone less than the grace period ago. */
      const podOf = (uid: string): V1Pod | undefined => {
        const pod = byCgroupUid.get(uid);
        if (pod) return pod;
        const d = departed.get(uid);
        if (!d) return undefined;
        if (d.until > Date.now()) return d.pod;
        forget(uid);
        return undefined;
      };

      const processOf = (pid: number): ProcessEntry => {
        const now = Date.now();
        const known = processes.get(pid);
        if (known && now - known.readAt < ttlMs) return known;
        let text = '';
        try {
          text = readFileSync(`${proc}/${pid}/cgroup`, 'utf8');
        } catch {
          // The process is gone: nothing to learn (an earlier reading still holds).
          if (known) return known;
        }
        const c = parseProcCgroup(text);
        const entry: ProcessEntry = { podUid: c.podUid, containerId: c.containerId, readAt: now };
        processes.delete(pid);
        if (processes.size >= maxProcesses) processes.delete(processes.keys().next().value!);
        processes.set(pid, entry);
        return entry;
      };

      const attributesOf = (pid: number): ResourceAttributes | undefined => {
        if (!state) return undefined;
        const p = processOf(pid);
        if (!p.podUid) return undefined;
        const pod = podOf(p.podUid);
        if (!pod) return undefined;
        const key = `${p.podUid}/${p.containerId ?? ''}`;
        const cached = resources.get(key);
        if (cached?.state === state) return cached.attributes;
        const service = serviceOfPod(pod, state);
        const version = `${pod.metadata?.resourceVersion ?? ''}/${service ?? ''}`;
        if (cached?.version === version) {
          cached.state = state;
          return cached.attributes;
        }
        const attributes = podAttributes(
          pod,
          { name: containerName(pod, p.containerId), id: p.containerId },
          { nodeName: state.nodeName, podLabels: options.podLabels, service },
        );
        // Bounded: a pod's restarted containers each add one until the pod goes.
        if (!cached && resources.size >= MAX_RESOURCES)
          resources.delete(resources.keys().next().value!);
        resources.set(key, { state, version, attributes });
        return attributes;
      };

      const subscription = source.subscribe({
        next(ex) {
          const resource = attributesOf(ex.connection.tgid);
          if (!resource) {
            options.stats?.inc('ExchangesWithoutPod');
            subscriber.next(ex);
            return;
          }
          subscriber.next({ ...ex, resource });
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        subscription.unsubscribe();
        clusterSub.unsubscribe();
      };
    });
}
