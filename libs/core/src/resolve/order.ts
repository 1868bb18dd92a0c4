/**
 * Install order of a selection: each fragment after the fragments it (pre-)depends on.
 *
 * For every relation of a fragment, the edge goes to the selected fragments that satisfy its first
 * satisfied alternative. Kahn's algorithm emits, at each step, the smallest ready fragment (by
 * name, then version, then id). When only cycles remain, the smallest fragment whose
 * pre-dependencies are all installed goes next (a `depends` cycle is broken there); a cycle made
 * of pre-dependencies alone cannot be honoured by anyone and is broken at its smallest fragment.
 */
import type { Fragment, Relation } from '../model';
import { atomMatches } from './catalog';
import { cmpStr, versionOrder } from './problem';

export function installOrder(selected: readonly Fragment[]): Fragment[] {
  const nodes = [...selected].sort(
    (a, b) => cmpStr(a.descriptor.name, b.descriptor.name) || versionOrder(a, b) || cmpStr(a.id, b.id),
  );
  const byName = new Map<string, Fragment[]>();
  for (const g of nodes) {
    for (const n of new Set([g.descriptor.name, ...g.descriptor.provides.map((p) => p.name)])) {
      byName.set(n, [...(byName.get(n) ?? []), g]);
    }
  }
  const targets = (f: Fragment, rel: Relation): Fragment[] => {
    for (const atom of rel) {
      const hit = (byName.get(atom.name) ?? []).filter((g) => atomMatches(atom, g));
      if (hit.length > 0) return hit.filter((g) => g !== f);
    }
    return [];
  };
  const pre = new Map<Fragment, Set<Fragment>>();
  const all = new Map<Fragment, Set<Fragment>>();
  for (const f of nodes) {
    const p = new Set(f.descriptor.preDepends.flatMap((r) => targets(f, r)));
    pre.set(f, p);
    all.set(f, new Set([...p, ...f.descriptor.depends.flatMap((r) => targets(f, r))]));
  }
  const done = new Set<Fragment>();
  const out: Fragment[] = [];
  const ready = (deps: Set<Fragment>): boolean => [...deps].every((d) => done.has(d));
  while (out.length < nodes.length) {
    const left = nodes.filter((f) => !done.has(f));
    const next = left.find((f) => ready(all.get(f)!)) ?? left.find((f) => ready(pre.get(f)!)) ?? left[0]!;
    done.add(next);
    out.push(next);
  }
  return out;
}
