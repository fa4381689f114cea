/**
 * The node's view of the cluster: its pods, every namespace and every Service, kept current by
 * `@kubernetes/client-node` list/watch informers that survive API server restarts, watch
 * timeouts, 410 Gone and outages.
 */
import { hostname } from 'node:os';
import type {
  KubeConfig,
  KubernetesObject,
  V1Namespace,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';
import { Observable, type Subscriber } from 'rxjs';

/** The client library, loaded when a cluster is first watched (see {@link watchCluster}). */
type KubernetesClient = typeof import('@kubernetes/client-node');

/** What the tracer knows of the cluster at one moment. Maps are not changed after emission. */
export interface ClusterState {
  /** The node the tracer runs on. */
  readonly nodeName: string;
  /** Pods of this node by UID. */
  readonly pods: ReadonlyMap<string, V1Pod>;
  /** Namespaces by name. */
  readonly namespaces: ReadonlyMap<string, V1Namespace>;
  /** Services by namespace. */
  readonly services: ReadonlyMap<string, readonly V1Service[]>;
}

/** A log line from the watch: where the tracer sends it is the caller's choice. */
export type ClusterLog = (
  level: 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void;

/** Options of {@link watchCluster}. */
export interface WatchClusterOptions {
  /** Default: `KubeConfig.loadFromDefault()` (in-cluster service account, else `KUBECONFIG`). */
  readonly kubeConfig?: KubeConfig;
  /** Default: `NODE_NAME`, else the host name. */
  readonly nodeName?: string;
  /** Changes arriving within this many ms are emitted as one state (default 50). */
  readonly coalesceMs?: number;
  /** First retry delay after an error, doubled up to {@link maxRetryMs} (default 500). */
  readonly retryMs?: number;
  /** Default 30,000. */
  readonly maxRetryMs?: number;
  /** Where outages, resumptions and permission errors are told. Default: nowhere. */
  readonly log?: ClusterLog;
}

/** The node's name as the DaemonSet knows it: `NODE_NAME` (downward API), else the host name. */
export function defaultNodeName(): string {
  return process.env['NODE_NAME'] || hostname();
}

/** The HTTP status of a client-node error (list: `code`, watch: `statusCode`). */
function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

/** One line for an error: status and message, or the system error code. */
function describe(err: unknown): string {
  const status = statusOf(err);
  const e = err as { message?: unknown; code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = typeof e?.code === 'string' ? e.code : e?.cause?.code;
  const message = String(e?.message ?? err).split('\n')[0];
  return status !== undefined
    ? `HTTP ${status}`
    : typeof code === 'string'
      ? code
      : message || 'unknown error';
}

interface Resource<T extends KubernetesObject> {
  /** `pods`, `namespaces`, `services`: in messages and the permission a 403 names. */
  readonly name: string;
  readonly path: string;
  readonly list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  readonly fieldSelector?: string;
}

/**
 * Watches the cluster from this node: pods with `spec.nodeName` = the node, all namespaces and
 * all Services. Emits a {@link ClusterState} once all three are listed, then after every change
 * (coalesced). Errors never end the observable: each outage is one log line (a 401/403 names the
 * permission the service account lacks), the watch retries with backoff, relists after 410
 * Gone, and the last known state stays in force meanwhile. Unsubscribing stops the watches.
 *
 * @example
 * ```ts
 * import { watchCluster } from '@traceable-ebpf/k8s-enricher';
 *
 * // Inside a pod whose service account may list and watch pods, namespaces and services.
 * watchCluster({ log: (level, message) => console.log(level, message) }).subscribe((state) =>
 *   console.log(`${state.pods.size} pods on this node`),
 * );
 * ```
 */
export function watchCluster(options: WatchClusterOptions = {}): Observable<ClusterState> {
  return new Observable<ClusterState>((subscriber) => {
    let teardown: (() => void) | undefined;
    let closed = false;
    // Loaded on the first subscription, not with this package: the client takes ~80 MiB of
    // RSS, and a tracer outside Kubernetes never needs it.
    import('@kubernetes/client-node').then(
      (k8s) => {
        if (closed) return;
        try {
          teardown = followCluster(k8s, options, subscriber);
        } catch (err) {
          subscriber.error(err);
        }
      },
      (err: unknown) => subscriber.error(err),
    );
    return () => {
      closed = true;
      teardown?.();
    };
  });
}

/** Starts the informers of {@link watchCluster}; returns what stops them. */
function followCluster(
  k8s: KubernetesClient,
  options: WatchClusterOptions,
  subscriber: Subscriber<ClusterState>,
): () => void {
  let kc = options.kubeConfig;
  if (!kc) {
    kc = new k8s.KubeConfig();
    kc.loadFromDefault();
  }
  const nodeName = options.nodeName ?? defaultNodeName();
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const watch = stoppableWatch(k8s, kc);
  const log: ClusterLog = options.log ?? (() => {});
  const coalesceMs = options.coalesceMs ?? 50;
  const retryMs = options.retryMs ?? 500;
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  const fieldSelector = `spec.nodeName=${nodeName}`;

  const resources = {
    pods: {
      name: 'pods',
      path: '/api/v1/pods',
      list: () => api.listPodForAllNamespaces({ fieldSelector }),
      fieldSelector,
    } satisfies Resource<V1Pod>,
    namespaces: {
      name: 'namespaces',
      path: '/api/v1/namespaces',
      list: () => api.listNamespace(),
    } satisfies Resource<V1Namespace>,
    services: {
      name: 'services',
      path: '/api/v1/services',
      list: () => api.listServiceForAllNamespaces(),
    } satisfies Resource<V1Service>,
  };

  const pods = new Map<string, V1Pod>();
  const namespaces = new Map<string, V1Namespace>();
  const services = new Map<string, Map<string, V1Service>>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const synced = new Set<string>();
  const emit = () => {
    timer = undefined;
    if (stopped || synced.size < 3) return;
    subscriber.next({
      nodeName,
      pods: new Map(pods),
      namespaces: new Map(namespaces),
      services: new Map([...services].map(([ns, m]) => [ns, [...m.values()]])),
    });
  };
  const changed = () => {
    if (!timer && !stopped) timer = setTimeout(emit, coalesceMs);
  };

  const informers: Array<{ stop(): Promise<void> }> = [];
  const retries = new Set<NodeJS.Timeout>();

  const run = <T extends KubernetesObject>(
    r: Resource<T>,
    onAdd: (o: T) => void,
    onDelete: (o: T) => void,
  ) => {
    const informer = new k8s.ListWatch<T>(r.path, watch, r.list, false, undefined, r.fieldSelector);
    informers.push(informer);
    let delay = retryMs;
    let down: string | undefined;
    const upsert = (o: T) => {
      onAdd(o);
      changed();
    };
    informer.on('add', upsert);
    informer.on('update', upsert);
    informer.on('delete', (o) => {
      onDelete(o);
      changed();
    });
    /** Its first list is in: the state can be emitted once every resource's is. */
    const markListed = () => {
      if (synced.has(r.name) || informer.latestResourceVersion() === '') return;
      synced.add(r.name);
      changed();
    };
    let errored = false;
    const start = async () => {
      errored = false;
      await informer.start(); // resolves once listed and watching, or after an error
      // Stopped while the list or the watch was being set up: stop() had nothing to abort then.
      if (stopped) {
        void informer.stop();
        return;
      }
      if (errored || informer.latestResourceVersion() === '') return;
      if (down !== undefined) {
        log('info', `Kubernetes API: watching ${r.name} again`);
        down = undefined;
      }
      delay = retryMs;
      markListed();
    };
    informer.on('error', (err?: unknown) => {
      errored = true;
      if (stopped) return;
      const why = describe(err);
      const status = statusOf(err);
      if (down !== why) {
        // One line per outage (and per change of reason), never one per retry.
        down = why;
        if (status === 401 || status === 403)
          log(
            'error',
            `Kubernetes API refused to list and watch ${r.name} (${why}): the tracer's service account needs get, list and watch on ${r.name}`,
          );
        else
          log(
            'warn',
            `Kubernetes API: watching ${r.name} failed (${why}); retrying, the last known ${r.name} stay in force`,
          );
      }
      // A list that worked before the watch failed still counts: its objects are known.
      markListed();
      const t = setTimeout(
        () => {
          retries.delete(t);
          if (!stopped) void start();
        },
        delay * (0.75 + Math.random() * 0.5),
      );
      retries.add(t);
      delay = Math.min(delay * 2, maxRetryMs);
    });
    void start();
    return informer;
  };

  // The informer knows pods by namespace/name: a pod recreated under its name while no watch
  // ran comes back as an update with another UID, and the old UID must go.
  const podUids = new Map<string, string>();
  const podKey = (p: V1Pod) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
  run(
    resources.pods,
    (p) => {
      const uid = p.metadata?.uid;
      if (!uid) return;
      const before = podUids.get(podKey(p));
      if (before !== undefined && before !== uid) pods.delete(before);
      podUids.set(podKey(p), uid);
      pods.set(uid, p);
    },
    (p) => {
      const uid = podUids.get(podKey(p)) ?? p.metadata?.uid;
      podUids.delete(podKey(p));
      if (uid) pods.delete(uid);
    },
  );
  run(
    resources.namespaces,
    (n) => {
      const name = n.metadata?.name;
      if (name) namespaces.set(name, n);
    },
    (n) => {
      const name = n.metadata?.name;
      if (name) namespaces.delete(name);
    },
  );
  run(
    resources.services,
    (s) => {
      const ns = s.metadata?.namespace ?? '';
      const name = s.metadata?.name ?? '';
      let m = services.get(ns);
      if (!m) services.set(ns, (m = new Map()));
      m.set(name, s);
    },
    (s) => services.get(s.metadata?.namespace ?? '')?.delete(s.metadata?.name ?? ''),
  );

  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    for (const t of retries) clearTimeout(t);
    for (const i of informers) void i.stop();
    watch.stop();
  };
}

/** A client-node `Watch` that {@link stoppableWatch} made: `stop()` ends all it opened. */
type StoppableWatch = InstanceType<KubernetesClient['Watch']> & { stop(): void };

/**
 * client-node's `Watch`, able to be stopped as a whole. A `ListWatch` re-watches by itself when
 * a watch ends normally (the API server's timeout, a restart), and its `stop()` can only abort
 * the request it already holds: one stopped while that re-watch is in flight would get a live
 * watch afterwards, whose socket keeps the process from exiting. This one's `stop()` aborts
 * every open watch, and any that opens after it.
 */
function stoppableWatch(k8s: KubernetesClient, kc: KubeConfig): StoppableWatch {
  const open = new Set<AbortController>();
  let stopped = false;
  class Stoppable extends k8s.Watch {
    override async watch(
      ...[path, queryParams, callback, done]: Parameters<
        InstanceType<KubernetesClient['Watch']>['watch']
      >
    ): Promise<AbortController> {
      // `done` may come before `watch` returns (a refused request): then nothing is kept.
      const self: { controller?: AbortController; ended?: boolean } = {};
      const onDone = (err: unknown) => {
        self.ended = true;
        if (self.controller) open.delete(self.controller);
        done(err);
      };
      const controller = await super.watch(path, queryParams, callback, onDone);
      if (stopped) controller.abort();
      else if (!self.ended) open.add((self.controller = controller));
      return controller;
    }

    stop(): void {
      stopped = true;
      for (const c of open) c.abort();
      open.clear();
    }
  }
  return new Stoppable(kc);
}
