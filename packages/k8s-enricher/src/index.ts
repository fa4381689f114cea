/**
 * @traceable-ebpf/k8s-enricher: Kubernetes for the tracer. Watches the node's pods, namespaces
 * and Services; turns the mirroring policy into cgroup capture selectors; adds each pod's
 * resource attributes to the exchanges its processes make.
 * @packageDocumentation
 */
export {
  watchCluster,
  defaultNodeName,
  type ClusterState,
  type ClusterLog,
  type WatchClusterOptions,
} from './cluster-watch.js';
export {
  MirrorPolicy,
  NAMESPACE_MIRROR_LABEL,
  NAMESPACE_MODE_ANNOTATION,
  POD_ENABLED_ANNOTATION,
  POD_MODE_ANNOTATION,
  type MirrorSettings,
  type MatchSelectorConfig,
  type PodDecision,
  type DecisionReason,
} from './mirror-policy.js';
export {
  podCapturePolicy,
  cgroupRoots,
  type PodCapturePolicy,
  type PodCapturePolicyOptions,
  type CgroupSelection,
} from './pod-policy.js';
export { enrichPods, type EnrichPodsOptions } from './enrich-pods.js';
export { podAttributes, type PodAttributeOptions } from './pod-attributes.js';
