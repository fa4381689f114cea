/**
 * The mirroring policy as capture selectors: each mirrored pod's containers become cgroup v2
 * selectors for the kernel's filter, recomputed whenever the cluster changes.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { V1Pod } from '@kubernetes/client-node';
import type { CaptureMode } from '@traceable-ebpf/core';
import type { ClusterLog, ClusterState } from './cluster-watch.js';
import { MirrorPolicy, type PodDecision } from './mirror-policy.js';
import { PodDirCache, findPodCgroups, podCgroupUid } from './pod-cgroups.js';
import { podServiceName } from './pod-attributes.js';
import { serviceOfPod } from './pod-services.js';

/** One cgroup the kernel captures, in a mode. */
export interface CgroupSelection {
  /** The container's cgroup directory (absolute, under a cgroup v2 mount). */
  readonly cgroup: string;
  /** Its pod's capture mode. */
  readonly mode: CaptureMode;
}

/**
 * A capture policy naming cgroups only (the shape `bpfSource`'s `policy$` takes): the mirrored
 * pods' running containers.
 */
export interface PodCapturePolicy {
  /** Always empty: pods are selected by cgroup. */
  readonly processes: readonly never[];
  /** One entry per running container of each mirrored pod. */
  readonly cgroups: readonly CgroupSelection[];
}

/** Options of {@link podCapturePolicy}. */
export interface PodCapturePolicyOptions {
  /** Which pods are mirrored, and in which mode. */
  readonly policy: MirrorPolicy;
  /**
   * cgroup v2 mounts the containers' directories are looked for in, in order (default
   * `/sys/fs/cgroup`, then `/sys/fs/cgroup/unified` for hybrid hosts).
   */
  readonly cgroupRoots?: readonly string[];
  /** While a mirrored container's directory is missing, look again this often (ms, default 500). */
  readonly retryMs?: number;
  /** Receives the decision lines (`Added pod to maps`, `Removed pod from maps`). */
  readonly log?: ClusterLog;
}

/** The default cgroup v2 mounts for `cgroup_fs_path`. */
export function cgroupRoots(cgroupFsPath = '/sys/fs/cgroup'): string[] {
  return [cgroupFsPath, `${cgroupFsPath.replace(/\/+$/, '')}/unified`];
}

/** A mirrored container's cgroup missing this long is logged (ms). */
const WARN_MISSING_AFTER_MS = 10_000;

interface Logged {
  /** What its cgroup is named by (a static pod's config hash): its cached directory's key. */
  readonly cgroupUid: string | undefined;
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  readonly enabled: boolean;
  readonly mode: CaptureMode;
}

/**
 * Turns cluster states into capture policies: each pod the {@link MirrorPolicy} selects gives
 * its running containers' cgroup directories in its mode. A policy is emitted first for the
 * first state, then whenever the selection changes. A mirrored container whose directory isn't
 * there yet is looked for again every `retryMs`. Each pod's decision is logged when first made
 * and when it changes; a pod that goes away is logged too.
 *
 * @example
 * ```ts
 * import { shareReplay } from 'rxjs';
 * import { bpfSource } from '@traceable-ebpf/bpf-source';
 * import {
 *   MirrorPolicy,
 *   cgroupRoots,
 *   podCapturePolicy,
 *   watchCluster,
 * } from '@traceable-ebpf/k8s-enricher';
 *
 * // Capture the pods of namespace `shop`, each in its annotated mode.
 * const cluster = watchCluster().pipe(shareReplay({ bufferSize: 1, refCount: true }));
 * const policy$ = cluster.pipe(
 *   podCapturePolicy({
 *     policy: new MirrorPolicy({ matchSelectors: [{ field_selectors: ['metadata.namespace=shop'] }] }),
 *     cgroupRoots: cgroupRoots('/sys/fs/cgroup'),
 *   }),
 * );
 * bpfSource({ policy$ }).subscribe();
 * ```
 */
export function podCapturePolicy(
  options: PodCapturePolicyOptions,
): OperatorFunction<ClusterState, PodCapturePolicy> {
  const roots = options.cgroupRoots ?? cgroupRoots();
  const retryMs = options.retryMs ?? 500;
  const log = options.log ?? (() => {});
  return (source) =>
    new Observable<PodCapturePolicy>((subscriber) => {
      const podDirs = new PodDirCache();
      const logged = new Map<string, Logged>();
      /** Mirrored containers (pod UID/container id) whose cgroup isn't found: since when. */
      const missingSince = new Map<string, number>();
      const warned = new Set<string>();
      let last: string | undefined;
      let state: ClusterState | undefined;
      let retry: NodeJS.Timeout | undefined;

      const note = (pod: V1Pod, d: PodDecision, cluster: ClusterState) => {
        const uid = pod.metadata?.uid ?? '';
        const before = logged.get(uid);
        if (before && before.enabled === d.enabled && before.mode === d.mode) return;
        logged.set(uid, {
          cgroupUid: podCgroupUid(pod),
          name: pod.metadata?.name,
          namespace: pod.metadata?.namespace,
          enabled: d.enabled,
          mode: d.mode,
        });
        log('info', 'Added pod to maps', {
          Name: pod.metadata?.name,
          Namespace: pod.metadata?.namespace,
          Service: podServiceName(pod, serviceOfPod(pod, cluster)),
          Enabled: d.enabled,
          Mode: d.mode,
          ...(d.badMode !== undefined ? { BadMode: d.badMode } : {}),
        });
      };

      const compute = () => {
        retry = undefined;
        const cluster = state;
        if (!cluster) return;
        const cgroups: CgroupSelection[] = [];
        let missing = false;
        for (const pod of cluster.pods.values()) {
          const d = options.policy.decide(
            pod,
            cluster.namespaces.get(pod.metadata?.namespace ?? ''),
          );
          note(pod, d, cluster);
          if (!d.enabled) continue;
          for (const c of findPodCgroups(pod, roots, podDirs)) {
            const key = `${pod.metadata?.uid ?? ''}/${c.id}`;
            if (c.dir !== undefined) {
              cgroups.push({ cgroup: c.dir, mode: d.mode });
              missingSince.delete(key);
              continue;
            }
            missing = true;
            // Not there after a while: one line, so an uncaptured pod is never silent.
            const since = missingSince.get(key) ?? Date.now();
            missingSince.set(key, since);
            if (Date.now() - since >= WARN_MISSING_AFTER_MS && !warned.has(key)) {
              warned.add(key);
              log('warn', 'cgroup of a mirrored container not found: it is not captured', {
                Name: pod.metadata?.name,
                Namespace: pod.metadata?.namespace,
                Container: c.name,
                ContainerId: c.id,
                CgroupRoots: roots,
              });
            }
          }
        }
        for (const key of missingSince.keys())
          if (!cluster.pods.has(key.slice(0, key.indexOf('/')))) {
            missingSince.delete(key);
            warned.delete(key);
          }
        for (const [uid, was] of logged) {
          if (cluster.pods.has(uid)) continue;
          logged.delete(uid);
          if (was.cgroupUid) podDirs.forget(was.cgroupUid);
          log('info', 'Removed pod from maps', {
            Name: was.name,
            Namespace: was.namespace,
            Enabled: was.enabled,
            Mode: was.mode,
          });
        }
        cgroups.sort((a, b) => (a.cgroup < b.cgroup ? -1 : a.cgroup > b.cgroup ? 1 : 0));
        const key = cgroups.map((c) => `${c.cgroup} ${c.mode}`).join('\n');
        if (key !== last) {
          last = key;
          subscriber.next({ processes: [], cgroups });
        }
        if (missing) retry = setTimeout(compute, retryMs);
      };

      const subscription = source.subscribe({
        next(s) {
          state = s;
          if (retry) clearTimeout(retry);
          compute();
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        if (retry) clearTimeout(retry);
        subscription.unsubscribe();
      };
    });
}
