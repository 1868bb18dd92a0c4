/**
 * Synthetic fragments and catalogs for tests and benchmarks (no I/O; ids are hashes of the
 * descriptor fields that matter here, not real canonical-descriptor digests).
 */
import { sha256Hex } from '../digest';
import {
  FRAGMENT_TAR_MEDIA_TYPE,
  type Fragment,
  type FragmentDescriptor,
  type Provide,
  type Relation,
  type VariantAttributes,
} from '../model';
import { parseRelation } from '../version';

export interface FragmentInit {
  name: string;
  version: string;
  scheme?: FragmentDescriptor['scheme'];
  attributes?: VariantAttributes;
  /** Relation specs, e.g. `libfoo (>= 3) | libbar`, or parsed relations. */
  depends?: (string | Relation)[];
  preDepends?: (string | Relation)[];
  conflicts?: (string | Relation)[];
  breaks?: (string | Relation)[];
  /** `name` or `name=version`. */
  provides?: (string | Provide)[];
}

const rel = (r: string | Relation): Relation => (typeof r === 'string' ? parseRelation(r) : r);

/** A fragment with an empty file list and a made-up blob, enough for the resolver. */
export function syntheticFragment(init: FragmentInit): Fragment {
  const provides = (init.provides ?? []).map((p): Provide => {
    if (typeof p !== 'string') return p;
    const [name, version] = p.split('=');
    return version !== undefined ? { name: name!, version } : { name: name! };
  });
  const descriptor: FragmentDescriptor = {
    schemaVersion: 1,
    name: init.name,
    version: init.version,
    scheme: init.scheme ?? 'semver',
    attributes: init.attributes ?? {},
    depends: (init.depends ?? []).map(rel),
    preDepends: (init.preDepends ?? []).map(rel),
    provides,
    conflicts: (init.conflicts ?? []).map(rel),
    breaks: (init.breaks ?? []).map(rel),
    files: [],
    blob: {
      mediaType: FRAGMENT_TAR_MEDIA_TYPE,
      digest: `sha256:${sha256Hex(`blob ${init.name} ${init.version}`)}`,
      size: 0,
    },
    source: { type: 'synthetic' },
    metadata: {},
  };
  const id = `sha256:${sha256Hex(JSON.stringify(descriptor))}`;
  return { id, descriptor, signatures: [] };
}

export interface SyntheticOptions {
  /** Distinct names (default 1000). */
  names?: number;
  /** Versions per name, `1.0.0` .. `1.<n-1>.0` (default 10). */
  versions?: number;
  /** Length of each dependency chain; names are split into chains of this length (default 200). */
  depth?: number;
  /** Extra dependencies of each version on random names further down its chain (default 2). */
  extraDeps?: number;
  /** Every k-th name has a newest version that needs an impossible version of its successor, forcing backtracking (default 10; 0 = never). */
  brokenEvery?: number;
  /** PRNG seed (default 1). */
  seed?: number;
}

export interface SyntheticCatalog {
  fragments: Fragment[];
  /** The head of the first chain: requiring it pulls the whole chain in. */
  top: string;
}

/**
 * `names` x `versions` semver fragments in chains of `depth`: each version of chain position k
 * depends on position k+1 (`>= 1.<r>.0` with r random but satisfiable) and on `extraDeps` random
 * later positions; some newest versions are broken on purpose. Deterministic for a seed.
 */
export function syntheticCatalog(opts: SyntheticOptions = {}): SyntheticCatalog {
  const names = opts.names ?? 1000;
  const versions = opts.versions ?? 10;
  const depth = Math.max(1, opts.depth ?? 200);
  const extra = opts.extraDeps ?? 2;
  const brokenEvery = opts.brokenEvery ?? 10;
  const random = mulberry32(opts.seed ?? 1);
  const name = (i: number): string => `pkg-${String(i).padStart(5, '0')}`;
  const fragments: Fragment[] = [];
  for (let i = 0; i < names; i++) {
    const chainEnd = Math.min(names, (Math.floor(i / depth) + 1) * depth);
    for (let v = 0; v < versions; v++) {
      const depends: string[] = [];
      if (i + 1 < chainEnd) {
        const broken = brokenEvery > 0 && i % brokenEvery === 0 && v === versions - 1;
        depends.push(broken ? `${name(i + 1)} >=99.0.0` : `${name(i + 1)} >=1.${Math.floor(random() * versions)}.0`);
        for (let e = 0; e < extra; e++) {
          const j = i + 1 + Math.floor(random() * (chainEnd - i - 1));
          if (j !== i + 1) depends.push(`${name(j)} >=1.0.0`);
        }
      }
      fragments.push(syntheticFragment({ name: name(i), version: `1.${v}.0`, depends: [...new Set(depends)] }));
    }
  }
  return { fragments, top: name(0) };
}

/** mulberry32: a small deterministic PRNG, floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
