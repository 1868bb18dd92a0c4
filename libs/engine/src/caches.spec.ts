/**
 * Layer records and verification verdicts over memory ports: a new combination of fragments
 * already used builds no fragment layer and reads no fragment blob; a trust change makes
 * fragments be verified again (a revoked key fails at once); images are the same bytes with and
 * without the caches.
 */
import {
  MEDIA_TYPE_OCI_LAYER_GZIP,
  generateKeyPair,
  isLseError,
  publicKeyOf,
  sha256Digest,
  signDescriptor,
  trustGeneration,
  verdictId,
  type BaseImage,
  type BlobStore,
  type LeaseRepository,
  type Manifest,
  type SecretKey,
} from '@lse/core';
import {
  InProcessBus,
  MemoryBaseRepository,
  MemoryBlobStore,
  MemoryFragmentRepository,
  MemoryLayerRecordRepository,
  MemoryLeaseRepository,
  MemoryTrustStore,
  MemoryVerdictRepository,
} from '@lse/adapter-memory';
import type { SynthCompleted } from '@lse/contracts';
import { errorOf } from '@lse/testing';
import { silentLog } from './log';
import { buildFragment } from './pack';
import { runSynthesis, startPipeline } from './pipeline';
import type { EnginePorts } from './ports';

/** A blob store that counts what goes through it. */
class Counting implements BlobStore {
  gets: string[] = [];
  puts: string[] = [];
  heads: string[] = [];
  onHas?: (digest: string) => Promise<void>;
  constructor(private readonly inner: BlobStore) {}
  reset(): void {
    this.gets = [];
    this.puts = [];
    this.heads = [];
  }
  put(digest: string, data: Buffer, size?: number) {
    this.puts.push(digest);
    return this.inner.put(digest, data, size);
  }
  get(digest: string) {
    this.gets.push(digest);
    return this.inner.get(digest);
  }
  async has(digest: string) {
    this.heads.push(digest);
    await this.onHas?.(digest);
    return this.inner.has(digest);
  }
  stat(digest: string) {
    return this.inner.stat(digest);
  }
  delete(digest: string) {
    return this.inner.delete(digest);
  }
  list() {
    return this.inner.list();
  }
}

const NAMES = ['libaa', 'libbb', 'libcc', 'libdd', 'libee'];

function file(path: string, content: string) {
  return {
    path,
    type: 'file' as const,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: Buffer.byteLength(content),
    data: Buffer.from(content),
  };
}

interface World {
  ports: EnginePorts;
  origin: Counting;
  cache: Counting;
  layers: Counting;
  synth: (require: string[], motd: string, base?: string) => Promise<SynthCompleted>;
}

/** Services-like ports (origin and cache apart) holding NAMES signed by `key`; caches optional. */
async function world(key: SecretKey, caches: boolean, leases?: LeaseRepository): Promise<World> {
  const origin = new Counting(new MemoryBlobStore());
  const cache = new Counting(new MemoryBlobStore());
  const layers = new Counting(new MemoryBlobStore());
  const ports: EnginePorts = {
    fragments: new MemoryFragmentRepository(),
    bases: new MemoryBaseRepository(),
    trust: new MemoryTrustStore(),
    origin,
    cache,
    layers,
    ...(caches ? { layerRecords: new MemoryLayerRecordRepository(), verdicts: new MemoryVerdictRepository() } : {}),
  };
  await ports.trust.add({
    name: key.name,
    publicKey: publicKeyOf(key).key.toString('base64'),
    scopes: ['lib*'],
    revoked: false,
  });
  for (const name of NAMES) {
    const { fragment, blob } = buildFragment({
      entries: [file(`usr/lib/${name}.so`, `${name} `.repeat(2000)), file(`usr/share/doc/${name}/README`, name)],
      name,
      version: '1.0.0',
      scheme: 'semver',
      key,
      epoch: 0,
      source: { type: 'test' },
    });
    await origin.put(fragment.descriptor.blob.digest, blob, blob.length);
    await ports.fragments.put(fragment);
  }
  origin.reset();
  let n = 0;
  const synth = async (require: string[], motd: string, base = 'scratch') => {
    const bus = new InProcessBus();
    const stop = await startPipeline({
      bus,
      ports,
      opts: { epoch: 0 },
      log: silentLog,
      isTransient: () => false,
      ...(leases ? { leases } : {}),
    });
    try {
      const manifest: Manifest = {
        apiVersion: 'lse.dev/v1',
        kind: 'DependencyManifest',
        metadata: { name: 'caches' },
        base,
        platform: { os: 'linux', arch: 'amd64' },
        require: require.map((name) => ({ name })),
        files: [{ path: '/etc/motd', content: motd, mode: '0644' }],
        env: {},
        labels: {},
      };
      return await runSynthesis(bus, {
        v: 1,
        synthesisId: `s${++n}`,
        manifest,
        requestedAt: '2026-01-01T00:00:00.000Z',
      });
    } finally {
      await stop();
    }
  };
  return { ports, origin, cache, layers, synth };
}

const fragmentLayers = (c: SynthCompleted) =>
  c.layerPlan.filter((l) => !l.fragments.includes('inline files')).map((l) => l.digest);

describe('fragment layers and verification, once', () => {
  const key = generateKeyPair('lib-publisher').secretKey;

  it('a new combination of fragments already used builds no fragment layer and reads no fragment blob', async () => {
    const w = await world(key, true);
    const first = await w.synth(NAMES, 'first');
    expect(fragmentLayers(first)).toHaveLength(NAMES.length);
    expect(w.cache.gets.length).toBeGreaterThanOrEqual(NAMES.length); // verified (and built) from the cache
    expect(w.layers.puts).toEqual(expect.arrayContaining(fragmentLayers(first)));

    for (const [require, motd] of [
      [NAMES, 'second'],
      [NAMES.slice(1, 4), 'third'],
    ] as const) {
      w.origin.reset();
      w.cache.reset();
      w.layers.reset();
      const next = await w.synth([...require], motd);
      expect(next.key).not.toBe(first.key);
      expect(fragmentLayers(next)).toHaveLength(require.length);
      expect(first.image.layers.map((l) => l.digest)).toEqual(expect.arrayContaining(fragmentLayers(next)));
      // no fragment blob read by the verifier or the assembler, from the cache or the origin
      expect(w.cache.gets).toEqual([]);
      expect(w.origin.gets).toEqual([]);
      // no fragment layer built: what is written is the inline files layer, the config and the manifest
      expect(w.layers.puts).toHaveLength(3);
      expect(w.layers.puts.filter((d) => fragmentLayers(next).includes(d))).toEqual([]);
    }
  });

  it('a trust change verifies every fragment again; a revoked key fails the next synthesis at once', async () => {
    const w = await world(key, true);
    await w.synth(NAMES, 'first');
    // an unrelated key changes the generation: blobs are read and checked again, layers are not rebuilt
    await w.ports.trust.add({
      name: 'other',
      publicKey: publicKeyOf(generateKeyPair('other').secretKey).key.toString('base64'),
      scopes: ['other-*'],
      revoked: false,
    });
    w.cache.reset();
    w.layers.reset();
    await w.synth(NAMES, 'after another key was added');
    expect(new Set(w.cache.gets).size).toBe(NAMES.length);
    expect(w.layers.puts).toHaveLength(3);

    await w.ports.trust.revoke(key.name, '2026-02-01T00:00:00Z');
    const err = await errorOf(w.synth(NAMES.slice(0, 2), 'after the revocation'));
    expect(isLseError(err, 'KEY_REVOKED')).toBe(true);
    expect((err as { details: Record<string, unknown> }).details['stage']).toBe('verifier');
    expect((err as Error).message).toMatch(/signature by key 'lib-publisher' is revoked/);
  });

  it('gives the same image, bit for bit, with and without the caches', async () => {
    const cached = await world(key, true);
    const plain = await world(key, false);
    await cached.synth(NAMES, 'warm the caches');
    for (const [require, motd] of [
      [NAMES, 'same'],
      [NAMES.slice(2), 'subset'],
    ] as const) {
      const a = await cached.synth([...require], motd);
      const b = await plain.synth([...require], motd);
      expect(a.image.manifestDigest).toBe(b.image.manifestDigest);
      expect(a.image).toEqual(b.image);
      const bytes = async (w: World, d: string) => (await w.ports.layers.get(d)).toString('base64');
      for (const l of a.image.layers) expect(await bytes(cached, l.digest)).toBe(await bytes(plain, l.digest));
    }
  });

  it('names the layers it reuses in its provisional lease before checking them, and checks each once', async () => {
    const leases = new MemoryLeaseRepository();
    const w = await world(key, true, leases);
    const reused = fragmentLayers(await w.synth(NAMES, 'first'));
    w.layers.reset();
    const unnamed: string[] = [];
    w.layers.onHas = async (digest) => {
      const lease = await leases.get('s2');
      if (!lease?.provisional || !lease.blobs.includes(digest)) unnamed.push(digest);
    };
    const again = await w.synth(NAMES, 'again');
    expect(fragmentLayers(again)).toEqual(reused);
    expect(w.layers.heads.sort()).toEqual([...reused].sort()); // one check per reused layer, no second pass
    expect(unnamed).toEqual([]); // each checked only once the provisional lease named it
    expect(w.layers.puts.some((d) => reused.includes(d))).toBe(false);
  });

  it('rebuilds a recorded layer whose blob is gone (collected)', async () => {
    const w = await world(key, true);
    const first = await w.synth(NAMES, 'first');
    const gone = fragmentLayers(first)[0]!;
    await w.ports.layers.delete(gone);
    w.layers.reset();
    const again = await w.synth(NAMES, 'again');
    expect(again.image.layers.map((l) => l.digest)).toContain(gone);
    expect(w.layers.puts).toContain(gone);
    expect(await w.ports.layers.has(gone)).toBe(true);
  });

  it('records no verdict for content that fails verification, so it fails again', async () => {
    const w = await world(key, true);
    const good = (await w.ports.fragments.byName('libcc'))[0]!;
    // the same blob under a signed descriptor whose file index does not match it
    const bad = signDescriptor({ ...good.descriptor, name: 'libcc-bad', files: good.descriptor.files.slice(1) }, key);
    await w.ports.fragments.put(bad);
    for (let i = 0; i < 2; i++) {
      const err = await errorOf(w.synth(['libcc-bad'], `attempt ${i}`));
      expect(isLseError(err, 'FRAGMENT_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/does not match its signed file index/);
    }
    const generation = trustGeneration(await w.ports.trust.list());
    expect(await w.ports.verdicts!.get(verdictId(bad.id, generation))).toBeUndefined();
  });

  it('records the layer of a budget group of fragments and reuses it, with the same bytes as without records', async () => {
    // a base of 97 layers leaves room for two fragment layers (plus the inline files): the five
    // fragments are grouped
    const bigBase = async (w: World) => {
      const layers = [];
      for (let i = 0; i < 97; i++) {
        const blob = Buffer.from(`base layer ${i}`);
        await w.ports.layers.put(sha256Digest(blob), blob);
        layers.push({
          mediaType: MEDIA_TYPE_OCI_LAYER_GZIP,
          digest: sha256Digest(blob),
          size: blob.length,
          diffId: sha256Digest(`diff ${i}`),
        });
      }
      const base: BaseImage = {
        digest: sha256Digest('big base'),
        config: { architecture: 'amd64', os: 'linux' },
        configDigest: sha256Digest('cfg'),
        layers,
        platform: { os: 'linux', arch: 'amd64' },
        source: { type: 'test' },
      };
      await w.ports.bases.put(base);
      await w.ports.bases.tag('big', 'latest', base.digest);
    };
    const w = await world(key, true);
    const plain = await world(key, false);
    await bigBase(w);
    await bigBase(plain);
    const first = await w.synth(NAMES, 'first', 'big:latest');
    const groups = first.layerPlan.filter((l) => !l.fragments.includes('inline files'));
    expect(groups.length).toBeLessThanOrEqual(2);
    expect(groups.some((g) => g.fragments.length > 1)).toBe(true);
    w.cache.reset();
    w.layers.reset();
    const second = await w.synth(NAMES, 'second', 'big:latest');
    expect(w.cache.gets).toEqual([]);
    expect(w.layers.puts).toHaveLength(3);
    expect(second.layerPlan.filter((l) => !l.fragments.includes('inline files'))).toEqual(groups);
    expect((await plain.synth(NAMES, 'second', 'big:latest')).image.manifestDigest).toBe(second.image.manifestDigest);
  });
});
