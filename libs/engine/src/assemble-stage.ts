import {
  DEB_MEDIA_TYPE, LseError, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_MANIFEST, assertNoConflicts, buildFilesLayer, buildImageConfig, buildImageManifest,
  buildLayer, defaultLayerBudget, fragmentLabel, inlineFileEntries, planLayers, sha256Digest, type Fragment, type Lock, type TarEntry,
} from '@lse/core';
import type { ImageRef } from '@lse/contracts';
import type { EngineOptions, EnginePorts } from './ports';
import { debianTopLayer, hasDebianFragments, DPKG_LAYER_LABEL } from './debian-assembly';
import { readVerifiedContent, readVerifiedEntries } from './verify-stage';

export interface AssembledImage {
  image: ImageRef;
  layerPlan: { digest: string; fragments: string[] }[];
}

/**
 * Stage 4: lock → OCI image in the layer store.
 *  1. path conflicts between fragments (and the inline files) are found from the signed file
 *     indexes before any byte is copied (for packages from a Debian index, which have no signed
 *     index, from the index derived from their verified .deb, which is read first);
 *  2. the layer budget groups fragments (see libs/core/src/oci/budget.ts);
 *  3. each group becomes a deterministic gzip layer; blobs are re-read from the cache and
 *     re-checked (digest, size, policy, index) as they are used;
 *  4. inline files go into a top layer; config and manifest are written last.
 * Everything written is content-addressed, so running this twice is harmless and gives the same
 * digests.
 */
export async function assembleImage(ports: EnginePorts, lock: Lock, opts: EngineOptions): Promise<AssembledImage> {
  const fragments: Fragment[] = [];
  const derived = new Map<string, TarEntry[]>();
  for (const lf of lock.fragments) {
    const f = await ports.fragments.get(lf.id);
    if (!f) throw new LseError('FRAGMENT_UNKNOWN', `fragment ${lf.name}@${lf.version} (${lf.id}) is not in the fragment database`, { fragment: lf.id });
    if (f.descriptor.blob.mediaType === DEB_MEDIA_TYPE) {
      const c = await readVerifiedContent(ports, f);
      derived.set(f.id, c.entries);
      fragments.push(c.fragment);
    } else fragments.push(f);
  }
  const entriesOf = async (f: Fragment) => derived.get(f.id) ?? readVerifiedEntries(ports, f);
  const owner = (f: Fragment) => `${f.descriptor.name}@${f.descriptor.version}`;
  assertNoConflicts([
    ...fragments.map((f) => ({ owner: owner(f), files: f.descriptor.files })),
    ...(lock.files.length ? [{ owner: 'inline files', files: inlineFileEntries(lock.files) }] : []),
  ]);

  const base = lock.base.digest ? await ports.bases.get(lock.base.digest) : undefined;
  if (lock.base.digest && !base) throw new LseError('BASE_UNKNOWN', `base ${lock.base.digest} is not in the store`, { digest: lock.base.digest });
  const baseLayers = base?.layers ?? [];
  const extra = (lock.files.length ? 1 : 0) + (hasDebianFragments(fragments) ? 1 : 0);
  const budget = defaultLayerBudget(baseLayers.length, extra);
  const groups = fragments.length ? planLayers(fragments.map((f) => ({ id: f.id, size: f.descriptor.blob.size })), budget) : [];
  const byId = new Map(fragments.map((f) => [f.id, f]));

  const ours: { diffId: string; digest: string; size: number; fragments: string[]; ids?: string[] }[] = [];
  for (const group of groups) {
    const parts = [];
    for (const id of group) {
      const f = byId.get(id)!;
      parts.push({ entries: await entriesOf(f), label: fragmentLabel(f) });
    }
    const layer = buildLayer(parts, { mtime: opts.epoch });
    await ports.layers.put(layer.digest, layer.blob, layer.size);
    ours.push({ diffId: layer.diffId, digest: layer.digest, size: layer.size, fragments: group.map((id) => owner(byId.get(id)!)), ids: group });
  }
  const debian = await debianTopLayer(ports, fragments, base, opts.epoch, entriesOf); // dpkg database, alternatives (Debian fragments only)
  if (debian) {
    await ports.layers.put(debian.digest, debian.blob, debian.size);
    ours.push({ diffId: debian.diffId, digest: debian.digest, size: debian.size, fragments: [DPKG_LAYER_LABEL] });
  }
  if (lock.files.length) {
    const layer = buildFilesLayer(lock.files, opts.epoch);
    await ports.layers.put(layer.digest, layer.blob, layer.size);
    ours.push({ diffId: layer.diffId, digest: layer.digest, size: layer.size, fragments: ['inline files'] });
  }

  const baseConfig = (base?.config ?? {}) as { config?: Record<string, unknown>; history?: unknown[] };
  const config = buildImageConfig({
    platform: lock.platform,
    config: lock.config,
    base: base ? { diffIds: base.layers.map((l) => l.diffId), history: baseConfig.history as never, config: baseConfig.config as never } : undefined,
    layers: ours.map((l) => ({ diffId: l.diffId, fragments: l.fragments })),
    created: opts.epoch,
  });
  const configDigest = sha256Digest(config);
  await ports.layers.put(configDigest, config, config.length);
  const layerRefs = [
    ...baseLayers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    // A fragment layer names its fragments (ids in layer order) for node snapshotters (docs/REGISTRY.md).
    ...ours.map((l) => ({ digest: l.digest, size: l.size, mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, ...(l.ids ? { annotations: { [ANNOTATION_LAYER_FRAGMENTS]: l.ids.join(',') } } : {}) })),
  ];
  const manifest = buildImageManifest(config, layerRefs);
  const manifestDigest = sha256Digest(manifest);
  await ports.layers.put(manifestDigest, manifest, manifest.length);

  return {
    image: {
      manifestDigest,
      manifestSize: manifest.length,
      configDigest,
      layers: layerRefs.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
      platform: lock.platform,
    },
    layerPlan: ours.map((l) => ({ digest: l.digest, fragments: l.fragments })),
  };
}

/** Layer annotation naming the fragments a layer is made of; `containerd.io/snapshot/` so unpackers pass it to snapshotters as a label. */
export const ANNOTATION_LAYER_FRAGMENTS = 'containerd.io/snapshot/lse.fragments';

export const IMAGE_MEDIA_TYPES = { manifest: MEDIA_TYPE_OCI_MANIFEST, config: MEDIA_TYPE_OCI_CONFIG };
