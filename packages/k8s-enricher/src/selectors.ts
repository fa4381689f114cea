/**
 * Kubernetes label and field selectors, parsed once and matched against objects: the syntax
 * `kubectl` and the API server accept (`app=web,tier!=db`, `env in (a,b)`, `!canary`,
 * `metadata.namespace=shop`).
 */
import { ErrorCode, TracerError } from '@traceable-ebpf/core';

/** One requirement of a selector. */
type Requirement =
  | { readonly key: string; readonly op: 'in' | 'notin'; readonly values: ReadonlySet<string> }
  | { readonly key: string; readonly op: 'exists' | 'doesnotexist' };

/** A parsed selector: every requirement must hold (an empty one matches everything). */
export interface Selector {
  /** The text it was parsed from. */
  readonly text: string;
  readonly requirements: readonly Requirement[];
}

/** A label key or value (qualified names, loosely: what the API server could have stored). */
const NAME = /^[A-Za-z0-9]([A-Za-z0-9_.\-/]*[A-Za-z0-9])?$/;

/** Splits at commas outside parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

function bad(kind: string, text: string, why: string): TracerError {
  return new TracerError(ErrorCode.Config, `${kind} selector '${text}': ${why}`);
}

function checkName(kind: string, text: string, name: string, what: string): string {
  if (!NAME.test(name)) throw bad(kind, text, `bad ${what} '${name}'`);
  return name;
}

/**
 * Parses a label selector (equality- and set-based). Throws a one-line config error naming the
 * selector when it can't be parsed.
 */
export function parseLabelSelector(text: string): Selector {
  const requirements: Requirement[] = [];
  for (const part of splitTop(text)) {
    const set = /^(!?)\s*([^\s!=()]+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
    if (set) {
      if (set[1]) throw bad('label', text, `'!' before a set requirement`);
      const values = set[4]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v.length > 0);
      if (values.length === 0) throw bad('label', text, `empty set in '${part}'`);
      for (const v of values) checkName('label', text, v, 'value');
      requirements.push({
        key: checkName('label', text, set[2]!, 'key'),
        op: set[3] as 'in' | 'notin',
        values: new Set(values),
      });
      continue;
    }
    const eq = /^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (eq) {
      const key = checkName('label', text, eq[1]!, 'key');
      if (eq[3] !== '') checkName('label', text, eq[3]!, 'value');
      requirements.push({ key, op: eq[2] === '!=' ? 'notin' : 'in', values: new Set([eq[3]!]) });
      continue;
    }
    const exists = /^(!?)\s*([^\s!=()]+)$/.exec(part);
    if (exists) {
      requirements.push({
        key: checkName('label', text, exists[2]!, 'key'),
        op: exists[1] ? 'doesnotexist' : 'exists',
      });
      continue;
    }
    throw bad('label', text, `cannot parse '${part}'`);
  }
  return { text, requirements };
}

/** The fields a field selector may name, as the API server allows them for pods. */
const POD_FIELDS = new Set([
  'metadata.name',
  'metadata.namespace',
  'spec.nodeName',
  'spec.serviceAccountName',
  'spec.restartPolicy',
  'spec.schedulerName',
  'spec.hostNetwork',
  'status.phase',
  'status.podIP',
  'status.nominatedNodeName',
]);

/**
 * Parses a field selector (`field=value`, `field==value`, `field!=value`, comma-separated) over
 * the fields the API server supports for pods. Throws a one-line config error naming the
 * selector otherwise.
 */
export function parseFieldSelector(text: string): Selector {
  const requirements: Requirement[] = [];
  for (const part of splitTop(text)) {
    const eq = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!eq) throw bad('field', text, `cannot parse '${part}'`);
    const key = eq[1]!;
    if (!POD_FIELDS.has(key))
      throw bad('field', text, `'${key}' is not a pod field (${[...POD_FIELDS].join(', ')})`);
    requirements.push({
      key,
      op: eq[2] === '!=' ? 'notin' : 'in',
      values: new Set([eq[3]!.trim()]),
    });
  }
  return { text, requirements };
}

/** True when `lookup` (a key's value, or undefined when absent) satisfies every requirement. */
export function matches(selector: Selector, lookup: (key: string) => string | undefined): boolean {
  for (const r of selector.requirements) {
    const v = lookup(r.key);
    switch (r.op) {
      case 'exists':
        if (v === undefined) return false;
        break;
      case 'doesnotexist':
        if (v !== undefined) return false;
        break;
      case 'in':
        if (v === undefined || !r.values.has(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.has(v)) return false;
        break;
    }
  }
  return true;
}
