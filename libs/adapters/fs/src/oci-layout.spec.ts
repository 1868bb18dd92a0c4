import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ANNOTATION_REF_NAME,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  buildFilesLayer,
  buildImageConfig,
  buildImageIndex,
  buildImageManifest,
  descriptorOf,
  isLseError,
} from '@lse/core';
import { readOciLayout, writeOciLayout } from './oci-layout';

function tool(name: string): string {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `'${name}' is not installed or does not run (${r.error?.message ?? r.stderr}); run: apt-get install skopeo umoci`,
    );
  }
  return name;
}

function makeImage(arch = 'amd64', motd = 'hello from lse\n') {
  const layer = buildFilesLayer(
    [
      { path: '/etc/motd', content: motd, mode: '0640' },
      { path: '/usr/local/bin/hi', content: '#!/bin/sh\necho hi\n', mode: '0755' },
    ],
    0,
  );
  const config = buildImageConfig({
    platform: { os: 'linux', arch },
    config: {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      cmd: ['/usr/local/bin/hi'],
      labels: { 'dev.lse.test': 'yes' },
    },
    layers: [{ diffId: layer.diffId, fragments: ['inline files'] }],
    created: 0,
  });
  const manifest = buildImageManifest(config, [layer]);
  return { layer, config, manifest, blobs: [[layer.digest, layer.blob]] as [string, Buffer][] };
}

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('OCI image layout', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'lse-oci-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes a layout that skopeo inspects and umoci unpacks with the right content and mode', async () => {
    const skopeo = tool('skopeo');
    const umoci = tool('umoci');
    const img = makeImage();
    const dir = join(tmp, 'layout');
    const digest = await writeOciLayout(dir, img);
    expect(digest).toBe(descriptorOf(MEDIA_TYPE_OCI_MANIFEST, img.manifest).digest);

    const inspect = spawnSync(skopeo, ['inspect', `oci:${dir}`], { encoding: 'utf8' });
    expect(inspect.stderr).toBe('');
    expect(inspect.status).toBe(0);
    const info = JSON.parse(inspect.stdout);
    expect(info.Architecture).toBe('amd64');
    expect(info.Os).toBe('linux');
    expect(info.Digest).toBe(digest);
    expect(info.Layers).toEqual([img.layer.digest]);

    const bundle = join(tmp, 'bundle');
    const rootless = process.getuid?.() !== 0 ? ['--rootless'] : [];
    const unpack = spawnSync(umoci, ['unpack', ...rootless, '--image', `${dir}:latest`, bundle], { encoding: 'utf8' });
    expect(unpack.stderr).not.toMatch(/error/i);
    expect(unpack.status).toBe(0);
    const motd = join(bundle, 'rootfs', 'etc', 'motd');
    expect(readFileSync(motd, 'utf8')).toBe('hello from lse\n');
    expect(statSync(motd).mode & 0o7777).toBe(0o640);
    expect(statSync(join(bundle, 'rootfs', 'usr', 'local', 'bin', 'hi')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(bundle, 'rootfs', 'usr', 'local')).mode & 0o7777).toBe(0o755);
    const runtimeConfig = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    expect(runtimeConfig.process.args).toEqual(['/usr/local/bin/hi']);
  }, 60_000);

  it('round-trips through readOciLayout and is deterministic', async () => {
    const img = makeImage();
    const a = join(tmp, 'a');
    const b = join(tmp, 'b');
    const digest = await writeOciLayout(a, img, 'v1');
    expect(await writeOciLayout(b, makeImage(), 'v1')).toBe(digest);
    expect(readFileSync(join(a, 'index.json')).equals(readFileSync(join(b, 'index.json')))).toBe(true);

    const index = JSON.parse(readFileSync(join(a, 'index.json'), 'utf8'));
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0].annotations).toEqual({ [ANNOTATION_REF_NAME]: 'v1' });
    expect(JSON.parse(readFileSync(join(a, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });

    for (const ref of ['v1', undefined]) {
      const got = await readOciLayout(a, ref);
      expect(got.manifestDigest).toBe(digest);
      expect(got.configDigest).toBe(descriptorOf('x', img.config).digest);
      expect((got.config as { architecture: string }).architecture).toBe('amd64');
      expect(got.layers).toHaveLength(1);
      expect(got.layers[0].digest).toBe(img.layer.digest);
      expect(got.layers[0].data.equals(img.layer.blob)).toBe(true);
    }
  });

  it('follows an image index to the linux/amd64 manifest', async () => {
    const arm = makeImage('arm64', 'arm\n');
    const amd = makeImage('amd64', 'amd\n');
    const dir = join(tmp, 'multi');
    // Write both images' blobs, then replace index.json with one pointing at an image index.
    await writeOciLayout(dir, arm);
    await writeOciLayout(dir, amd);
    const indexBytes = buildImageIndex([
      {
        descriptor: descriptorOf(MEDIA_TYPE_OCI_MANIFEST, arm.manifest),
        platform: { architecture: 'arm64', os: 'linux' },
      },
      {
        descriptor: descriptorOf(MEDIA_TYPE_OCI_MANIFEST, amd.manifest),
        platform: { architecture: 'amd64', os: 'linux' },
      },
    ]);
    const idxDesc = descriptorOf(MEDIA_TYPE_OCI_INDEX, indexBytes);
    writeFileSync(join(dir, 'blobs', 'sha256', idxDesc.digest.slice(7)), indexBytes);
    writeFileSync(
      join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ ...idxDesc, annotations: { [ANNOTATION_REF_NAME]: 'multi' } }],
      }),
    );

    const got = await readOciLayout(dir, 'multi');
    expect(got.manifestDigest).toBe(descriptorOf(MEDIA_TYPE_OCI_MANIFEST, amd.manifest).digest);
    expect(got.layers[0].digest).toBe(amd.layer.digest);
    const arm64 = await readOciLayout(dir, 'multi', { os: 'linux', architecture: 'arm64' });
    expect(arm64.layers[0].digest).toBe(arm.layer.digest);
    const none = await errorOf(readOciLayout(dir, 'multi', { os: 'linux', architecture: 's390x' }));
    expect(isLseError(none, 'LAYOUT_INVALID')).toBe(true);
    expect(none.message).toMatch(/no image for linux\/s390x \(has: linux\/arm64, linux\/amd64\)/);
  });

  it('detects corrupt and missing blobs, unknown tags and non-layouts', async () => {
    const img = makeImage();
    const dir = join(tmp, 'bad');
    await writeOciLayout(dir, img);
    const layerPath = join(dir, 'blobs', 'sha256', img.layer.digest.slice(7));

    const wrongRef = await errorOf(readOciLayout(dir, 'nope'));
    expect(isLseError(wrongRef, 'LAYOUT_INVALID')).toBe(true);
    expect(wrongRef.message).toContain("no image tagged 'nope' (tags: latest)");

    const flipped = Buffer.from(img.layer.blob);
    flipped[flipped.length - 1] ^= 0xff;
    writeFileSync(layerPath, flipped);
    const digestErr = await errorOf(readOciLayout(dir));
    expect(isLseError(digestErr, 'DIGEST_MISMATCH')).toBe(true);
    expect(digestErr.message).toContain(img.layer.digest);

    truncateSync(layerPath, 10);
    const sizeErr = await errorOf(readOciLayout(dir));
    expect(isLseError(sizeErr, 'SIZE_MISMATCH')).toBe(true);
    expect(sizeErr.message).toContain(`10 bytes, descriptor says ${img.layer.size}`);

    rmSync(layerPath);
    const missing = await errorOf(readOciLayout(dir));
    expect(isLseError(missing, 'LAYOUT_INVALID')).toBe(true);
    expect(missing.message).toMatch(/blob is missing/);

    const notLayout = await errorOf(readOciLayout(join(tmp, 'nothing')));
    expect(isLseError(notLayout, 'LAYOUT_INVALID')).toBe(true);
    expect(notLayout.message).toMatch(/not an OCI image layout/);
  });

  it('refuses blobs under a wrong digest and manifests naming absent blobs', async () => {
    const img = makeImage();
    const wrong = await errorOf(
      writeOciLayout(join(tmp, 'w1'), { ...img, blobs: [[img.layer.digest, Buffer.from('other')]] }),
    );
    expect(isLseError(wrong, 'DIGEST_MISMATCH')).toBe(true);
    const absent = await errorOf(writeOciLayout(join(tmp, 'w2'), { ...img, blobs: [] }));
    expect(isLseError(absent, 'LAYOUT_INVALID')).toBe(true);
    expect(absent.message).toContain(img.layer.digest);
  });
});
