/**
 * A process's container and pod from its cgroup paths (`/proc/<pid>/cgroup`), for the kubelet's
 * systemd and cgroupfs drivers and the containerd, CRI-O and Docker runtimes, cgroup v1 and v2.
 */

/** What a process's cgroup paths say about it. */
export interface ProcessCgroup {
  /** The cgroup v2 path (the `0::` line), when there is one. */
  readonly path?: string;
  /** The container's id (64 hex digits), when the process is in a container's cgroup. */
  readonly containerId?: string;
  /** The pod's UID (dashed, as the API has it), when the process is in a pod's cgroup. */
  readonly podUid?: string;
}

/**
 * `pod<uid>` in a path segment; the systemd driver writes the UID's dashes as underscores. A
 * static pod's cgroup is named by its config hash (32 hex digits).
 */
const POD_UID =
  /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?:\.slice)?$/;
/** A container's cgroup: `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`, or `<id>`. */
const CONTAINER = /^(?:cri-containerd-|crio-|docker-|containerd-)?([0-9a-f]{64})(?:\.scope)?$/;

/** The container id and pod UID a cgroup path names (either may be missing). */
export function parseCgroupPath(path: string): Omit<ProcessCgroup, 'path'> {
  let containerId: string | undefined;
  let podUid: string | undefined;
  for (const segment of path.split('/')) {
    if (segment.length === 0) continue;
    const pod = POD_UID.exec(segment);
    if (pod) {
      podUid = pod[1]!.replace(/_/g, '-');
      continue;
    }
    // `crio-conmon-<id>.scope` is CRI-O's monitor, not the container: it doesn't match.
    const container = CONTAINER.exec(segment);
    if (container) containerId = container[1];
  }
  return {
    ...(containerId !== undefined ? { containerId } : {}),
    ...(podUid !== undefined ? { podUid } : {}),
  };
}

/**
 * Parses the text of `/proc/<pid>/cgroup`: the v2 line (`0::/…`) when present, else the first v1
 * line naming a container (cgroup v1 and hybrid hosts).
 */
export function parseProcCgroup(text: string): ProcessCgroup {
  let v2: string | undefined;
  let fromV1: Omit<ProcessCgroup, 'path'> = {};
  for (const line of text.split('\n')) {
    // hierarchy-id:controllers:path (the path may itself hold colons)
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const path = line.slice(second + 1);
    if (line.slice(0, second) === '0:') v2 = path;
    else if (fromV1.containerId === undefined) fromV1 = parseCgroupPath(path);
  }
  if (v2 !== undefined) {
    const ids = parseCgroupPath(v2);
    // A hybrid host may keep containers in the v1 hierarchies only.
    return { path: v2, ...(ids.containerId !== undefined ? ids : fromV1) };
  }
  return fromV1;
}

/** A container id without the runtime's scheme (`containerd://…`, `cri-o://…`, `docker://…`). */
export function bareContainerId(statusId: string): { runtime: string; id: string } {
  const at = statusId.indexOf('://');
  return at < 0
    ? { runtime: '', id: statusId }
    : { runtime: statusId.slice(0, at), id: statusId.slice(at + 3) };
}
