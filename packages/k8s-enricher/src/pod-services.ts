/** Which Kubernetes Service a pod serves: one in its namespace whose selector its labels match. */
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import type { ClusterState } from './cluster-watch.js';

/**
 * The name of a Service in the pod's namespace whose (non-empty) selector the pod's labels
 * match; when several do, the first by name, so the answer doesn't depend on watch order.
 */
export function serviceOfPod(
  pod: V1Pod,
  cluster: Pick<ClusterState, 'services'>,
): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  const candidates: readonly V1Service[] =
    cluster.services.get(pod.metadata?.namespace ?? '') ?? [];
  let best: string | undefined;
  for (const s of candidates) {
    const selector = s.spec?.selector;
    const name = s.metadata?.name;
    if (!name || !selector) continue;
    const keys = Object.keys(selector);
    if (keys.length === 0 || !keys.every((k) => labels[k] === selector[k])) continue;
    if (best === undefined || name < best) best = name;
  }
  return best;
}
