/**
 * The mirroring policy of the product the project models: which pods are captured, and in which
 * mode, from the tracer's settings, namespace labels and annotations, and pod annotations.
 */
import type { V1Namespace, V1Pod } from '@kubernetes/client-node';
import { ErrorCode, TracerError, type CaptureMode } from '@traceable-ebpf/core';
import { matches, parseFieldSelector, parseLabelSelector, type Selector } from './selectors.js';

/** Namespace label turning a namespace on (`enabled`) or off (`disabled`). */
export const NAMESPACE_MIRROR_LABEL = 'traceableai-mirror';
/** Pod annotation turning one pod off (`"false"`). */
export const POD_ENABLED_ANNOTATION = 'mirror.traceable.ai/enabled';
/** Pod annotation choosing the pod's mode. */
export const POD_MODE_ANNOTATION = 'mirror.traceable.ai/mode';
/** Namespace annotation choosing the mode of its pods that don't choose one. */
export const NAMESPACE_MODE_ANNOTATION = 'mirror.traceable.ai/defaultMode';

/** One entry of `daemon_set_mirroring.match_selectors`: a pod matches when every selector does. */
export interface MatchSelectorConfig {
  /** Field selectors over the pod (`metadata.namespace=shop`), each comma-separated. */
  readonly field_selectors?: readonly string[];
  /** Label selectors over the pod's labels (`app=web,tier in (api)`). */
  readonly label_selectors?: readonly string[];
}

/** The tracer's side of the policy. */
export interface MirrorSettings {
  /** Mirror every namespace (Helm `daemonSetMirrorAllNamespaces`); a namespace label still wins. */
  readonly mirrorAllNamespaces?: boolean;
  /** Pods matching any of these are mirrored (Helm `daemonSetMirroring.matchSelectors`). */
  readonly matchSelectors?: readonly MatchSelectorConfig[];
  /** The mode of pods whose namespace and annotations choose none (default `ingress`). */
  readonly defaultMode?: CaptureMode;
}

/** Why a pod is or isn't mirrored, for the log line and tests. */
export type DecisionReason =
  | 'pod-annotation'
  | 'namespace-label'
  | 'all-namespaces'
  | 'match-selector'
  | 'default-off';

/** The policy's answer for one pod. */
export interface PodDecision {
  /** Whether the pod's traffic is mirrored. */
  readonly enabled: boolean;
  /** Which of its connections are captured (when enabled). */
  readonly mode: CaptureMode;
  /** The rule that decided. */
  readonly reason: DecisionReason;
  /** An annotation's mode value that isn't one (the default was used instead). */
  readonly badMode?: string;
}

const MODES: ReadonlySet<string> = new Set(['ingress', 'egress', 'ingress_and_egress']);

interface CompiledSelector {
  readonly fields: readonly Selector[];
  readonly labels: readonly Selector[];
}

/** A pod field by its selector name; absent fields read as '' (as the API server has it). */
function podField(pod: V1Pod, key: string): string {
  switch (key) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'spec.restartPolicy':
      return pod.spec?.restartPolicy ?? '';
    case 'spec.schedulerName':
      return pod.spec?.schedulerName ?? '';
    case 'spec.hostNetwork':
      return String(pod.spec?.hostNetwork ?? false);
    case 'status.phase':
      return pod.status?.phase ?? '';
    case 'status.podIP':
      return pod.status?.podIP ?? '';
    case 'status.nominatedNodeName':
      return pod.status?.nominatedNodeName ?? '';
    default:
      return '';
  }
}

/**
 * The policy compiled from the settings: selectors parsed once (a bad one is a config error at
 * start, naming it), then {@link MirrorPolicy.decide} per pod.
 */
export class MirrorPolicy {
  private readonly selectors: readonly CompiledSelector[];

  constructor(private readonly settings: MirrorSettings = {}) {
    this.selectors = (settings.matchSelectors ?? []).map((m, i) => {
      // An entry with nothing in it would select every pod: surely a mistake in the values.
      if (!m.field_selectors?.length && !m.label_selectors?.length)
        throw new TracerError(
          ErrorCode.Config,
          `daemon_set_mirroring.match_selectors[${i}]: needs field_selectors or label_selectors`,
        );
      return {
        fields: (m.field_selectors ?? []).map(parseFieldSelector),
        labels: (m.label_selectors ?? []).map(parseLabelSelector),
      };
    });
  }

  /**
   * Whether `pod` (in `namespace`, undefined when not seen yet) is mirrored and in which mode.
   * In order: the pod's `enabled: "false"` annotation turns it off; the namespace's
   * `traceableai-mirror` label turns it on or off; mirroring all namespaces turns it on; a match
   * selector turns it on; otherwise it is off. The mode is the pod's annotation, else the
   * namespace's default-mode annotation, else the settings' default (ingress).
   */
  decide(pod: V1Pod, namespace: V1Namespace | undefined): PodDecision {
    const podAnnotations = pod.metadata?.annotations ?? {};
    const nsAnnotations = namespace?.metadata?.annotations ?? {};
    let mode: CaptureMode = this.settings.defaultMode ?? 'ingress';
    let badMode: string | undefined;
    for (const chosen of [
      nsAnnotations[NAMESPACE_MODE_ANNOTATION],
      podAnnotations[POD_MODE_ANNOTATION],
    ]) {
      if (chosen === undefined) continue;
      if (MODES.has(chosen.trim())) mode = chosen.trim() as CaptureMode;
      else badMode = chosen;
    }
    const answer = (enabled: boolean, reason: DecisionReason): PodDecision =>
      badMode === undefined ? { enabled, mode, reason } : { enabled, mode, reason, badMode };

    if (podAnnotations[POD_ENABLED_ANNOTATION]?.trim().toLowerCase() === 'false')
      return answer(false, 'pod-annotation');
    const label = namespace?.metadata?.labels?.[NAMESPACE_MIRROR_LABEL]?.trim().toLowerCase();
    if (label === 'enabled') return answer(true, 'namespace-label');
    if (label === 'disabled') return answer(false, 'namespace-label');
    if (this.settings.mirrorAllNamespaces) return answer(true, 'all-namespaces');
    const labels = pod.metadata?.labels ?? {};
    for (const s of this.selectors) {
      if (
        s.fields.every((f) => matches(f, (k) => podField(pod, k))) &&
        s.labels.every((l) => matches(l, (k) => labels[k]))
      )
        return answer(true, 'match-selector');
    }
    return answer(false, 'default-off');
  }
}
