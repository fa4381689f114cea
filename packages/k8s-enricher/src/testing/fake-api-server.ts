/**
 * A small Kubernetes API server for tests (`@traceable-ebpf/k8s-enricher/testing`) speaking the
 * list/watch protocol for pods, namespaces and services — resourceVersion, field selectors on
 * `spec.nodeName`, bookmarks, 410 Gone for a version it no longer has, 401/403 on demand, and a
 * restart that forgets every watch. Driven in tests by the real `@kubernetes/client-node`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';

type Kind = 'pods' | 'namespaces' | 'services';
const LIST_KIND: Record<Kind, string> = {
  pods: 'PodList',
  namespaces: 'NamespaceList',
  services: 'ServiceList',
};
const OBJECT_KIND: Record<Kind, string> = {
  pods: 'Pod',
  namespaces: 'Namespace',
  services: 'Service',
};

/** Any object of the three kinds (the API's JSON). */
export interface FakeObject {
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string } & Record<
    string,
    unknown
  >;
  [key: string]: unknown;
}

interface Event {
  readonly rv: number;
  readonly kind: Kind;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: FakeObject;
}

interface Watcher {
  readonly kind: Kind;
  readonly node: string | undefined;
  readonly res: ServerResponse;
}

/** The fake API server. */
export class FakeApiServer {
  private server: Server | undefined;
  private rv = 100;
  private readonly objects: Record<Kind, Map<string, FakeObject>> = {
    pods: new Map(),
    namespaces: new Map(),
    services: new Map(),
  };
  /** Events kept for watches from an old version; older ones answer 410 Gone. */
  private events: Event[] = [];
  private readonly watchers = new Set<Watcher>();
  /** Status answered to every request of a kind (401, 403, 500), until cleared. */
  readonly refuse = new Map<Kind, number>();
  /** Requests seen, as `GET /api/v1/pods?watch=true…`. */
  readonly requests: string[] = [];
  /** Kinds whose requests wait, unanswered, until {@link release}. */
  private readonly holding = new Set<Kind>();
  private readonly heldRequests: Array<() => void> = [];
  port = 0;

  /** Starts listening (on `port`, or a free one the first time). */
  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops: every watch connection is cut, as when an API server restarts. */
  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** A restarted server: it has lost its event history too (every old version is gone). */
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    this.events = [];
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  /** Writes a kubeconfig pointing at the server; returns its path. */
  writeKubeconfig(path: string): string {
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake\n  cluster:\n    server: http://127.0.0.1:${this.port}\n    insecure-skip-tls-verify: true`,
        'users:',
        '- name: fake\n  user:\n    token: fake-token',
        'contexts:',
        '- name: fake\n  context:\n    cluster: fake\n    user: fake',
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return path;
  }

  /** Creates or replaces an object; watchers see ADDED or MODIFIED. */
  put(kind: Kind, object: FakeObject): void {
    const key = this.key(object);
    const type = this.objects[kind].has(key) ? 'MODIFIED' : 'ADDED';
    this.record(kind, type, object);
  }

  /** Deletes an object; watchers see DELETED. */
  delete(kind: Kind, name: string, namespace?: string): void {
    const key = namespace ? `${namespace}/${name}` : name;
    const object = this.objects[kind].get(key);
    if (object) this.record(kind, 'DELETED', object);
  }

  /**
   * Sends a BOOKMARK with the current version to every watcher (a real API server sends them to
   * watches that ask; client-node's ListWatch takes one whether it asked or not).
   */
  bookmark(): void {
    for (const w of this.watchers)
      w.res.write(
        `${JSON.stringify({
          type: 'BOOKMARK',
          object: { kind: OBJECT_KIND[w.kind], metadata: { resourceVersion: String(this.rv) } },
        })}\n`,
      );
  }

  /** Forgets the event history: a watch from any earlier version gets 410 Gone. */
  compact(): void {
    this.events = [];
  }

  /** Ends every open watch normally (as the API server's watch timeout does). */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /**
   * Holds every later request of a kind unanswered (a slow API server), so a test can act while
   * a client's list or watch is in flight.
   */
  hold(kind: Kind): void {
    this.holding.add(kind);
  }

  /** Requests held by {@link hold} and not yet answered. */
  get held(): number {
    return this.heldRequests.length;
  }

  /** Stops holding and answers every held request. */
  release(): void {
    this.holding.clear();
    for (const answer of this.heldRequests.splice(0)) answer();
  }

  /** Watch connections open now. */
  get openWatches(): number {
    return this.watchers.size;
  }

  private key(o: FakeObject): string {
    return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
  }

  private record(kind: Kind, type: Event['type'], object: FakeObject): void {
    const rv = ++this.rv;
    const stored: FakeObject = {
      ...object,
      kind: OBJECT_KIND[kind],
      apiVersion: 'v1',
      metadata: { ...object.metadata, resourceVersion: String(rv) },
    };
    if (type === 'DELETED') this.objects[kind].delete(this.key(object));
    else this.objects[kind].set(this.key(object), stored);
    const ev: Event = { rv, kind, type, object: stored };
    this.events.push(ev);
    for (const w of this.watchers) this.send(w, ev);
  }

  private visible(node: string | undefined, o: FakeObject): boolean {
    return (
      node === undefined || (o['spec'] as { nodeName?: string } | undefined)?.nodeName === node
    );
  }

  private send(w: Watcher, ev: Event): void {
    if (ev.kind !== w.kind || !this.visible(w.node, ev.object)) return;
    w.res.write(`${JSON.stringify({ type: ev.type, object: ev.object })}\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/api\/v1\/(pods|namespaces|services)$/.exec(url.pathname);
    if (!m || req.method !== 'GET') {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"kind":"Status","code":404}');
      return;
    }
    const kind = m[1] as Kind;
    if (this.holding.has(kind)) {
      this.heldRequests.push(() => this.answer(kind, url, res));
      return;
    }
    this.answer(kind, url, res);
  }

  private answer(kind: Kind, url: URL, res: ServerResponse): void {
    if (res.destroyed) return;
    const refused = this.refuse.get(kind);
    if (refused !== undefined) {
      res
        .writeHead(refused, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: refused }),
        );
      return;
    }
    const selector = url.searchParams.get('fieldSelector') ?? '';
    const node = /^spec\.nodeName=(.*)$/.exec(selector)?.[1];
    if (url.searchParams.get('watch') === 'true') {
      const from = Number(url.searchParams.get('resourceVersion') ?? '0');
      const oldest = this.events[0]?.rv ?? this.rv + 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (from < oldest - 1 && from !== this.rv) {
        // The version is older than the history kept: the watch ends with 410 Gone.
        res.end(
          `${JSON.stringify({
            type: 'ERROR',
            object: {
              kind: 'Status',
              apiVersion: 'v1',
              status: 'Failure',
              code: 410,
              reason: 'Expired',
            },
          })}\n`,
        );
        return;
      }
      res.flushHeaders(); // as the API server does: a watch's headers come at once
      const w: Watcher = { kind, node, res };
      this.watchers.add(w);
      res.on('close', () => this.watchers.delete(w));
      for (const ev of this.events) if (ev.rv > from) this.send(w, ev);
      return;
    }
    const items = [...this.objects[kind].values()].filter((o) => this.visible(node, o));
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        kind: LIST_KIND[kind],
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv) },
        items,
      }),
    );
  }
}
