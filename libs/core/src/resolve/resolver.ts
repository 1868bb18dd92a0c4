/**
 * `resolve`: from requirements, a runtime profile and a catalog to the fragments to install, in
 * install order. The search is PubGrub (solver.ts) over the fitting variants (problem.ts); a
 * failure is explained sentence by sentence (report.ts); the order is topological (order.ts).
 */
import { LseError } from '../errors';
import type { Fragment, Platform, RelationAtom, Requirement } from '../model';
import { formatRelation } from '../version';
import { BaseCatalog, baseOf, type BaseContents } from './base';
import { atomMatches, type Catalog } from './catalog';
import type { VariantPreference } from './negotiate';
import { installOrder } from './order';
import { Problem } from './problem';
import { Reporter } from './report';
import { Solver } from './solver';

export interface ResolveInput {
  requirements: Requirement[];
  platform: Platform;
  catalog: Catalog;
  /** Newest version first (default true); false prefers the oldest that works. */
  preferNewest?: boolean;
  /** How explanations name the requester, e.g. the manifest name (default 'the manifest'). */
  rootLabel?: string;
  /** Packages the base already holds: they satisfy dependencies and are not shipped (base.ts). */
  base?: BaseContents;
}

export interface ResolveResult {
  /** Install order: every fragment after its (pre-)dependencies. Base packages are not among them. */
  fragments: Fragment[];
  /**
   * Base packages that satisfied a requirement or a dependency of a shipped fragment, by name
   * (empty without `base`).
   */
  satisfiedByBase: { name: string; version: string }[];
}

/**
 * Throws LseError UNSATISFIABLE (or NO_VARIANT when a fragment exists but none of its variants runs
 * on the platform) with a multi-line explanation in the message and `details.chain` (its lines).
 */
export function resolve(input: ResolveInput): ResolveResult {
  const prefs = new Map<string, VariantPreference>();
  for (const r of input.requirements) if (r.prefer && !prefs.has(r.name)) prefs.set(r.name, r.prefer);
  const label = input.rootLabel ?? 'the manifest';
  const base = input.base?.packages.length ? new BaseCatalog(input.catalog, input.base) : undefined;
  const problem = new Problem(base ?? input.catalog, input.platform, input.preferNewest ?? true, prefs, label);
  const initial = [
    ...(base ? problem.baseIncompats(base.fragments) : []),
    ...problem.requirementIncompats(input.requirements),
  ];
  const outcome = new Solver(problem).solve(initial);
  if (!outcome.ok) {
    const chain = new Reporter(problem).report(outcome.failure);
    const notes = Reporter.externals(outcome.failure).flatMap((inc) =>
      inc.cause.kind === 'require' || inc.cause.kind === 'depends' ? inc.cause.notes : [],
    );
    const variant = notes.some((n) => n.kind === 'variant');
    const unknown = notes.filter((n) => n.kind === 'unknown').map((n) => n.text);
    const regions = [...new Set(notes.flatMap((n) => n.regions ?? []))].sort();
    const { os, arch, variant: level, libc, region } = input.platform;
    const where = [os, arch, level, libc].filter(Boolean).join('/') + (region ? ` in region ${region}` : '');
    const head = variant
      ? `no fitting variant for runtime ${where}:`
      : `the requirements cannot be satisfied on ${where}:`;
    const hint = regions.length
      ? [
          `variants exist only for region${regions.length > 1 ? 's' : ''} ${regions.join(', ')}: run in one of them, or list one in regionFallback (--region-fallback)`,
        ]
      : [];
    throw new LseError(
      variant ? 'NO_VARIANT' : 'UNSATISFIABLE',
      [head, ...chain.map((l) => `  ${l}`), ...hint].join('\n'),
      {
        chain,
        platform: input.platform,
        ...(regions.length ? { regions } : {}),
        requirements: input.requirements.map((r) =>
          formatRelation([{ name: r.name, ...(r.version ? { constraint: r.version } : {}) }]),
        ),
        ...(unknown.length ? { unknown } : {}),
        ...(base ? { base: base.base.label } : {}),
      },
    );
  }
  const selected = [...outcome.decisions].map(([pkg, c]) => problem.pkgs[pkg]!.candidates[c]!);
  check(selected, input.requirements);
  const shipped = selected.filter((f) => baseOf(f) === undefined);
  return {
    fragments: installOrder(shipped),
    satisfiedByBase: base ? usedFromBase(base, shipped, input.requirements) : [],
  };
}

/**
 * The base packages that match an alternative of a requirement or of a (pre-)dependency of a
 * shipped fragment, and the base packages they depend on in turn; sorted by name.
 */
function usedFromBase(
  base: BaseCatalog,
  shipped: readonly Fragment[],
  reqs: readonly Requirement[],
): { name: string; version: string }[] {
  const byName = new Map<string, Fragment[]>();
  for (const g of base.fragments) {
    for (const n of new Set([g.descriptor.name, ...g.descriptor.provides.map((p) => p.name)]))
      byName.set(n, [...(byName.get(n) ?? []), g]);
  }
  const used = new Set<Fragment>();
  const pending: Fragment[] = [];
  const mark = (atom: RelationAtom) => {
    for (const g of byName.get(atom.name) ?? []) {
      if (used.has(g) || !safeMatch(atom, g)) continue;
      used.add(g);
      pending.push(g);
    }
  };
  for (const r of reqs) mark(r.version ? { name: r.name, constraint: r.version } : { name: r.name });
  for (const f of shipped) for (const rel of [...f.descriptor.preDepends, ...f.descriptor.depends]) rel.forEach(mark);
  for (let g = pending.pop(); g; g = pending.pop())
    for (const rel of base.dependsOf(g.descriptor.name)) rel.forEach(mark);
  return [...used]
    .map((g) => ({ name: g.descriptor.name, version: g.descriptor.version }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function safeMatch(atom: RelationAtom, f: Fragment): boolean {
  try {
    return atomMatches(atom, f);
  } catch {
    return false; // an unreadable constraint in a base package's own depends: informational only
  }
}

/** Defence in depth: the selection must satisfy every relation it promises to. */
function check(selected: readonly Fragment[], reqs: readonly Requirement[]): void {
  const fail = (what: string): never => {
    throw new LseError(
      'INTERNAL',
      `resolver produced an inconsistent selection (${what}); please report this with the catalog`,
    );
  };
  const byName = new Map<string, Fragment[]>();
  for (const g of selected) {
    for (const n of new Set([g.descriptor.name, ...g.descriptor.provides.map((p) => p.name)]))
      byName.set(n, [...(byName.get(n) ?? []), g]);
  }
  const hits = (atom: RelationAtom): Fragment[] => (byName.get(atom.name) ?? []).filter((g) => atomMatches(atom, g));
  for (const r of reqs) {
    if (hits(r.version ? { name: r.name, constraint: r.version } : { name: r.name }).length === 0)
      fail(`requirement ${r.name}`);
  }
  for (const f of selected) {
    const d = f.descriptor;
    for (const rel of [...d.depends, ...d.preDepends])
      if (!rel.some((a) => hits(a).length > 0)) fail(`${d.name} ${d.version} needs ${formatRelation(rel)}`);
    for (const a of [...d.conflicts, ...d.breaks].flat()) {
      if (hits(a).some((g) => g !== f && g.descriptor.name !== d.name))
        fail(`${d.name} ${d.version} conflicts with ${a.name}`);
    }
  }
}
