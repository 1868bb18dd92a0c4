/**
 * Base-aware resolution. A base built from packages already holds them (its dpkg status); the
 * base record lists them (`BaseImage.packages`, recorded when the base is imported or built), so
 * the resolver never reads the base's layers.
 *
 * During resolution every base package becomes a candidate of its own name that
 *  - shadows every catalog fragment of that name: a base package is not replaced from above (a
 *    second copy in a layer would only hide the base's files and desynchronize its dpkg status),
 *    so a requirement the base's version does not satisfy is a conflict, explained naming the base;
 *  - has no relations of its own: the base is consistent as it is;
 *  - is always installed (required with a cause that names the base), so a fragment that
 *    conflicts with it cannot be selected;
 *  - is preferred among the providers of a virtual name it provides.
 * The result leaves base candidates out of the fragments to ship and says which base packages
 * the image relies on: those that satisfied a requirement of the manifest or a dependency of a
 * shipped fragment, and the base packages those depend on in turn.
 */
import type { Fragment, Provide, Relation, VersionScheme } from '../model';
import { FRAGMENT_TAR_MEDIA_TYPE } from '../model';
import { relationSpecs } from '../debian/relations';
import { parseRelation } from '../version';
import type { Catalog } from './catalog';

/** One package a base holds, as its base record lists it. */
export interface BasePackage {
  name: string;
  version: string;
  /** Version scheme (default 'debian'). */
  scheme?: VersionScheme;
  /** Debian architecture (`amd64`, `all`), informational. */
  arch?: string;
  provides?: Provide[];
  /**
   * Pre-Depends and Depends in Debian syntax (`libc6 (>= 2.34), libgcc-s1`), kept as text (base
   * records are documents, and relations with alternatives are lists of lists). Not used to solve
   * (the base is consistent as it is), only to list the base packages a used one needs.
   */
  depends?: string;
}

/** What a base holds, for `resolve`. `label` names the base in explanations (its ref). */
export interface BaseContents {
  label: string;
  packages: readonly BasePackage[];
}

/** Metadata key marking a base candidate (never a stored fragment: it has no signature or blob). */
const MARK = 'lseBase';

/** The candidate standing for a base package (id `base:<name>=<version>`, not a digest). */
export function baseFragment(p: BasePackage, label: string): Fragment {
  return {
    id: `base:${p.name}=${p.version}`,
    signatures: [],
    descriptor: {
      schemaVersion: 1,
      name: p.name,
      version: p.version,
      scheme: p.scheme ?? 'debian',
      attributes: {},
      depends: [],
      preDepends: [],
      provides: p.provides ?? [],
      conflicts: [],
      breaks: [],
      files: [],
      blob: { mediaType: FRAGMENT_TAR_MEDIA_TYPE, digest: 'sha256:' + '0'.repeat(64), size: 0 },
      source: { type: 'base' },
      metadata: { [MARK]: label },
    },
  };
}

/** The base label when `f` stands for a base package, else undefined. */
export function baseOf(f: Fragment): string | undefined {
  const v = f.descriptor.metadata[MARK];
  return typeof v === 'string' ? v : undefined;
}

/** A catalog with the base's packages in front (see the header). */
export class BaseCatalog implements Catalog {
  readonly fragments: Fragment[];
  /** The `depends` of each base package, parsed on first use. */
  private readonly deps = new Map<string, Relation[]>();
  private readonly texts = new Map<string, string>();
  private readonly named = new Map<string, Fragment>();
  private readonly provided = new Map<string, Fragment[]>();

  constructor(
    private readonly inner: Catalog,
    readonly base: BaseContents,
  ) {
    for (const p of base.packages) {
      if (this.named.has(p.name)) continue; // one per name (a second architecture of a multi-arch package)
      const f = baseFragment(p, base.label);
      this.named.set(p.name, f);
      if (p.depends) this.texts.set(p.name, p.depends);
      for (const name of new Set((p.provides ?? []).map((x) => x.name)))
        this.provided.set(name, [...(this.provided.get(name) ?? []), f]);
    }
    this.fragments = [...this.named.values()];
  }

  byName(name: string): readonly Fragment[] {
    const b = this.named.get(name);
    return b ? [b] : this.inner.byName(name);
  }

  providersOf(name: string): readonly Fragment[] {
    const own = this.provided.get(name) ?? [];
    const rest = this.inner.providersOf(name).filter((f) => !this.named.has(f.descriptor.name));
    return own.length ? [...own, ...rest] : rest;
  }

  names(): readonly string[] {
    return [...new Set([...(this.inner.names?.() ?? []), ...this.named.keys()])].sort();
  }

  /** The relations a base package depends on (unreadable ones are skipped: informational only). */
  dependsOf(name: string): readonly Relation[] {
    let rels = this.deps.get(name);
    if (!rels) {
      rels = [];
      for (const spec of relationSpecs(this.texts.get(name))) {
        try {
          rels.push(parseRelation(spec));
        } catch {
          // a relation this build cannot read does not change what is shipped
        }
      }
      this.deps.set(name, rels);
    }
    return rels;
  }
}
