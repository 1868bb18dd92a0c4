import {
  ANNOTATION_BASE_DIGEST,
  ANNOTATION_BASE_NAME,
  ANNOTATION_SYNTHESIS_KEY,
  DEB_MEDIA_TYPE,
  LseError,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  assertNoConflicts,
  buildFilesLayer,
  buildImageConfig,
  buildImageManifest,
  buildLayer,
  debianMetaOf,
  digestOfValue,
  defaultLayerBudget,
  fragmentLabel,
  inlineFileEntries,
  planLayers,
  sha256Digest,
  trustGeneration,
  verdictId,
  type BaseImageInfo,
  type Fragment,
  type FragmentVerdict,
  type LayerRecord,
  type Lock,
  type TarEntry,
} from '@lse/core';
import type { ImageRef } from '@lse/contracts';
import type { EngineOptions, EnginePorts } from './ports';
import { debianTopLayer, hasDebianFragments, DPKG_LAYER_LABEL } from './debian-assembly';
import { layerInputKey } from './layer-cache';
import { IO_CONCURRENCY, fragmentsOfLock, mapLimited } from './parallel';
import { verdictFile, viewOf } from './verdicts';
import { readVerifiedContent, readVerifiedEntries } from './verify-stage';

export interface AssembledImage {
  image: ImageRef;
  layerPlan: { digest: string; fragments: string[] }[];
}

/**
 * Stage 4: lock → OCI image in the layer store.
 *  1. path conflicts between fragments (and the inline files) are found from the signed file
 *     indexes before any byte is copied (for packages from a Debian index, which have no signed
 *     index, from the index derived from their verified .deb: kept in the verifier's verdict for
 *     the current trust generation, else derived again from the blob here);
 *  2. the layer budget groups fragments (see libs/core/src/oci/budget.ts);
 *  3. each group's layer is looked up by its inputs (layer-cache.ts): a recorded layer whose blob
 *     is still in the layer store is used as it is, with no fragment blob read. Otherwise the
 *     blobs are read from the cache and re-checked (digest, size, policy, index) as they are used,
 *     the deterministic gzip layer is built, stored, and recorded;
 *  4. the layers the synthesis itself generates (the dpkg database for Debian fragments, the
 *     inline files) are built every time; config and manifest are written last.
 * Everything written is content-addressed, so running this twice is harmless and gives the same
 * digests, with or without the layer records.
 */
export interface AssemblyHooks {
  /**
   * Called once, before any blob is checked or written, with the layer blobs the image will reuse
   * if they are still there (recorded layers, base layers). The pipeline takes the provisional
   * lease here: a blob checked after a lease names it cannot be collected afterwards, so one
   * check is enough; blobs written afterwards are newer than the lease (collector.ts).
   */
  holding?(digests: string[]): Promise<void>;
}

/** S3 HEADs of reused layers in flight at once: cheap requests, so many overlap. */
const HEADS_IN_FLIGHT = 32;

export async function assembleImage(
  ports: EnginePorts,
  lock: Lock,
  opts: EngineOptions,
  hooks: AssemblyHooks = {},
): Promise<AssembledImage> {
  const stored = await fragmentsOfLock(ports, lock);
  const storedById = new Map(stored.map((f) => [f.id, f]));

  // Verdicts of the current trust generation hold what Debian work needs from verified content.
  let generation: Promise<string> | undefined;
  const verdicts = new Map<string, Promise<FragmentVerdict | undefined>>();
  const verdictOf = (f: Fragment): Promise<FragmentVerdict | undefined> => {
    const repo = ports.verdicts;
    if (!repo) return Promise.resolve(undefined);
    let v = verdicts.get(f.id);
    if (!v) {
      generation ??= ports.trust.list().then(trustGeneration);
      v = generation.then((g) => repo.get(verdictId(f.id, g)));
      verdicts.set(f.id, v);
    }
    return v;
  };
  // Verified content, read at most once per fragment while it is needed.
  const entries = new Map<string, Promise<TarEntry[]>>();
  const entriesOf = (f: Fragment): Promise<TarEntry[]> => {
    let e = entries.get(f.id);
    if (!e) {
      e = readVerifiedEntries(ports, storedById.get(f.id) ?? f);
      entries.set(f.id, e);
    }
    return e;
  };
  const fileOf = async (f: Fragment, path: string): Promise<Buffer | undefined> => {
    const known = verdictFile(await verdictOf(f), path);
    if (known !== undefined) return known ?? undefined;
    const data = (await entriesOf(f)).find((e) => e.path.replace(/^\.\//, '') === path)?.data;
    return data && Buffer.from(data);
  };

  const fragments = await mapLimited(stored, IO_CONCURRENCY, async (f) => {
    if (f.descriptor.blob.mediaType !== DEB_MEDIA_TYPE) return f;
    const view = viewOf(f, await verdictOf(f));
    if (view) return view;
    const c = await readVerifiedContent(ports, f);
    entries.set(f.id, Promise.resolve(c.entries));
    return c.fragment;
  });
  const owner = (f: Fragment) => `${f.descriptor.name}@${f.descriptor.version}`;
  assertNoConflicts([
    ...fragments.map((f) => ({ owner: owner(f), files: f.descriptor.files })),
    ...(lock.files.length ? [{ owner: 'inline files', files: inlineFileEntries(lock.files) }] : []),
  ]);

  const base = lock.base.digest ? await ports.bases.get(lock.base.digest) : undefined;
  if (lock.base.digest && !base)
    throw new LseError('BASE_UNKNOWN', `base ${lock.base.digest} is not in the store`, { digest: lock.base.digest });
  const baseLayers = base?.layers ?? [];
  const extra = (lock.files.length ? 1 : 0) + (hasDebianFragments(fragments) ? 1 : 0);
  const budget = defaultLayerBudget(baseLayers.length, extra);
  const groups = fragments.length
    ? planLayers(
        fragments.map((f) => ({ id: f.id, size: f.descriptor.blob.size })),
        budget,
      )
    : [];
  const byId = new Map(fragments.map((f) => [f.id, f]));

  const ours: { diffId: string; digest: string; size: number; fragments: string[]; ids?: string[] }[] = [];
  const records = ports.layerRecords;
  const keys = groups.map((group) => layerInputKey(group, opts.epoch));
  const recorded = await mapLimited(keys, IO_CONCURRENCY, async (key) => (records ? records.get(key) : undefined));
  await hooks.holding?.([...baseLayers.map((l) => l.digest), ...recorded.flatMap((r) => (r ? [r.digest] : []))]);
  const found = await mapLimited(recorded, HEADS_IN_FLIGHT, async (rec): Promise<LayerRecord | undefined> =>
    rec && (await ports.layers.has(rec.digest)) ? rec : undefined,
  );
  // The blobs of the next group to build are read while this one is compressed.
  const missing = groups.map((_, i) => i).filter((i) => !found[i]);
  const prefetch = (i: number | undefined) => {
    for (const id of i === undefined ? [] : groups[i]!) entriesOf(byId.get(id)!).catch(() => undefined); // awaited (and reported) when built
  };
  prefetch(missing[0]);
  const recording: Promise<unknown>[] = [];
  for (const [i, group] of groups.entries()) {
    let layer: Omit<LayerRecord, 'key' | 'fragments'> | undefined = found[i];
    if (!layer) {
      const parts = await mapLimited(group, IO_CONCURRENCY, async (id) => {
        const f = byId.get(id)!;
        return { entries: await entriesOf(f), label: fragmentLabel(f) };
      });
      prefetch(missing[missing.indexOf(i) + 1]);
      const built = buildLayer(parts, { mtime: opts.epoch });
      await ports.layers.put(built.digest, built.blob, built.size);
      // Recorded only now that the blob is stored: it was built from content this stage has just
      // verified. (The writes overlap the next builds; all are awaited before the image is done.)
      if (records) {
        const put = records.put({
          key: keys[i]!,
          digest: built.digest,
          diffId: built.diffId,
          size: built.size,
          fragments: group,
        });
        put.catch(() => undefined); // reported by the Promise.all below, unless an earlier build failed first
        recording.push(put);
      }
      layer = built;
      for (const id of group)
        if (debianMetaOf(byId.get(id)!.descriptor)?.control['Package'] !== 'base-passwd') entries.delete(id);
    }
    ours.push({
      diffId: layer.diffId,
      digest: layer.digest,
      size: layer.size,
      fragments: group.map((id) => owner(byId.get(id)!)),
      ids: group,
    });
  }
  await Promise.all(recording);
  // The generated layers, the config and the manifest are stored together at the end (one round
  // of PUTs, not one after another): nothing names them before the image is recorded, and the
  // assembler's provisional lease keeps the collector off blobs written after it was taken.
  const writes: { digest: string; blob: Buffer; size: number }[] = [];
  const debian = await debianTopLayer(ports, fragments, base, opts.epoch, { entriesOf, fileOf }); // dpkg database, alternatives (Debian fragments only)
  if (debian) {
    writes.push(debian);
    ours.push({ diffId: debian.diffId, digest: debian.digest, size: debian.size, fragments: [DPKG_LAYER_LABEL] });
  }
  if (lock.files.length) {
    const layer = buildFilesLayer(lock.files, opts.epoch);
    writes.push(layer);
    ours.push({ diffId: layer.diffId, digest: layer.digest, size: layer.size, fragments: ['inline files'] });
  }

  // A stored base's config document is the image's own JSON: its `config` and `history` members are read as OCI has them.
  const baseConfig = (base?.config ?? {}) as Partial<Pick<BaseImageInfo, 'config' | 'history'>>;
  const config = buildImageConfig({
    platform: lock.platform,
    config: lock.config,
    base: base
      ? {
          diffIds: base.layers.map((l) => l.diffId),
          ...(baseConfig.history ? { history: baseConfig.history } : {}),
          ...(baseConfig.config ? { config: baseConfig.config } : {}),
        }
      : undefined,
    layers: ours.map((l) => ({ diffId: l.diffId, fragments: l.fragments })),
    created: opts.epoch,
  });
  const configDigest = sha256Digest(config);
  writes.push({ digest: configDigest, blob: config, size: config.length });
  const layerRefs = [
    ...baseLayers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    // A fragment layer names its fragments (ids in layer order) for node snapshotters (docs/REGISTRY.md).
    ...ours.map((l) => ({
      digest: l.digest,
      size: l.size,
      mediaType: MEDIA_TYPE_OCI_LAYER_GZIP,
      ...(l.ids ? { annotations: { [ANNOTATION_LAYER_FRAGMENTS]: l.ids.join(',') } } : {}),
    })),
  ];
  // The base and the synthesis key (a function of the lock), read back by the gateway for the SBOM and provenance.
  const manifest = buildImageManifest(config, layerRefs, {
    [ANNOTATION_SYNTHESIS_KEY]: digestOfValue(lock),
    ...(lock.base.ref ? { [ANNOTATION_BASE_NAME]: lock.base.ref } : {}),
    ...(lock.base.digest ? { [ANNOTATION_BASE_DIGEST]: lock.base.digest } : {}),
  });
  const manifestDigest = sha256Digest(manifest);
  writes.push({ digest: manifestDigest, blob: manifest, size: manifest.length });
  await Promise.all(writes.map((w) => ports.layers.put(w.digest, w.blob, w.size)));

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
