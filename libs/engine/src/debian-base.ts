/**
 * `lse base build`: a base image from Debian fragments (already resolved, in install order).
 * One layer holds every package's files, merged in install order (a later package's file replaces
 * an earlier one at the same path, as dpkg with Replaces would; directories merge), the merged-/usr
 * compat links, and the generated dpkg database (see debian-assembly.ts). The image config sets
 * the usual PATH. The base's source lists the packages (name, version, fragment id).
 */
import {
  basePackagesFromFragments,
  buildLayer,
  canonicalPath,
  type BaseImage,
  type Fragment,
  type Layer,
  type TarEntry,
} from '@lse/core';
import { checkBaseName, storeOneLayerBase } from './base-import';
import { debianLayerEntries } from './debian-assembly';
import type { EnginePorts } from './ports';
import { readVerifiedEntries } from './verify-stage';

export interface DebianBaseOptions {
  name: string;
  tag: string;
  arch: string;
  epoch: number;
}

/** The single layer of a base built from packages (not stored). */
export async function debianBaseLayer(
  ports: EnginePorts,
  fragments: readonly Fragment[],
  epoch: number,
): Promise<{ layer: Layer; replaced: string[] }> {
  const merged = new Map<string, TarEntry>();
  const owner = new Map<string, string>();
  const replaced: string[] = [];
  const cache = new Map<string, TarEntry[]>();
  for (const f of fragments) {
    const entries = await readVerifiedEntries(ports, f);
    cache.set(f.id, entries);
    for (const e of entries) {
      const p = canonicalPath(e.path);
      if (p === '') continue;
      const prev = merged.get(p);
      if (prev && !(prev.type === 'dir' && e.type === 'dir') && prev.type !== 'dir')
        replaced.push(`${p} (${owner.get(p)} → ${f.descriptor.name})`);
      if (prev && prev.type !== 'dir' && e.type === 'dir') continue; // a file stays a file
      if (prev && prev.type === 'dir' && e.type !== 'dir') continue; // never replace a directory (it has content)
      merged.set(p, { ...e, path: p });
      owner.set(p, f.descriptor.name);
    }
  }
  const extra = await debianLayerEntries(ports, {
    fragments,
    entriesOf: async (f) => cache.get(f.id) ?? readVerifiedEntries(ports, f),
    mtime: epoch,
  });
  for (const e of extra ?? []) merged.set(e.path, e);
  return { layer: buildLayer([{ entries: [...merged.values()], label: 'debian base' }], { mtime: epoch }), replaced };
}

export async function buildDebianBase(
  ports: EnginePorts,
  fragments: readonly Fragment[],
  opts: DebianBaseOptions,
): Promise<{ base: BaseImage; replaced: string[] }> {
  checkBaseName(opts.name, opts.tag);
  const { layer, replaced } = await debianBaseLayer(ports, fragments, opts.epoch);
  const base = await storeOneLayerBase(ports, layer, {
    ...opts,
    history: `debian base ${opts.name}`,
    packages: basePackagesFromFragments(fragments),
    source: {
      type: 'debian-packages',
      packages: fragments.map((f) => ({ name: f.descriptor.name, version: f.descriptor.version, id: f.id })),
    },
  });
  return { base, replaced };
}
