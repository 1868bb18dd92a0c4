import { MemoryCatalog, syntheticCatalog } from '..';
import { Problem } from '../problem';
import { Solver } from '../solver';
import { installOrder } from '../order';
it('bench', () => {
  const { fragments, top } = syntheticCatalog({ names: 1000, versions: 10, depth: 200, seed: 7 });
  const catalog = new MemoryCatalog(fragments);
  for (let k = 0; k < 3; k++) {
    let t0 = performance.now();
    const problem = new Problem(catalog, { os: 'linux', arch: 'amd64' }, true, new Map(), 'm');
    const out = new Solver(problem).solve(problem.requirementIncompats([{ name: top }]));
    const t1 = performance.now();
    if (!out.ok) throw new Error();
    const sel = [...out.decisions].map(([p, c]) => problem.pkgs[p]!.candidates[c]!);
    installOrder(sel);
    console.log('solve', t1 - t0, 'order', performance.now() - t1);
  }
});
