import {
  LseError,
  digestOfValue,
  mergePlatform,
  parseBaseRef,
  resolve,
  MemoryCatalog,
  type BaseImage,
  type BaseRepository,
  type Fragment,
  type Lock,
  type Manifest,
  type Platform,
} from '@lse/core';
import type { EnginePorts, ResolveView } from './ports';

/**
 * Stage 1: manifest + runtime profile → lock. Finds the base by tag or digest, resolves the
 * requirements against the fragment catalog (in memory when `ports.catalog` is set, else loaded
 * from the repository), counting the packages the base holds as installed, and returns the lock
 * with its digest (the synthesis key). Does not touch blobs.
 */
export async function resolveManifest(
  ports: EnginePorts,
  manifest: Manifest,
  override?: Platform,
): Promise<{ lock: Lock; key: string }> {
  const view = ports.catalog ? await ports.catalog() : undefined;
  try {
    return await resolveWith(ports, view, manifest, override);
  } catch (e) {
    // A change acknowledged just before this request may still be on its way to the view.
    const unmet = e instanceof LseError && ['UNSATISFIABLE', 'NO_VARIANT', 'BASE_UNKNOWN'].includes(e.code);
    if (unmet && view?.catchUp && (await view.catchUp())) return resolveWith(ports, view, manifest, override);
    throw e;
  }
}

async function resolveWith(
  ports: EnginePorts,
  view: ResolveView | undefined,
  manifest: Manifest,
  override?: Platform,
): Promise<{ lock: Lock; key: string }> {
  const platform = mergePlatform(manifest.platform, override);
  const { ref, record } = await resolveBase(view?.bases ?? ports.bases, manifest.base, platform);
  const packages = record?.packages ?? [];
  const catalog =
    view ??
    (await loadCatalog(
      ports.fragments,
      manifest.require.map((r) => r.name),
      new Set(packages.map((p) => p.name)),
    ));
  const { fragments, satisfiedByBase } = resolve({
    requirements: manifest.require,
    platform,
    catalog,
    ...(packages.length ? { base: { label: manifest.base, packages } } : {}),
  });
  const lock: Lock = {
    lockVersion: 1,
    base: ref,
    platform,
    fragments: fragments.map((f) => ({ id: f.id, name: f.descriptor.name, version: f.descriptor.version })),
    ...(satisfiedByBase.length ? { satisfiedByBase } : {}),
    files: [...manifest.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    config: {
      env: manifest.env,
      entrypoint: manifest.entrypoint,
      cmd: manifest.cmd,
      workingDir: manifest.workingDir,
      user: manifest.user,
      labels: manifest.labels,
    },
  };
  return { lock, key: digestOfValue(lock) };
}

/**
 * The part of the fragment database a resolution can touch: starting from the required names,
 * every fragment named (or providing) a name, then the names their dependencies mention, until
 * nothing new turns up. A few queries per level instead of reading the whole database. Names in
 * `skip` (packages the base holds, which shadow the catalog) are not looked up.
 */
export async function loadCatalog(
  repo: EnginePorts['fragments'],
  names: string[],
  skip: ReadonlySet<string> = new Set(),
): Promise<MemoryCatalog> {
  const seen = new Set<string>(skip);
  const found = new Map<string, Fragment>();
  let frontier = [...new Set(names)].filter((n) => !skip.has(n));
  while (frontier.length) {
    for (const n of frontier) seen.add(n);
    const next = new Set<string>();
    for (const f of await repo.candidates(frontier)) {
      if (found.has(f.id)) continue;
      found.set(f.id, f);
      for (const rel of [...f.descriptor.depends, ...f.descriptor.preDepends])
        for (const atom of rel) if (!seen.has(atom.name)) next.add(atom.name);
    }
    frontier = [...next];
  }
  return new MemoryCatalog(found.values());
}

async function resolveBase(
  bases: Pick<BaseRepository, 'get' | 'resolveTag'>,
  ref: string,
  platform: Platform,
): Promise<{ ref: Lock['base']; record?: BaseImage }> {
  const parsed = parseBaseRef(ref);
  if ('scratch' in parsed) return { ref: { ref: 'scratch', digest: null } };
  let digest = parsed.digest;
  if (!digest) {
    const tag = parsed.tag ?? 'latest';
    digest = await bases.resolveTag(parsed.name, tag);
    if (!digest) {
      throw new LseError(
        'BASE_UNKNOWN',
        `base '${parsed.name}:${tag}' is not in the store; import it with 'lse base import OCI_LAYOUT_DIR --name ${parsed.name}', or use 'base: scratch'`,
        { base: ref },
      );
    }
  }
  const base = await bases.get(digest);
  if (!base)
    throw new LseError('BASE_UNKNOWN', `base ${digest} (from '${ref}') is not in the store`, { base: ref, digest });
  if (base.platform.arch !== platform.arch || base.platform.os !== platform.os) {
    throw new LseError(
      'NO_VARIANT',
      `base '${ref}' is ${base.platform.os}/${base.platform.arch}, but the runtime is ${platform.os}/${platform.arch}; import a base for that platform`,
      { base: ref },
    );
  }
  return { ref: { ref, digest }, record: base };
}
