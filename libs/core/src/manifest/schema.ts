/**
 * A small schema language, written as code, for validating a parsed YAML document while keeping
 * the source position of every value.
 *
 * A `Check<T>` looks at one YAML node and either returns the validated value or records problems
 * in the context and returns `undefined`. Checks never throw and never stop at the first problem:
 * an object check runs every field check, reports every unknown key, and only then gives up, so
 * one run reports everything that is wrong with a document.
 *
 * Each problem carries the field path (`require[1].version`) and the 1-based line and column of
 * the offending node (of the map itself when a required key is missing, of the key when a key is
 * unknown). Null values (`files:` with nothing after it) count as absent.
 */
import { editDistance } from '../util/edit-distance';
import { excerpt } from '../util/excerpt';
import { isAlias, isMap, isScalar, isSeq, LineCounter } from 'yaml';
import type { Node, Pair, YAMLMap } from 'yaml';
import { MANIFEST_MAX_STRING_CHARS } from './limits';

export interface ManifestProblem {
  /** Field path such as `require[1].version` or `platform.arch`; '' for the document itself. */
  path: string;
  line: number;
  column: number;
  message: string;
}

/** Longest problem message kept (the safety net under the excerpts quoted in each message). */
const MAX_MESSAGE_CHARS = 300;

export class Ctx {
  readonly problems: ManifestProblem[] = [];
  constructor(
    readonly text: string,
    readonly lines: LineCounter,
  ) {}

  /** Records a problem at `node` (its start), or at offset 0 when there is no node. */
  report(node: Node | null | undefined, path: string, message: string): void {
    const offset = node?.range ? node.range[0] : 0;
    this.reportAt(offset, path, message);
  }

  reportAt(offset: number, path: string, message: string): void {
    const { line, col } = this.lines.linePos(offset);
    const text = message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message;
    this.problems.push({ path, line: Math.max(line, 1), column: col, message: text });
  }

  /** A short excerpt of the source text of a node, for hints like `quote it: "0644"`. */
  source(node: Node): string {
    return node.range ? excerpt(this.text.slice(node.range[0], node.range[1])) : '';
  }

  /**
   * Aliases never reach the schema (readBoundedYaml refuses them before composing); should one
   * get here anyway it is reported, not followed.
   */
  deref(node: Node, path: string): Node | undefined {
    if (!isAlias(node)) return node;
    this.report(node, path, 'YAML aliases are not supported in manifests; write the value out');
    return undefined;
  }
}

export type Check<T> = (node: Node, path: string, ctx: Ctx) => T | undefined;

/** True for a missing value: no node at all, or an explicit YAML null (`key:` or `key: null`). */
export function isNullish(node: Node | null | undefined): node is null | undefined {
  return node == null || (isScalar(node) && node.value === null);
}

/** `a.b`, `a["x.y"]`, `a[2]`: appends a key to a field path the way a person would write it (top-level keys bare). */
export function keyPath(path: string, key: string): string {
  const k = excerpt(key);
  if (path === '') return k;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) return `${path}.${k}`;
  return `${path}[${JSON.stringify(k)}]`;
}

// ---- scalars ---------------------------------------------------------------------------------

/** Describes a non-string scalar so the message can say what was found. */
function describe(node: Node, ctx: Ctx): string {
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    if (node.value === null) return 'null';
    if (typeof node.value === 'number' || typeof node.value === 'bigint') return `the number ${ctx.source(node)}`;
    if (typeof node.value === 'boolean') return `the boolean ${ctx.source(node)}`;
    if (node.value instanceof Uint8Array) return 'binary data';
  }
  return `'${ctx.source(node)}'`;
}

/**
 * A string of at most `maxChars` characters, optionally tested by `rule` (returns a problem
 * description or undefined). Numbers and booleans are rejected with a hint to quote them, since
 * YAML turns `0644` into 644 and `1.10` into 1.1 before anyone can see the original text.
 */
export function str(rule?: (s: string) => string | undefined, maxChars = MANIFEST_MAX_STRING_CHARS): Check<string> {
  return (node, path, ctx) => {
    if (!isScalar(node) || typeof node.value !== 'string') {
      const scalarish = isScalar(node) && node.value !== null && typeof node.value !== 'object';
      const hint = scalarish ? `; quote it: "${ctx.source(node)}"` : '';
      ctx.report(node, path, `must be a string, found ${describe(node, ctx)}${hint}`);
      return undefined;
    }
    if (node.value.length > maxChars) {
      ctx.report(
        node,
        path,
        `is ${node.value.length} characters long, over the ${maxChars}-character limit; shorten it`,
      );
      return undefined;
    }
    const problem = rule?.(node.value);
    if (problem !== undefined) {
      ctx.report(node, path, problem);
      return undefined;
    }
    return node.value;
  };
}

/** A string matching `re`; `what` completes "must be ..." in the message. */
export function pattern(re: RegExp, what: string): Check<string> {
  return str((s) => (re.test(s) ? undefined : `'${excerpt(s)}' must be ${what}`));
}

/** Exactly one of `values`. */
export function oneOf<const T extends string>(values: readonly T[]): Check<T> {
  const list = values.map((v) => `'${v}'`).join(', ');
  return str((s) =>
    (values as readonly string[]).includes(s)
      ? undefined
      : `'${excerpt(s)}' is not supported; use ${values.length === 1 ? list : `one of ${list}`}`,
  ) as Check<T>;
}

// ---- collections -----------------------------------------------------------------------------

export interface ListOptions {
  /** Shown in "must be a list, e.g. ..." */
  example?: string;
  /** Items are maps whose value under this key must be unique across the list. */
  uniqueKey?: string;
  /** What to do about a duplicate, e.g. "merge the two entries into one". */
  duplicateHint?: string;
}

/** A list whose every item passes `item`; invalid items are reported and left out. */
export function listOf<T>(item: Check<T>, opts: ListOptions = {}): Check<T[]> {
  return (node, path, ctx) => {
    if (!isSeq(node)) {
      ctx.report(
        node,
        path,
        `must be a list${opts.example ? `, e.g. ${opts.example}` : ''}, found ${describe(node, ctx)}`,
      );
      return undefined;
    }
    const out: T[] = [];
    const firstLine = new Map<string, number>();
    let ok = true;
    node.items.forEach((raw, i) => {
      const itemPath = `${path}[${i}]`;
      const child = ctx.deref(raw as Node, itemPath);
      if (child === undefined) return void (ok = false);
      if (isNullish(child)) {
        ctx.report(child ?? node, itemPath, 'must not be empty');
        ok = false;
        return;
      }
      const v = item(child, itemPath, ctx);
      if (v === undefined) return void (ok = false);
      out.push(v);
      if (opts.uniqueKey !== undefined && isMap(child)) {
        const key = String((v as Record<string, unknown>)[opts.uniqueKey]);
        const at = valueNode(child, opts.uniqueKey);
        const line = at?.range ? ctx.lines.linePos(at.range[0]).line : 0;
        const first = firstLine.get(key);
        if (first === undefined) firstLine.set(key, line);
        else {
          ctx.report(
            at,
            keyPath(itemPath, opts.uniqueKey),
            `duplicate ${opts.uniqueKey} '${excerpt(key)}' (first at line ${first}); ${opts.duplicateHint ?? 'keep one'}`,
          );
          ok = false;
        }
      }
    });
    return ok ? out : undefined;
  };
}

/** Passes a valid value through `f` (normalization such as padding a file mode). */
export function mapped<A, B>(check: Check<A>, f: (a: A) => B): Check<B> {
  return (node, path, ctx) => {
    const v = check(node, path, ctx);
    return v === undefined ? undefined : f(v);
  };
}

/** The key/value pairs of a map, keys checked to be plain strings; reports non-string keys. */
function pairs(
  node: YAMLMap,
  path: string,
  ctx: Ctx,
): { ok: boolean; items: Array<{ key: string; keyNode: Node; pair: Pair }> } {
  const items: Array<{ key: string; keyNode: Node; pair: Pair }> = [];
  const firstKey = new Map<string, Node>();
  let ok = true;
  for (const pair of node.items as Pair[]) {
    const keyNode = pair.key as Node | null;
    if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
      const problem =
        keyNode && isScalar(keyNode)
          ? `key ${ctx.source(keyNode)} must be a string; quote it`
          : 'keys must be plain strings, not lists or maps';
      ctx.report(keyNode ?? node, path, problem);
      ok = false;
      continue;
    }
    const dup = firstKey.get(keyNode.value);
    if (dup) {
      const first = ctx.lines.linePos(dup.range![0]).line;
      ctx.report(
        keyNode,
        keyPath(path, keyNode.value),
        `duplicate key '${excerpt(keyNode.value)}' (first at line ${first}); keep one`,
      );
      ok = false;
      continue;
    }
    firstKey.set(keyNode.value, keyNode);
    items.push({ key: keyNode.value, keyNode, pair });
  }
  return { ok, items };
}

/** A map from keys passing `keyRule` to values passing `value` (env, labels). */
export function mapOf<T>(keyRule: (k: string) => string | undefined, value: Check<T>): Check<Record<string, T>> {
  return (node, path, ctx) => {
    if (!isMap(node)) {
      ctx.report(node, path, `must be a map of strings, found ${describe(node, ctx)}`);
      return undefined;
    }
    const out: Record<string, T> = {};
    const { ok: keysOk, items } = pairs(node, path, ctx);
    let ok = keysOk;
    for (const { key, keyNode, pair } of items) {
      const p = keyPath(path, key);
      const problem = keyRule(key);
      if (problem !== undefined) {
        ctx.report(keyNode, p, problem);
        ok = false;
        continue;
      }
      const v = fieldValue(pair, keyNode, p, value, ctx);
      if (v === undefined) ok = false;
      else out[key] = v;
    }
    return ok ? out : undefined;
  };
}

function fieldValue<T>(pair: Pair, keyNode: Node, path: string, check: Check<T>, ctx: Ctx): T | undefined {
  const raw = pair.value as Node | null;
  const node = raw === null ? null : ctx.deref(raw, path);
  if (node === undefined) return undefined;
  if (isNullish(node)) {
    ctx.report(raw ?? keyNode, path, 'must have a value');
    return undefined;
  }
  return check(node, path, ctx);
}

// ---- objects ---------------------------------------------------------------------------------

/** How an object treats one of its fields. */
export interface Field<T, K extends 'required' | 'optional' | 'default' = 'required' | 'optional' | 'default'> {
  kind: K;
  check: Check<T>;
  fallback?: () => T;
  hint?: string;
}
/** Must be present; `hint` is appended to "is required" (e.g. "; use 'scratch' for an empty base"). */
export const required = <T>(check: Check<T>, hint?: string): Field<T, 'required'> => ({
  kind: 'required',
  check,
  hint,
});
export const optional = <T>(check: Check<T>): Field<T, 'optional'> => ({ kind: 'optional', check });
/** When absent, the field takes the value `fallback()` returns. */
export const withDefault = <T>(check: Check<T>, fallback: () => T): Field<T, 'default'> => ({
  kind: 'default',
  check,
  fallback,
});

type Fields = Record<string, Field<unknown>>;
type Out<F extends Field<unknown>> = F extends Field<infer T> ? T : never;
export type ObjectOf<S extends Fields> = {
  [K in keyof S as S[K]['kind'] extends 'optional' ? never : K]: Out<S[K]>;
} & {
  [K in keyof S as S[K]['kind'] extends 'optional' ? K : never]?: Out<S[K]>;
};

/** Reports an unknown key, suggesting the allowed key it most likely misspells. */
function reportUnknown(key: string, keyNode: Node, path: string, allowed: string[], ctx: Ctx): void {
  const guess = closest(key, allowed);
  const hint = guess ? `did you mean '${guess}'?` : `allowed keys: ${allowed.join(', ')}`;
  ctx.report(keyNode, keyPath(path, key), `unknown key '${excerpt(key)}'; ${hint}`);
}

/**
 * A map with exactly the keys in `fields`. `refine` runs on a fully valid object for rules that
 * span fields; it gets the map node so it can place its problems (see {@link valueNode}).
 */
export function object<S extends Fields>(
  fields: S,
  refine?: (value: ObjectOf<S>, node: YAMLMap, path: string, ctx: Ctx) => boolean,
): Check<ObjectOf<S>> {
  const allowed = Object.keys(fields);
  return (node, path, ctx) => {
    if (!isMap(node)) {
      ctx.report(node, path, `must be a map with keys ${allowed.join(', ')}; found ${describe(node, ctx)}`);
      return undefined;
    }
    const out: Record<string, unknown> = {};
    const seen = new Map<string, Pair>();
    const { ok: keysOk, items } = pairs(node, path, ctx);
    let ok = keysOk;
    for (const { key, keyNode, pair } of items) {
      if (!Object.prototype.hasOwnProperty.call(fields, key)) {
        reportUnknown(key, keyNode, path, allowed, ctx);
        ok = false;
        continue;
      }
      seen.set(key, pair);
    }
    for (const [key, field] of Object.entries(fields)) {
      const p = keyPath(path, key);
      const pair = seen.get(key);
      const raw = pair ? (pair.value as Node | null) : null;
      const child = raw === null ? null : ctx.deref(raw, p);
      if (child === undefined) {
        ok = false;
      } else if (isNullish(child)) {
        if (field.kind === 'required') {
          ctx.report(raw ?? node, p, `is required${field.hint ?? ''}`);
          ok = false;
        } else if (field.kind === 'default') {
          out[key] = field.fallback!();
        }
      } else {
        const v = field.check(child, p, ctx);
        if (v === undefined) ok = false;
        else out[key] = v;
      }
    }
    if (!ok) return undefined;
    const value = out as ObjectOf<S>;
    return !refine || refine(value, node, path, ctx) ? value : undefined;
  };
}

/** The value node under `key` in `map` (aliases not followed), for placing cross-field problems. */
export function valueNode(map: YAMLMap, key: string): Node | undefined {
  const pair = (map.items as Pair[]).find((p) => isScalar(p.key) && p.key.value === key);
  return (pair?.value as Node | null) ?? undefined;
}

// ---- suggestions -----------------------------------------------------------------------------

/** The allowed key a typo most likely meant: same letters ignoring case and `_`/`-`, or a close edit. */
export function closest(key: string, allowed: string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const same = allowed.find((a) => norm(a) === norm(key));
  if (same) return same;
  let best: string | undefined;
  let bestDist = Infinity;
  for (const a of allowed) {
    const d = editDistance(norm(key), norm(a));
    if (d < bestDist) [best, bestDist] = [a, d];
  }
  const limit = Math.max(1, Math.min(3, Math.floor(key.length / 3)));
  return bestDist <= limit ? best : undefined;
}
