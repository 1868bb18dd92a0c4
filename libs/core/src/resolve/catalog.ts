/**
 * The resolver's view of the fragment database: lookup by name and by provided (virtual) name.
 * `MemoryCatalog` is the in-memory implementation; store adapters implement the same interface.
 */
import type { Fragment, RelationAtom } from '../model';
import { satisfies } from '../version';

export interface Catalog {
  /** Every fragment (all versions and variants) with this name. */
  byName(name: string): readonly Fragment[];
  /** Every fragment whose `descriptor.provides` lists this name. */
  providersOf(name: string): readonly Fragment[];
  /** All fragment names, used only for "did you mean" suggestions. */
  names?(): readonly string[];
}

/** Fragments indexed by name and by provided name; each id once. Grows with `add` (LiveCatalog). */
export class MemoryCatalog implements Catalog {
  private readonly ids = new Set<string>();
  private readonly named = new Map<string, Fragment[]>();
  private readonly provided = new Map<string, Fragment[]>();

  constructor(fragments: Iterable<Fragment> = []) {
    for (const f of fragments) this.add(f);
  }

  /** Indexes a fragment; false (and nothing changes) when its id is indexed already. */
  add(f: Fragment): boolean {
    if (this.ids.has(f.id)) return false;
    this.ids.add(f.id);
    push(this.named, f.descriptor.name, f);
    const provides = new Set(f.descriptor.provides.map((p) => p.name));
    for (const name of provides) push(this.provided, name, f);
    return true;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Fragments indexed. */
  get size(): number {
    return this.ids.size;
  }

  byName(name: string): readonly Fragment[] {
    return this.named.get(name) ?? [];
  }

  providersOf(name: string): readonly Fragment[] {
    return this.provided.get(name) ?? [];
  }

  names(): readonly string[] {
    return [...this.named.keys()].sort();
  }
}

function push(map: Map<string, Fragment[]>, key: string, f: Fragment): void {
  const list = map.get(key);
  if (list) list.push(f);
  else map.set(key, [f]);
}

/**
 * Does fragment `f` satisfy one alternative? By name, with the constraint read under the
 * fragment's own scheme; or by a provide of that name: an unversioned provide satisfies only an
 * unconstrained atom, a versioned one is checked against the constraint. `archQualifier` is ignored.
 */
export function atomMatches(atom: RelationAtom, f: Fragment): boolean {
  const d = f.descriptor;
  if (d.name === atom.name && satisfies(d.scheme, d.version, atom.constraint)) return true;
  for (const p of d.provides) {
    if (p.name !== atom.name) continue;
    if (p.version === undefined ? !atom.constraint : satisfies(d.scheme, p.version, atom.constraint)) return true;
  }
  return false;
}
