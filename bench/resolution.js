'use strict';
/**
 * Resolution benchmark: `resolve` (PubGrub, libs/core/src/resolve) against a synthetic catalog of
 * 10,000 fragments (1,000 names x 10 versions, chains 200 deep, 2 extra dependencies each).
 *
 * Cases: the head of a 200-deep chain; random sets of three requirements; the chain head in a
 * catalog where every 10th name has a broken newest version (the solver must backtrack).
 * Baselines, measured in the same run over the same catalog:
 *  - sort floor: sorting all 10,000 candidates newest-first with compareVersions, the least any
 *    resolver that ranks candidates pays;
 *  - naive resolver: depth-first, newest satisfying candidate, no backtracking, no conflict
 *    learning, no explanations (written below). It gives the same answer where no backtracking
 *    is needed and simply fails on the broken catalog.
 */
const { MemoryCatalog, atomMatches, compareVersions, resolve } = require('@lse/core');
const { syntheticCatalog } = require('@lse/core/testing');
const { now, prng, sample, stats, progress, table, fmt, fmtMs, fmtRatio } = require('./lib');

const PLATFORM = { os: 'linux', arch: 'amd64' };
const SHAPE = { names: 1000, versions: 10, depth: 200, extraDeps: 2 };

/** Depth-first, newest-first, first alternative only, no backtracking: throws on any dead end. */
function naiveResolve(catalog, requirements) {
  const picked = new Map();
  const order = [];
  const visit = (atom) => {
    const have = picked.get(atom.name);
    if (have) {
      if (!atomMatches(atom, have))
        throw new Error(`naive: ${atom.name} ${have.descriptor.version} already picked, ${atom.constraint} needed`);
      return;
    }
    let best;
    for (const f of catalog.byName(atom.name)) {
      if (!atomMatches(atom, f)) continue;
      if (!best || compareVersions(f.descriptor.scheme, f.descriptor.version, best.descriptor.version) > 0) best = f;
    }
    if (!best) throw new Error(`naive: nothing satisfies ${atom.name} ${atom.constraint ?? ''}`);
    picked.set(atom.name, best);
    for (const rel of [...best.descriptor.preDepends, ...best.descriptor.depends]) visit(rel[0]);
    order.push(best);
  };
  for (const r of requirements) visit(r.version ? { name: r.name, constraint: r.version } : { name: r.name });
  return order;
}

function sortFloor(fragments) {
  const all = fragments.slice();
  all.sort((a, b) => compareVersions(b.descriptor.scheme, b.descriptor.version, a.descriptor.version));
  return all;
}

const sameSelection = (a, b) =>
  a.length === b.length && new Set(a.map((f) => f.id)).size === new Set([...a, ...b].map((f) => f.id)).size;

async function run({ quick }) {
  const runs = quick ? 10 : 50;
  const warmup = quick ? 3 : 8;

  progress('resolution: building the synthetic catalogs');
  let t = now();
  const plain = syntheticCatalog({ ...SHAPE, brokenEvery: 0, seed: 1 });
  const genMs = now() - t;
  const indexSamples = sample(() => new MemoryCatalog(plain.fragments), { runs: quick ? 2 : 5, warmup: 1 });
  const catalog = new MemoryCatalog(plain.fragments);
  t = now();
  const brokenCat = syntheticCatalog({ ...SHAPE, brokenEvery: 10, seed: 1 });
  const genBrokenMs = now() - t;
  const broken = new MemoryCatalog(brokenCat.fragments);

  const sortSamples = sample(() => sortFloor(plain.fragments), { runs, warmup });

  const random = prng(42);
  const sets = Array.from({ length: 10 }, () =>
    Array.from({ length: 3 }, () => {
      const i = Math.floor(random() * SHAPE.names);
      return { name: `pkg-${String(i).padStart(5, '0')}`, version: `>=1.${Math.floor(random() * SHAPE.versions)}.0` };
    }),
  );

  const cases = [
    { id: 'chain-top', what: `head of a ${SHAPE.depth}-deep chain`, catalog, reqs: () => [{ name: plain.top }] },
    { id: 'random-3', what: '3 random requirements (10 sets)', catalog, reqs: (i) => sets[i % sets.length] },
    {
      id: 'backtracking',
      what: 'chain head, every 10th newest broken',
      catalog: broken,
      reqs: () => [{ name: brokenCat.top }],
    },
  ];
  const results = [];
  for (const c of cases) {
    progress(`resolution: ${c.id} (${runs} runs)`);
    let selected = 0;
    const samples = sample(
      (i) => {
        selected += resolve({ requirements: c.reqs(i), platform: PLATFORM, catalog: c.catalog }).fragments.length;
      },
      { runs, warmup },
    );
    let naive;
    try {
      const agree = sameSelection(
        naiveResolve(c.catalog, c.reqs(0)),
        resolve({ requirements: c.reqs(0), platform: PLATFORM, catalog: c.catalog }).fragments,
      );
      naive = {
        ok: true,
        agrees: agree,
        ...stats(sample((i) => naiveResolve(c.catalog, c.reqs(i)), { runs, warmup })),
      };
    } catch (e) {
      naive = { ok: false, error: e.message };
    }
    results.push({
      id: c.id,
      what: c.what,
      fragmentsSelected: selected / (runs + warmup),
      resolve: stats(samples),
      naive,
    });
  }
  const sort = stats(sortSamples);
  for (const r of results) {
    r.ratioToSortFloor = r.resolve.p50 / sort.p50;
    r.ratioToNaive = r.naive.ok ? r.resolve.p50 / r.naive.p50 : undefined;
  }
  return {
    catalog: {
      fragments: plain.fragments.length,
      ...SHAPE,
      generateMs: genMs,
      generateBrokenMs: genBrokenMs,
      index: stats(indexSamples),
    },
    sortFloor: sort,
    cases: results,
  };
}

function print(r) {
  const c = r.catalog;
  table(
    `Resolution: synthetic catalog of ${fmt(c.fragments)} fragments (${c.names} names x ${c.versions} versions, chains ${c.depth} deep, +${c.extraDeps} deps each)`,
    ['step', 'time', 'note'],
    [
      ['generate catalog (plain)', fmtMs(c.generateMs), 'syntheticCatalog: 10k descriptors built and hashed'],
      ['generate catalog (broken)', fmtMs(c.generateBrokenMs), 'same, brokenEvery: 10'],
      ['index (MemoryCatalog)', fmtMs(c.index.p50), `p50 of ${c.index.n}`],
      ['sort floor', fmtMs(r.sortFloor.p50), `p50 of ${r.sortFloor.n}: sort all 10k candidates with compareVersions`],
    ],
  );
  table(
    'Resolution: resolve() per call (ms)',
    ['case', 'picked (mean)', 'n', 'p50', 'p99', 'mean', 'naive p50', 'vs naive', 'vs sort floor'],
    r.cases.map((x) => [
      x.what,
      fmt(x.fragmentsSelected),
      x.resolve.n,
      fmt(x.resolve.p50),
      fmt(x.resolve.p99),
      fmt(x.resolve.mean),
      x.naive.ok ? `${fmt(x.naive.p50)}${x.naive.agrees ? '' : ' (differs)'}` : 'fails',
      x.naive.ok ? fmtRatio(x.ratioToNaive) : '-',
      fmtRatio(x.ratioToSortFloor),
    ]),
  );
  process.stdout.write(
    '  vs naive = resolve p50 / naive p50: what PubGrub (conflict learning, explanations, the\n' +
      '    consistency check) costs over a greedy DFS that cannot backtrack; "fails" = naive finds no answer.\n' +
      '  vs sort floor = resolve p50 / time to sort all 10,000 candidates once.\n',
  );
}

module.exports = { run, print, naiveResolve };
