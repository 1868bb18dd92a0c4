/**
 * The resolution problem as the solver sees it: packages (one per real fragment name, created
 * lazily as relations reach them), their candidates, and the incompatibilities that the
 * requirements and each candidate's relations imply.
 *
 * Candidates of a package are the fragments of that name whose variant fits the platform, ordered
 * most-preferred first: newest version (oldest if preferNewest is false), then best variant rank,
 * then fragment id. Nothing depends on catalog order, so the result is deterministic. Other
 * fitting variants of a version stay candidates after the best-ranked one, so a variant whose own
 * relations cannot be met falls back to the next variant before an older version is tried.
 *
 * A dependency `a | b (>= 2)` of candidate x of package P becomes the incompatibility
 * { P ∈ D, A ∉ Sa, B ∉ Sb, ... } where D is every candidate of P with the same relation (one
 * incompatibility covers them all, as PubGrub does for version ranges) and Sa, Sb are the
 * candidates, by name or by provides, that satisfy each alternative (grouped by real package).
 * A conflict or break of x with atom c becomes { P ∈ D, Q ∈ Sq } for each other package Q.
 */
import { editDistance } from '../util/edit-distance';
import { LseError } from '../errors';
import type { Fragment, Platform, Relation, RelationAtom, Requirement } from '../model';
import { compareVersions, formatRelation } from '../version';
import { baseOf } from './base';
import { atomMatches, type Catalog } from './catalog';
import { describeMisfit, fits, rank, type VariantPreference } from './negotiate';
import { bit, isEmpty, mergeTerms, type Incompat, type Note, type Term } from './terms';

export const ROOT = 0;

export interface Pkg {
  index: number;
  name: string;
  candidates: Fragment[];
  full: bigint;
  byId: Map<string, number>;
  /** Keys of relations already turned into incompatibilities. */
  added: Set<string>;
  /** `field|relation key` -> candidates that have that relation (built on first use). */
  holders?: Map<string, bigint>;
}

interface AtomMatch {
  sets: Map<number, bigint>;
  note?: Note;
}

export class Problem {
  readonly pkgs: Pkg[] = [];
  private readonly byName = new Map<string, Pkg>();
  private readonly atomCache = new Map<string, AtomMatch>();

  constructor(
    private readonly catalog: Catalog,
    readonly platform: Platform,
    private readonly preferNewest: boolean,
    private readonly prefs: ReadonlyMap<string, VariantPreference>,
    readonly rootLabel: string,
  ) {
    this.pkgs.push({ index: ROOT, name: rootLabel, candidates: [], full: 1n, byId: new Map(), added: new Set() });
  }

  pkg(name: string): Pkg {
    let p = this.byName.get(name);
    if (p) return p;
    const prefer = this.prefs.get(name);
    const scored = this.catalog
      .byName(name)
      .filter((f) => fits(f.descriptor.attributes, this.platform).ok)
      .map((f) => ({ f, r: rank(f.descriptor.attributes, this.platform, prefer) }));
    const dedup = new Map(scored.map((s) => [s.f.id, s]));
    const sorted = [...dedup.values()].sort((a, b) => {
      const v = versionOrder(a.f, b.f);
      if (v !== 0) return this.preferNewest ? -v : v;
      if (a.r !== b.r) return b.r - a.r;
      return a.f.id < b.f.id ? -1 : a.f.id > b.f.id ? 1 : 0;
    });
    const candidates = sorted.map((s) => s.f);
    p = {
      index: this.pkgs.length,
      name,
      candidates,
      full: (1n << BigInt(candidates.length)) - 1n,
      byId: new Map(candidates.map((f, i) => [f.id, i])),
      added: new Set(),
    };
    this.pkgs.push(p);
    this.byName.set(name, p);
    return p;
  }

  /** Incompatibilities of the requirements: { root, A ∉ Sa } each. */
  requirementIncompats(reqs: readonly Requirement[]): Incompat[] {
    return reqs.map((r) => {
      const atom: RelationAtom =
        r.version !== undefined && r.version.trim() !== '' ? { name: r.name, constraint: r.version } : { name: r.name };
      const m = this.matchAtom(atom, this.rootLabel);
      const terms: Term[] = [{ pkg: ROOT, pos: true, set: 1n }];
      for (const [pkg, set] of m.sets) terms.push({ pkg, pos: false, set });
      return { terms, cause: { kind: 'require', relation: [atom], notes: m.note ? [m.note] : [] } };
    });
  }

  /** A base package is always installed: { root, B ∉ {its candidate} } each (see base.ts). */
  baseIncompats(fragments: readonly Fragment[]): Incompat[] {
    return fragments.map((f) => {
      const p = this.pkg(f.descriptor.name);
      return {
        terms: [
          { pkg: ROOT, pos: true, set: 1n },
          { pkg: p.index, pos: false, set: p.full },
        ],
        cause: { kind: 'base', label: baseOf(f)! },
      };
    });
  }

  /** Incompatibilities implied by the relations of candidate `i` of `pkg` not added before. */
  incompatsFor(pkg: Pkg, i: number): Incompat[] {
    const out: Incompat[] = [];
    const f = pkg.candidates[i]!;
    const who = `${pkg.name} ${f.descriptor.version}`;
    for (const field of ['preDepends', 'depends'] as const) {
      for (const rel of f.descriptor[field]) {
        const key = `${field}|${relKey(rel)}`;
        if (pkg.added.has(key)) continue;
        pkg.added.add(key);
        const terms: Term[] = [{ pkg: pkg.index, pos: true, set: this.holders(pkg, key) }];
        const notes: Note[] = [];
        for (const atom of rel) {
          const m = this.matchAtom(atom, who);
          if (m.note) notes.push(m.note);
          for (const [q, set] of m.sets) terms.push({ pkg: q, pos: false, set });
        }
        const merged = mergeTerms(terms);
        if (merged.some(isEmpty)) continue; // every holder satisfies the relation by itself
        out.push({ terms: merged, cause: { kind: 'depends', pre: field === 'preDepends', relation: rel, notes } });
      }
    }
    for (const field of ['conflicts', 'breaks'] as const) {
      for (const rel of f.descriptor[field]) {
        for (const atom of rel) {
          const key = `${field}|${relKey([atom])}`;
          if (pkg.added.has(key)) continue;
          pkg.added.add(key);
          const holders = this.holders(pkg, key);
          for (const [q, set] of this.matchAtom(atom, who).sets) {
            if (q === pkg.index) continue; // never conflicts with itself; one version per name anyway
            out.push({
              terms: [
                { pkg: pkg.index, pos: true, set: holders },
                { pkg: q, pos: true, set },
              ],
              cause: { kind: 'conflicts', field, atom },
            });
          }
        }
      }
    }
    return out;
  }

  /** Candidates of `pkg` that have the relation (depends, preDepends) or atom (conflicts, breaks) `key`. */
  private holders(pkg: Pkg, key: string): bigint {
    if (!pkg.holders) {
      const map = new Map<string, bigint>();
      const mark = (k: string, j: number): void => {
        map.set(k, (map.get(k) ?? 0n) | bit(j));
      };
      pkg.candidates.forEach((c, j) => {
        for (const field of ['depends', 'preDepends'] as const)
          for (const r of c.descriptor[field]) mark(`${field}|${relKey(r)}`, j);
        for (const field of ['conflicts', 'breaks'] as const)
          for (const r of c.descriptor[field]) for (const a of r) mark(`${field}|${relKey([a])}`, j);
      });
      pkg.holders = map;
    }
    return pkg.holders.get(key) ?? 0n;
  }

  /** Candidates (grouped by package) that satisfy one alternative; a note when there are none. */
  private matchAtom(atom: RelationAtom, who: string): AtomMatch {
    const key = `${atom.name}\u0000${atom.constraint ?? ''}`;
    let m = this.atomCache.get(key);
    if (m) return m;
    const found: { pkg: Pkg; i: number; rank: number }[] = [];
    const consider = (f: Fragment): void => {
      const p = this.pkg(f.descriptor.name);
      const i = p.byId.get(f.id);
      if (i !== undefined && this.matches(atom, f, who)) found.push({ pkg: p, i, rank: priorityRank(f) });
    };
    this.catalog.byName(atom.name).forEach(consider);
    const providers = [...this.catalog.providersOf(atom.name)].sort(
      (a, b) => cmpStr(a.descriptor.name, b.descriptor.name) || cmpStr(a.id, b.id),
    );
    providers.filter((f) => f.descriptor.name !== atom.name).forEach(consider);
    const sets = new Map<number, bigint>();
    // Own name first, then providers by Debian priority (as apt: awk is mawk, `required`, not
    // gawk, `optional`), then by name: the order alternatives are tried in.
    const best = new Map<number, number>();
    for (const x of found) best.set(x.pkg.index, Math.min(best.get(x.pkg.index) ?? 9, x.rank));
    found.sort(
      (a, b) =>
        (a.pkg.name === atom.name ? 0 : 1) - (b.pkg.name === atom.name ? 0 : 1) ||
        best.get(a.pkg.index)! - best.get(b.pkg.index)! ||
        cmpStr(a.pkg.name, b.pkg.name),
    );
    for (const { pkg, i } of found) sets.set(pkg.index, (sets.get(pkg.index) ?? 0n) | bit(i));
    m = { sets };
    if (sets.size === 0) m.note = this.explainNoMatch(atom, who);
    this.atomCache.set(key, m);
    return m;
  }

  private matches(atom: RelationAtom, f: Fragment, who: string): boolean {
    try {
      return atomMatches(atom, f);
    } catch (e) {
      if (e instanceof LseError && e.code === 'CONSTRAINT_INVALID') {
        throw new LseError(
          'CONSTRAINT_INVALID',
          `${who}: relation '${formatRelation([atom])}' cannot be read for ${f.descriptor.name} ${f.descriptor.version} (${f.descriptor.scheme}): ${e.message}`,
          { ...e.details, atom },
          { cause: e },
        );
      }
      throw e;
    }
  }

  /** Why nothing matches: unknown name, no version in range, or no variant for this runtime. */
  private explainNoMatch(atom: RelationAtom, who: string): Note {
    const named = this.catalog.byName(atom.name);
    const providers = this.catalog.providersOf(atom.name);
    if (named.length === 0 && providers.length === 0) {
      // The "did you mean" search scans every name: done only if the note is ever printed
      // (Debian relations mention many packages that do not exist, and most never matter).
      const catalog = this.catalog;
      return {
        kind: 'unknown',
        get text() {
          const hint = suggest(atom.name, catalog.names?.() ?? []);
          return `no fragment named '${atom.name}' exists${hint ? ` (did you mean '${hint}'?)` : ''}`;
        },
      };
    }
    const all = [...named, ...providers];
    const wanted = all.filter((f) => this.matches(atom, f, who));
    const unfit = wanted.filter((f) => !fits(f.descriptor.attributes, this.platform).ok);
    if (unfit.length > 0) {
      // Newest version that would match, and why none of its variants runs here.
      const newest = unfit.reduce((a, b) => (versionOrder(b, a) > 0 ? b : a));
      const same = unfit.filter((f) => f.descriptor.name === newest.descriptor.name && versionOrder(f, newest) === 0);
      const reasons = [
        ...new Set(
          same.map((f) => {
            const fit = fits(f.descriptor.attributes, this.platform);
            return fit.ok ? '' : describeMisfit(fit, this.platform);
          }),
        ),
      ].sort();
      const head = `${newest.descriptor.name} ${newest.descriptor.version}`;
      const text =
        reasons.length === 1
          ? `${head}: every variant ${reasons[0]}`
          : `${head}: no variant fits (one ${reasons.join('; one ')})`;
      const regionMisfit = same.some(
        (f) => !fits(f.descriptor.attributes, this.platform).ok && fitsElsewhere(f, this.platform),
      );
      const regions = [
        ...new Set(
          wanted.flatMap((f) => (f.descriptor.attributes.region !== undefined ? [f.descriptor.attributes.region] : [])),
        ),
      ].sort();
      return regionMisfit && regions.length > 0 ? { kind: 'variant', text, regions } : { kind: 'variant', text };
    }
    const inBase = named.length === 1 ? baseOf(named[0]!) : undefined;
    if (inBase !== undefined) {
      return {
        kind: 'versions',
        text: `the base ${inBase} holds ${atom.name} ${named[0]!.descriptor.version}, which is not ${atom.constraint ?? 'a match'} (a package of the base is not replaced: use a base with a fitting version)`,
      };
    }
    const fitting = named.filter((f) => fits(f.descriptor.attributes, this.platform).ok);
    if (fitting.length === 0) {
      return {
        kind: 'versions',
        text: `${atom.name} has no version in ${atom.constraint ? `'${atom.constraint}'` : 'the catalog'}`,
      };
    }
    if (named.length === 0) {
      return {
        kind: 'versions',
        text: `${atom.name} is only a virtual name, provided by ${[...new Set(providers.map((f) => f.descriptor.name))].sort().join(', ')} without a matching version`,
      };
    }
    const versions = [...new Map(fitting.map((f) => [f.descriptor.version, f])).values()]
      .sort(versionOrder)
      .map((f) => f.descriptor.version);
    const shown = versions.length > 8 ? [...versions.slice(0, 3), '...', ...versions.slice(-4)] : versions;
    return {
      kind: 'versions',
      text: `${atom.name} has only version${versions.length > 1 ? 's' : ''} ${shown.join(', ')}`,
    };
  }
}

/** Whether the only thing that keeps `f` off this runtime is its region. */
function fitsElsewhere(f: Fragment, p: Platform): boolean {
  const region = f.descriptor.attributes.region;
  return region !== undefined && fits(f.descriptor.attributes, { ...p, region }).ok;
}

/** Total order of versions of one name: by scheme, then the scheme's comparison. */
export function versionOrder(a: Fragment, b: Fragment): number {
  const sa = a.descriptor.scheme;
  const sb = b.descriptor.scheme;
  if (sa !== sb) return cmpStr(sa, sb);
  return compareVersions(sa, a.descriptor.version, b.descriptor.version);
}

export function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function relKey(rel: Relation): string {
  return rel.map((a) => `${a.name}\u0000${a.constraint ?? ''}`).join('\u0001');
}

/** Closest catalog name by edit distance (at most 2, or a third of the length). */
export function suggest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const n of names) {
    if (Math.abs(n.length - name.length) >= bestD) continue;
    const d = editDistance(name, n);
    if (d < bestD || (d === bestD && best !== undefined && n < best)) {
      best = n;
      bestD = d;
    }
  }
  return best;
}

/** Debian's priorities, most important first; fragments without one rank with `optional`. */
const PRIORITIES = ['required', 'important', 'standard', 'optional', 'extra'];

/** A provider's rank for choosing among providers of a virtual name (lower is preferred). */
function priorityRank(f: Fragment): number {
  if (baseOf(f) !== undefined) return -1; // already installed: nothing to ship
  const debian = f.descriptor.metadata['debian'] as { control?: Record<string, string> } | undefined;
  const i = PRIORITIES.indexOf(debian?.control?.['Priority'] ?? 'optional');
  return i < 0 ? PRIORITIES.indexOf('optional') : i;
}
