/**
 * Property tests on random tiny catalogs: every answer is a consistent selection, the answer does
 * not depend on catalog order, and whenever brute force finds a consistent selection the resolver
 * finds one too.
 */
import fc from 'fast-check';
import { LseError } from '../errors';
import type { Fragment, Platform, Relation, RelationAtom, Requirement } from '../model';
import { satisfies } from '../version';
import { MemoryCatalog } from './catalog';
import { resolve } from './resolver';
import { syntheticFragment } from './synthetic';

const platform: Platform = { os: 'linux', arch: 'amd64' };
const NAMES = ['a', 'b', 'c', 'd'];
const VERSIONS = ['1.0.0', '1.1.0', '2.0.0'];

const atomArb: fc.Arbitrary<RelationAtom> = fc.record(
  {
    name: fc.oneof(
      { arbitrary: fc.constantFrom(...NAMES, 'virt'), weight: 12 },
      { arbitrary: fc.constant('nope'), weight: 1 },
    ),
    constraint: fc.constantFrom('^1.0.0', '>=1.1.0', '<2.0.0', '2.0.0'),
  },
  { requiredKeys: ['name'] },
);
/** Mostly none, sometimes one. */
const rare = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T[]> =>
  fc.oneof({ arbitrary: fc.constant<T[]>([]), weight: 3 }, { arbitrary: arb.map((x) => [x]), weight: 1 });
const relationArb: fc.Arbitrary<Relation> = fc.array(atomArb, { minLength: 1, maxLength: 2 });

const fragmentArb = fc
  .record({
    name: fc.constantFrom(...NAMES),
    version: fc.constantFrom(...VERSIONS),
    arch: fc.constantFrom(undefined, undefined, 'amd64', 'all', 'arm64'),
    depends: fc.oneof(
      fc.constant<Relation[]>([]),
      relationArb.map((r) => [r]),
      fc.tuple(relationArb, relationArb).map((t): Relation[] => [...t]),
    ),
    preDepends: rare(relationArb),
    conflicts: rare(atomArb.map((a) => [a])),
    breaks: rare(atomArb.map((a) => [a])),
    provides: rare(fc.record({ name: fc.constant('virt'), version: fc.constantFrom(undefined, '1.0.0', '2.0.0') })),
  })
  .map((r) =>
    syntheticFragment({
      name: r.name,
      version: r.version,
      attributes: r.arch ? { arch: r.arch } : {},
      depends: r.depends,
      preDepends: r.preDepends,
      conflicts: r.conflicts,
      breaks: r.breaks,
      provides: r.provides.map((p) => (p.version ? { name: p.name, version: p.version } : { name: p.name })),
    }),
  );

const caseArb = fc.record({
  fragments: fc.array(fragmentArb, { minLength: 3, maxLength: 10 }),
  requirements: fc
    .array(atomArb, { minLength: 1, maxLength: 2 })
    .map((as) =>
      as.map((a): Requirement => (a.constraint ? { name: a.name, version: a.constraint } : { name: a.name })),
    ),
});

// Independent re-statement of the semantics.
function matches(atom: RelationAtom, f: Fragment): boolean {
  const d = f.descriptor;
  if (d.name === atom.name && satisfies(d.scheme, d.version, atom.constraint)) return true;
  return d.provides.some(
    (p) =>
      p.name === atom.name &&
      (p.version === undefined ? atom.constraint === undefined : satisfies(d.scheme, p.version, atom.constraint)),
  );
}

function consistent(sel: readonly Fragment[], reqs: readonly Requirement[]): boolean {
  if (new Set(sel.map((f) => f.descriptor.name)).size !== sel.length) return false;
  if (sel.some((f) => f.descriptor.attributes.arch === 'arm64')) return false;
  const has = (a: RelationAtom) => sel.some((g) => matches(a, g));
  if (!reqs.every((r) => has(r.version ? { name: r.name, constraint: r.version } : { name: r.name }))) return false;
  for (const f of sel) {
    const d = f.descriptor;
    if (![...d.depends, ...d.preDepends].every((rel) => rel.some(has))) return false;
    for (const a of [...d.conflicts, ...d.breaks].flat())
      if (sel.some((g) => g !== f && g.descriptor.name !== d.name && matches(a, g))) return false;
  }
  return true;
}

function bruteForce(frags: readonly Fragment[], reqs: readonly Requirement[]): boolean {
  const uniq = [...new Map(frags.map((f) => [f.id, f])).values()];
  const groups = NAMES.map((n) => [undefined, ...uniq.filter((f) => f.descriptor.name === n)]);
  const pick = (i: number, sel: Fragment[]): boolean =>
    i === groups.length ? consistent(sel, reqs) : groups[i]!.some((f) => pick(i + 1, f ? [...sel, f] : sel));
  return pick(0, []);
}

function run(frags: Fragment[], reqs: Requirement[]): { ids: string[] } | { error: LseError } {
  try {
    return {
      ids: resolve({ requirements: reqs, platform, catalog: new MemoryCatalog(frags) }).fragments.map((f) => f.id),
    };
  } catch (e) {
    if (e instanceof LseError && (e.code === 'UNSATISFIABLE' || e.code === 'NO_VARIANT')) return { error: e };
    throw e;
  }
}

describe('resolve properties', () => {
  it('returns consistent selections, and finds one whenever brute force does', () => {
    fc.assert(
      fc.property(caseArb, ({ fragments, requirements }) => {
        const r = run(fragments, requirements);
        const possible = bruteForce(fragments, requirements);
        if ('ids' in r) {
          const byId = new Map(fragments.map((f) => [f.id, f]));
          const sel = r.ids.map((id) => byId.get(id)!);
          expect(consistent(sel, requirements)).toBe(true);
          expect(possible).toBe(true);
        } else {
          expect(possible).toBe(false);
          expect(r.error.message.split('\n').length).toBeGreaterThan(1);
        }
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it('gives the same answer whatever the catalog order', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) =>
          fc.shuffledSubarray(c.fragments, { minLength: c.fragments.length }).map((s) => ({ ...c, shuffled: s })),
        ),
        (c) => {
          const a = run(c.fragments, c.requirements);
          const b = run(c.shuffled, c.requirements);
          if ('ids' in a && 'ids' in b) expect(b.ids).toEqual(a.ids);
          else if ('error' in a && 'error' in b) expect(b.error.message).toEqual(a.error.message);
          else throw new Error('one order resolved, the other failed');
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });

  it('puts every fragment after what it pre-depends on when there is no pre-dependency cycle', () => {
    fc.assert(
      fc.property(caseArb, ({ fragments, requirements }) => {
        const r = run(fragments, requirements);
        if (!('ids' in r)) return;
        const byId = new Map(fragments.map((f) => [f.id, f]));
        const order = r.ids.map((id) => byId.get(id)!);
        const edges = order.map((f) =>
          f.descriptor.preDepends.map((rel) => order.filter((g) => g !== f && rel.some((a) => matches(a, g)))).flat(),
        );
        const reaches = (from: number, to: Fragment, seen = new Set<number>()): boolean =>
          edges[from]!.some((g) => {
            const j = order.indexOf(g);
            if (g === to) return true;
            if (seen.has(j)) return false;
            seen.add(j);
            return reaches(j, to, seen);
          });
        order.forEach((f, i) => {
          if (reaches(i, f)) return; // on a pre-dependency cycle: order cannot be strict
          // A direct pre-dependency chosen for ordering (first matching alternative) comes earlier.
          for (const rel of f.descriptor.preDepends) {
            const alt = rel.find((a) => order.some((g) => matches(a, g)));
            const targets = alt ? order.filter((g) => g !== f && matches(alt, g)) : [];
            for (const g of targets) if (!reaches(order.indexOf(g), f)) expect(order.indexOf(g)).toBeLessThan(i);
          }
        });
      }),
      { numRuns: 150, seed: 3 },
    );
  });
});
