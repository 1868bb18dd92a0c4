import {
  LseError,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  basePackagesFromStatus,
  type BasePackage,
  buildImageConfig,
  buildImageManifest,
  buildLayer,
  gunzip,
  isGzip,
  normalizeEntries,
  readTar,
  sha256Digest,
  type BaseImage,
  type BaseLayer,
  type Layer,
  type TarEntry,
} from '@lse/core';
import type { EnginePorts } from './ports';

export interface OciImageInput {
  manifestDigest: string;
  config: Record<string, unknown>;
  layers: { digest: string; size: number; mediaType: string; data: Buffer }[];
}

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export function checkBaseName(name: string, tag: string): void {
  if (!NAME_RE.test(name) || name === 'scratch') {
    throw new LseError(
      'USAGE',
      `base name '${name}' is not valid: use lowercase letters, digits, '.', '_' or '-' ('scratch' is reserved)`,
      { name },
    );
  }
  if (!TAG_RE.test(tag))
    throw new LseError('USAGE', `base tag '${tag}' is not valid: use letters, digits, '.', '_' or '-'`, { tag });
}

/**
 * Imports an OCI image (already read and digest-checked from a layout) as an immutable base:
 * every layer's uncompressed digest must equal the config's diff_id for it, the layer blobs go to
 * the layer store, and `name:tag` points at the image's manifest digest.
 */
export async function importBaseImage(
  ports: Pick<EnginePorts, 'layers' | 'bases'>,
  img: OciImageInput,
  opts: { name: string; tag: string; source: Record<string, unknown> },
): Promise<BaseImage> {
  checkBaseName(opts.name, opts.tag);
  const rootfs = img.config['rootfs'] as { diff_ids?: unknown } | undefined;
  const diffIds = Array.isArray(rootfs?.diff_ids) ? (rootfs!.diff_ids as string[]) : [];
  if (diffIds.length !== img.layers.length) {
    throw new LseError(
      'BASE_INVALID',
      `image config lists ${diffIds.length} diff_ids for ${img.layers.length} layers; the image is malformed`,
      { manifest: img.manifestDigest },
    );
  }
  const layers: BaseLayer[] = [];
  let status: Buffer | undefined;
  for (const [i, l] of img.layers.entries()) {
    const tar = isGzip(l.data) ? gunzip(l.data, `layer ${l.digest}`) : l.data;
    status = dpkgStatusIn(readTar(tar), status);
    const diffId = sha256Digest(tar);
    if (diffId !== diffIds[i]) {
      throw new LseError(
        'DIGEST_MISMATCH',
        `layer ${i + 1} (${l.digest}) uncompresses to ${diffId}, but the config says ${diffIds[i]}`,
        { layer: l.digest },
      );
    }
    if (!/tar/.test(l.mediaType) || /zstd/.test(l.mediaType)) {
      throw new LseError(
        'BASE_INVALID',
        `layer ${l.digest} has media type ${l.mediaType}; only tar and tar+gzip layers are supported`,
        { layer: l.digest },
      );
    }
    await ports.layers.put(l.digest, l.data, l.size);
    layers.push({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId });
  }
  const base: BaseImage = {
    digest: img.manifestDigest,
    config: img.config,
    configDigest: sha256Digest(JSON.stringify(img.config)),
    layers,
    platform: {
      os: String(img.config['os'] ?? 'linux'),
      arch: String(img.config['architecture'] ?? 'amd64'),
      ...(img.config['variant'] ? { variant: String(img.config['variant']) } : {}),
    },
    source: opts.source,
    ...packagesOf(status, img.manifestDigest),
  };
  await ports.bases.put(base);
  await ports.bases.tag(opts.name, opts.tag, base.digest);
  return base;
}

const STATUS_PATH = 'var/lib/dpkg/status';

/** The dpkg status file after this layer (a later layer's file or whiteout replaces an earlier one). */
function dpkgStatusIn(entries: readonly TarEntry[], before: Buffer | undefined): Buffer | undefined {
  let status = before;
  for (const e of entries) {
    const p = e.path.replace(/^(\.\/|\/)+/, '');
    if (p === STATUS_PATH) status = e.type === 'file' ? Buffer.from(e.data ?? Buffer.alloc(0)) : undefined;
    else if (p === 'var/lib/dpkg/.wh.status' || p === 'var/lib/dpkg/.wh..wh..opq') status = undefined;
  }
  return status;
}

/** `{ packages }` for the base record: what its dpkg status says is installed (nothing without one). */
function packagesOf(status: Buffer | undefined, label: string): { packages?: BasePackage[] } {
  if (!status) return {};
  const packages = basePackagesFromStatus(status.toString('utf8'), `${STATUS_PATH} of base ${label}`);
  return packages.length ? { packages } : {};
}

/**
 * Imports a root filesystem tarball (plain or gzip) as a one-layer base. The tar is normalized
 * (sorted, fixed mtime, explicit directories); setuid bits are kept (bases carry su, passwd...),
 * device nodes and FIFOs are dropped (the runtime creates /dev) and reported; anything that would
 * escape the root is refused.
 */
export async function importRootfsTar(
  ports: Pick<EnginePorts, 'layers' | 'bases'>,
  data: Buffer,
  opts: { name: string; tag: string; epoch: number; arch: string; source: Record<string, unknown> },
): Promise<{ base: BaseImage; dropped: string[] }> {
  checkBaseName(opts.name, opts.tag);
  const { layer, dropped, packages } = rootfsLayer(data, opts);
  const base = await storeOneLayerBase(ports, layer, {
    ...opts,
    history: `rootfs ${opts.name}`,
    ...(packages ? { packages } : {}),
  });
  return { base, dropped };
}

/**
 * The CPU part of importing a rootfs tarball (no I/O, so it can run on a worker thread): the tar
 * read and checked, device nodes and FIFOs dropped, entries normalized, one deterministic layer.
 */
export function rootfsLayer(
  data: Buffer,
  opts: { name: string; tag: string; epoch: number },
): { layer: Layer; dropped: string[]; packages?: BasePackage[] } {
  const all = readTar(data);
  const dropped: string[] = [];
  const kept: TarEntry[] = [];
  for (const e of all) {
    if (e.type === 'chardev' || e.type === 'blockdev' || e.type === 'fifo' || e.type === 'other') dropped.push(e.path);
    else kept.push({ ...e, path: e.path.replace(/^\/+/, '') || '.' });
  }
  const { tar } = normalizeEntries(kept, { mtime: opts.epoch, allowSetuid: true });
  const entries = readTar(tar);
  const layer = buildLayer([{ entries, label: `rootfs of ${opts.name}` }], { mtime: opts.epoch });
  return { layer, dropped, ...packagesOf(dpkgStatusIn(entries, undefined), `${opts.name}:${opts.tag}`) };
}

/**
 * Stores a base made of one layer: the layer blob, an image config (default PATH) and manifest
 * computed for it (the manifest digest is the base digest), the record, and `name:tag`.
 */
export async function storeOneLayerBase(
  ports: Pick<EnginePorts, 'layers' | 'bases'>,
  layer: Layer,
  opts: {
    name: string;
    tag: string;
    epoch: number;
    arch: string;
    history: string;
    source: Record<string, unknown>;
    packages?: BasePackage[];
  },
): Promise<BaseImage> {
  await ports.layers.put(layer.digest, layer.blob, layer.size);
  const platform = { os: 'linux', arch: opts.arch };
  const configBytes = buildImageConfig({
    platform,
    config: { env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }, labels: {} },
    layers: [{ diffId: layer.diffId, fragments: [opts.history] }],
    created: opts.epoch,
  });
  const manifest = buildImageManifest(configBytes, [
    { digest: layer.digest, size: layer.size, mediaType: MEDIA_TYPE_OCI_LAYER_GZIP },
  ]);
  const base: BaseImage = {
    digest: sha256Digest(manifest),
    config: JSON.parse(configBytes.toString('utf8')) as Record<string, unknown>,
    configDigest: sha256Digest(configBytes),
    layers: [{ digest: layer.digest, size: layer.size, mediaType: MEDIA_TYPE_OCI_LAYER_GZIP, diffId: layer.diffId }],
    platform,
    source: opts.source,
    ...(opts.packages?.length ? { packages: opts.packages } : {}),
  };
  await ports.bases.put(base);
  await ports.bases.tag(opts.name, opts.tag, base.digest);
  return base;
}
