/**
 * OCI image layout directories (image-spec "image-layout"): `oci-layout`, `index.json` and
 * content-addressed `blobs/sha256/<hex>`. Writing verifies every blob against its digest and
 * refuses a manifest that points at a blob the layout would not hold; index.json is written last
 * so an interrupted write never leaves a tag pointing at missing blobs. Reading verifies every
 * blob it returns (size first, then sha256 while streaming) against the descriptor that named it.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import {
  ANNOTATION_REF_NAME,
  LseError,
  MEDIA_TYPE_OCI_MANIFEST,
  OCI_LAYOUT_VERSION,
  StreamingDigestVerifier,
  buildLayoutIndex,
  descriptorOf,
  isIndexMediaType,
  isManifestMediaType,
  sha256Digest,
  type Descriptor,
  type OciPlatform,
} from '@lse/core';

export interface OciImageBlobs {
  manifest: Buffer;
  config: Buffer;
  /** Layer blobs (and any other blob the manifest names) by digest. */
  blobs: Iterable<[digest: string, data: Buffer]>;
}

export interface OciLayoutImage {
  manifest: Record<string, unknown>;
  manifestDigest: string;
  config: Record<string, unknown>;
  configDigest: string;
  layers: { digest: string; size: number; mediaType: string; data: Buffer }[];
}

const DIGEST = /^sha256:([0-9a-f]{64})$/;
const DEFAULT_PLATFORM: OciPlatform = { os: 'linux', architecture: 'amd64' };

/**
 * Writes the image's blobs into the layout in `dir` (created if needed; blobs already there are
 * kept) and replaces index.json so that it holds exactly this manifest, tagged `refName`.
 * Returns the manifest digest.
 */
export async function writeOciLayout(dir: string, image: OciImageBlobs, refName = 'latest'): Promise<string> {
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const written = new Set<string>();
  const put = async (digest: string, data: Buffer, what: string): Promise<void> => {
    const hex = hexOf(digest, what, 'USAGE');
    const actual = sha256Digest(data);
    if (actual !== digest) {
      throw new LseError(
        'DIGEST_MISMATCH',
        `${what}: bytes hash to ${actual}, not ${digest}; pass the blob under its real digest`,
        {
          expected: digest,
          actual,
        },
      );
    }
    if (!written.has(digest)) await writeAtomic(join(blobDir, hex), data);
    written.add(digest);
  };

  for (const [digest, data] of image.blobs) await put(digest, data, `blob ${digest}`);
  const configDigest = sha256Digest(image.config);
  await put(configDigest, image.config, 'image config');
  const manifest = parseJson(image.manifest, 'image manifest') as { config?: Descriptor; layers?: Descriptor[] };
  for (const d of [manifest.config, ...(manifest.layers ?? [])]) {
    if (d === undefined || typeof d.digest !== 'string')
      throw layoutError('image manifest has no config descriptor or a layer without digest; rebuild it');
    if (!written.has(d.digest) && !(await exists(join(blobDir, hexOf(d.digest, 'manifest descriptor')), d.size))) {
      throw layoutError(
        `image manifest names blob ${d.digest}, which is neither given nor already in ${dir}; pass every layer blob`,
      );
    }
  }
  const manifestDesc = descriptorOf(MEDIA_TYPE_OCI_MANIFEST, image.manifest);
  await put(manifestDesc.digest, image.manifest, 'image manifest');

  const config = parseJson(image.config, 'image config') as { architecture?: unknown; os?: unknown; variant?: unknown };
  if (typeof config.architecture === 'string' && typeof config.os === 'string') {
    manifestDesc.platform = { architecture: config.architecture, os: config.os };
    if (typeof config.variant === 'string' && config.variant !== '') manifestDesc.platform.variant = config.variant;
  }
  await writeAtomic(join(dir, 'oci-layout'), Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION })));
  await writeAtomic(join(dir, 'index.json'), buildLayoutIndex(manifestDesc, refName));
  return manifestDesc.digest;
}

/**
 * Reads the image tagged `ref` (or the only image) from the layout in `dir`. An image index is
 * followed one level, picking `platform` (default linux/amd64). Every blob is verified.
 */
export async function readOciLayout(
  dir: string,
  ref?: string,
  platform: OciPlatform = DEFAULT_PLATFORM,
): Promise<OciLayoutImage> {
  const layoutFile = await readFile(join(dir, 'oci-layout')).catch((e: NodeJS.ErrnoException) => {
    throw layoutError(`${dir} is not an OCI image layout (cannot read its oci-layout file: ${e.code ?? e.message})`);
  });
  const version = (parseJson(layoutFile, `${dir}/oci-layout`) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  if (typeof version !== 'string' || !version.startsWith('1.')) {
    throw layoutError(
      `${dir}/oci-layout has imageLayoutVersion ${JSON.stringify(version)}; only 1.x layouts are supported`,
    );
  }
  const indexBytes = await readFile(join(dir, 'index.json')).catch((e: NodeJS.ErrnoException) => {
    throw layoutError(
      `${dir} has no readable index.json (${e.code ?? e.message}); it is not a complete OCI image layout`,
    );
  });
  const index = parseJson(indexBytes, `${dir}/index.json`) as { manifests?: unknown };
  if (!Array.isArray(index.manifests)) throw layoutError(`${dir}/index.json has no manifests array`);
  let desc = selectByRef(index.manifests as Descriptor[], ref, dir, platform);

  if (isIndexMediaType(desc.mediaType)) {
    const nested = parseJson(await readBlob(dir, desc, `image index ${desc.digest}`), `image index ${desc.digest}`) as {
      manifests?: unknown;
    };
    if (!Array.isArray(nested.manifests))
      throw layoutError(`image index ${desc.digest} in ${dir} has no manifests array`);
    desc = selectPlatform(nested.manifests as Descriptor[], platform, `image index ${desc.digest} in ${dir}`);
    if (isIndexMediaType(desc.mediaType))
      throw layoutError(`image index in ${dir} points at another index (${desc.digest}); only one level is supported`);
  }
  if (!isManifestMediaType(desc.mediaType)) {
    throw layoutError(`${dir}: ${desc.digest} has media type ${desc.mediaType}, not an image manifest or index`);
  }
  const manifestBytes = await readBlob(dir, desc, `image manifest ${desc.digest}`);
  const manifest = parseJson(manifestBytes, `image manifest ${desc.digest}`) as Record<string, unknown> & {
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (manifest.schemaVersion !== 2 || manifest.config === undefined || !Array.isArray(manifest.layers)) {
    throw layoutError(`image manifest ${desc.digest} in ${dir} is not a schema 2 manifest with config and layers`);
  }
  const configDesc = manifest.config;
  const config = parseJson(
    await readBlob(dir, configDesc, `image config ${configDesc.digest}`),
    `image config ${configDesc.digest}`,
  ) as Record<string, unknown>;
  const layers: OciLayoutImage['layers'] = [];
  for (const [i, l] of manifest.layers.entries()) {
    const data = await readBlob(dir, l, `layer ${i + 1} (${l.digest}) of ${desc.digest}`);
    layers.push({ digest: l.digest, size: l.size, mediaType: l.mediaType, data });
  }
  return { manifest, manifestDigest: desc.digest, config, configDigest: configDesc.digest, layers };
}

function selectByRef(manifests: Descriptor[], ref: string | undefined, dir: string, platform: OciPlatform): Descriptor {
  const refs = manifests.map((m) => m.annotations?.[ANNOTATION_REF_NAME]).filter((r): r is string => r !== undefined);
  const listing = refs.length > 0 ? `tags: ${[...new Set(refs)].sort().join(', ')}` : 'no tags';
  if (ref === undefined) {
    if (manifests.length === 1) return manifests[0];
    throw layoutError(`${dir} holds ${manifests.length} images (${listing}); name the one to use`);
  }
  const tagged = manifests.filter((m) => m.annotations?.[ANNOTATION_REF_NAME] === ref);
  if (tagged.length === 0) throw layoutError(`${dir} has no image tagged '${ref}' (${listing})`);
  // Some tools tag each platform's manifest with the same name.
  return tagged.length === 1 ? tagged[0] : selectPlatform(tagged, platform, `${dir} tag '${ref}'`);
}

function selectPlatform(manifests: Descriptor[], want: OciPlatform, where: string): Descriptor {
  const fits = manifests.filter(
    (m) =>
      m.platform?.os === want.os &&
      m.platform?.architecture === want.architecture &&
      (!want.variant || m.platform?.variant === want.variant),
  );
  if (fits.length === 0) {
    const have = manifests.map((m) =>
      m.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join('/') : 'unknown',
    );
    const wanted = [want.os, want.architecture, want.variant].filter(Boolean).join('/');
    throw layoutError(`${where} has no image for ${wanted} (has: ${have.join(', ') || 'none'})`);
  }
  return fits[0];
}

/** Reads one blob, checking its size first and its sha256 while streaming. */
async function readBlob(dir: string, desc: Descriptor, label: string): Promise<Buffer> {
  if (typeof desc !== 'object' || desc === null) throw layoutError(`${label}: descriptor is missing`);
  const hex = hexOf(desc.digest, label);
  if (!Number.isSafeInteger(desc.size) || desc.size < 0)
    throw layoutError(`${label}: descriptor size ${JSON.stringify(desc.size)} is not a byte count`);
  const path = join(dir, 'blobs', 'sha256', hex);
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw layoutError(
      `${label}: blob is missing from ${dir}/blobs/sha256 (${e.code ?? e.message}); the layout is incomplete, copy it again`,
    );
  });
  if (st.size !== desc.size) {
    throw new LseError(
      'SIZE_MISMATCH',
      `${label}: blob in ${dir} has ${st.size} bytes, descriptor says ${desc.size}; the layout is corrupt, copy it again`,
      {
        expected: desc.size,
        actual: st.size,
      },
    );
  }
  const chunks: Buffer[] = [];
  await pipeline(
    createReadStream(path),
    new StreamingDigestVerifier({ digest: desc.digest, size: desc.size }, `${label} in ${dir}`),
    new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(chunks);
}

function hexOf(digest: unknown, what: string, code: 'USAGE' | 'LAYOUT_INVALID' = 'LAYOUT_INVALID'): string {
  const m = typeof digest === 'string' ? DIGEST.exec(digest) : null;
  if (m === null)
    throw new LseError(code, `${what}: digest ${JSON.stringify(digest)} is not of the form sha256:<64 lowercase hex>`, {
      digest,
    });
  return m[1];
}

function parseJson(bytes: Buffer, what: string): object {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw layoutError(`${what} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw layoutError(`${what} is not a JSON object`);
  return v;
}

function layoutError(message: string): LseError {
  return new LseError('LAYOUT_INVALID', message);
}

async function exists(path: string, size: number): Promise<boolean> {
  try {
    return (await stat(path)).size === size;
  } catch {
    return false;
  }
}

async function writeAtomic(path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
