/**
 * Where a pod's containers live in the host's cgroup v2 tree: the directories the kernel's
 * cgroup filter is given, found from the pod's UID, QoS class and container ids.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { bareContainerId } from './proc-cgroup.js';

/** One running container of a pod and its cgroup directory. */
export interface ContainerCgroup {
  readonly name: string;
  /** Bare id (no runtime scheme). */
  readonly id: string;
  /** Its cgroup directory, absolute; undefined when it can't be found (yet). */
  readonly dir: string | undefined;
}

/**
 * The UID the kubelet names the pod's cgroup by: a static pod's config hash (its mirror pod in
 * the API has another UID), else the pod's UID.
 */
export function podCgroupUid(pod: V1Pod): string | undefined {
  const hash = pod.metadata?.annotations?.['kubernetes.io/config.hash'];
  return hash && /^[0-9a-f]{32}$/.test(hash) ? hash : pod.metadata?.uid;
}

/**
 * The running containers of a pod (regular, init and ephemeral): a waiting or terminated one
 * keeps its last container id, but has no cgroup to capture.
 */
export function runningContainers(
  pod: V1Pod,
): Array<{ name: string; runtime: string; id: string }> {
  const all: V1ContainerStatus[] = [
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ];
  const out: Array<{ name: string; runtime: string; id: string }> = [];
  for (const s of all) {
    if (!s.containerID || (s.state !== undefined && !s.state.running)) continue;
    out.push({ name: s.name, ...bareContainerId(s.containerID) });
  }
  return out;
}

/** The runtime's scope prefix under the systemd driver. */
function scopePrefix(runtime: string): string[] {
  switch (runtime) {
    case 'containerd':
      return ['cri-containerd'];
    case 'cri-o':
      return ['crio'];
    case 'docker':
      return ['docker'];
    default:
      return ['cri-containerd', 'crio', 'docker'];
  }
}

/**
 * The pod's cgroup directory as each kubelet driver names it, relative to the cgroup root:
 * systemd `kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice`, cgroupfs
 * `kubepods/<qos>/pod<uid>` (Guaranteed pods have no QoS level).
 */
export function podDirCandidates(uid: string, qosClass: string | undefined): string[] {
  const qos = (qosClass ?? '').toLowerCase();
  const underscored = uid.replace(/-/g, '_');
  if (qos === 'guaranteed')
    return [`kubepods.slice/kubepods-pod${underscored}.slice`, `kubepods/pod${uid}`];
  const levels = qos === 'burstable' || qos === 'besteffort' ? [qos] : ['burstable', 'besteffort'];
  const out: string[] = [];
  for (const q of levels) {
    out.push(`kubepods.slice/kubepods-${q}.slice/kubepods-${q}-pod${underscored}.slice`);
    out.push(`kubepods/${q}/pod${uid}`);
  }
  // Unknown QoS: Guaranteed's places too.
  if (levels.length > 1)
    out.push(`kubepods.slice/kubepods-pod${underscored}.slice`, `kubepods/pod${uid}`);
  return out;
}

/** Directories searched below a cgroup root for a pod directory the usual places don't hold. */
const SEARCH_DEPTH = 4;
const SEARCH_ENTRIES = 20_000;
/** A pod's directory is searched for at most this often (ms). */
const SEARCH_EVERY_MS = 10_000;

/**
 * What {@link findPodCgroups} remembers between looks, by the UID the pod's cgroup is named by
 * ({@link podCgroupUid}): each pod's directory once found, and when it was last searched for.
 */
export class PodDirCache {
  readonly dirs = new Map<string, string>();
  readonly searchedAt = new Map<string, number>();

  /** Forgets a pod that went away. */
  forget(cgroupUid: string): void {
    this.dirs.delete(cgroupUid);
    this.searchedAt.delete(cgroupUid);
  }
}

/**
 * Finds the pod's directory under `root` by name (`pod<uid>` or `pod<uid_>` in a directory's
 * name), breadth first, bounded: for layouts that nest kubepods elsewhere (kind, k3s, a
 * kubelet in its own slice).
 */
function searchPodDir(root: string, uid: string): string | undefined {
  const names = [`pod${uid}`, `pod${uid.replace(/-/g, '_')}`];
  let level = [root];
  let seen = 0;
  for (let depth = 0; depth < SEARCH_DEPTH && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        if (++seen > SEARCH_ENTRIES) return undefined;
        const p = join(dir, e.name);
        if (names.some((n) => e.name === n || e.name.endsWith(`-${n}.slice`))) return p;
        next.push(p);
      }
    }
    level = next;
  }
  return undefined;
}

/**
 * Finds cgroup directories of a pod's containers. `roots` are the cgroup v2 mounts to look in
 * (`/sys/fs/cgroup`, and `/sys/fs/cgroup/unified` on hybrid hosts). A pod directory found is
 * remembered in `cache`, and the search for one is not run again for a while.
 */
export function findPodCgroups(
  pod: V1Pod,
  roots: readonly string[],
  cache: PodDirCache = new PodDirCache(),
): ContainerCgroup[] {
  const uid = podCgroupUid(pod);
  const containers = runningContainers(pod);
  if (!uid || containers.length === 0) return [];
  let podDir = cache.dirs.get(uid);
  if (podDir === undefined || !existsSync(podDir)) {
    podDir = undefined;
    for (const root of roots) {
      for (const rel of podDirCandidates(uid, pod.status?.qosClass)) {
        const p = join(root, rel);
        if (existsSync(p)) {
          podDir = p;
          break;
        }
      }
      if (podDir) break;
    }
    // Elsewhere (kind, k3s, a kubelet in its own slice): a bounded search, at most every
    // SEARCH_EVERY_MS per pod (a pod whose cgroup never shows must not cost a walk each look).
    const now = Date.now();
    if (!podDir && (cache.searchedAt.get(uid) ?? -Infinity) + SEARCH_EVERY_MS <= now) {
      cache.searchedAt.set(uid, now);
      for (const root of roots) if ((podDir = searchPodDir(root, uid))) break;
    }
    if (podDir) cache.dirs.set(uid, podDir);
  }
  return containers.map(({ name, runtime, id }) => {
    if (!podDir) return { name, id, dir: undefined };
    // systemd: `<runtime>-<id>.scope`; cgroupfs: the bare id (containerd, Docker) or
    // `crio-<id>` (CRI-O).
    const prefixes = scopePrefix(runtime);
    for (const candidate of [
      ...prefixes.map((p) => `${p}-${id}.scope`),
      id,
      ...prefixes.map((p) => `${p}-${id}`),
    ]) {
      const p = join(podDir, candidate);
      if (existsSync(p)) return { name, id, dir: p };
    }
    return { name, id, dir: undefined };
  });
}
