/**
 * Two regions on two real MinIO servers: the stack's (region a) and a second one this test starts
 * (region b; stopped by pid). Syntheses run the real pipeline stages in process over the regional
 * caches `regionalCaches` builds from the service configuration; fragment records, trust, layer
 * records and verdicts are shared (in memory here, MongoDB in the services).
 *
 *  - a synthesis in b whose fragment blobs are only in a's cache (b's origin is empty) completes,
 *    with the image built in a, copying each blob from a once (counted per tier);
 *  - a second synthesis in b copies nothing;
 *  - a blob altered in a's cache is refused in b: not stored, not served, the synthesis fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { generateKeyPair, publicKeyOf, type BlobStore, type Fragment, type Manifest, type SecretKey } from '@lse/core';
import {
  InProcessBus,
  MemoryBaseRepository,
  MemoryBlobStore,
  MemoryFragmentRepository,
  MemoryLayerRecordRepository,
  MemoryTrustStore,
  MemoryVerdictRepository,
} from '@lse/adapter-memory';
import { S3BlobStore, ensureBucket, makeS3Client } from '@lse/adapter-s3';
import { tamperS3Object } from '@lse/adapter-s3/testing';
import { buildFragment, runSynthesis, silentLog, startPipeline, type EnginePorts, type TierCount } from '@lse/engine';
import { freePort, testServers, uniqueName } from '@lse/testing';
import { regionalCaches } from './connect';
import type { ServiceConfig } from './config';

jest.setTimeout(60_000);

const servers = testServers();
const minioBin = join(process.env['LSE_BIN_DIR'] ?? join(homedir(), '.cache/lse/bin'), 'minio');
const bucket = uniqueName('lse-regions').toLowerCase().slice(0, 60);
const NAMES = ['libaa', 'libbb', 'libcc'];

let minio: ChildProcess | undefined;
let minioDir = '';
let endpointB = '';
let clientA: S3Client;
let clientB: S3Client;
const closers: (() => void)[] = [];

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if (minio?.exitCode !== null)
      throw new Error(`the second MinIO (${minioBin}) exited with ${minio?.exitCode} during start-up`);
    const ok = await fetch(`${url}/minio/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the second MinIO at ${url} is not ready after 30 s`);
}

beforeAll(async () => {
  minioDir = await mkdtemp(join(tmpdir(), 'lse-region-b-'));
  const port = await freePort();
  endpointB = `http://127.0.0.1:${port}`;
  minio = spawn(minioBin, ['server', '--address', `127.0.0.1:${port}`, '--quiet', join(minioDir, 'data')], {
    env: {
      ...process.env,
      MINIO_ROOT_USER: servers.s3.accessKeyId,
      MINIO_ROOT_PASSWORD: servers.s3.secretAccessKey,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      MINIO_SITE_REGION: servers.s3.region,
    },
    stdio: 'ignore',
  });
  await waitReady(endpointB);
  clientA = makeS3Client(servers.s3);
  clientB = makeS3Client({ ...servers.s3, endpoint: endpointB });
  await ensureBucket(clientA, bucket);
  await ensureBucket(clientB, bucket);
});

afterAll(async () => {
  for (const c of closers) c();
  if (clientA) {
    for (const prefix of ['fragments/', 'layers/']) {
      const s = new S3BlobStore(clientA, bucket, prefix);
      for await (const d of s.list()) await s.delete(d);
    }
    await clientA.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
    clientA.destroy();
  }
  clientB?.destroy();
  if (minio && minio.exitCode === null) {
    const exited = new Promise((r) => minio!.once('exit', r));
    minio.kill('SIGTERM');
    await exited;
  }
  if (minioDir) await rm(minioDir, { recursive: true, force: true });
});

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

interface Shared {
  key: SecretKey;
  fragments: MemoryFragmentRepository;
  trust: MemoryTrustStore;
  layerRecords: MemoryLayerRecordRepository;
  verdicts: MemoryVerdictRepository;
  packed: Fragment[];
  origin: MemoryBlobStore;
}

async function shared(): Promise<Shared> {
  const key = generateKeyPair('publisher').secretKey;
  const s: Shared = {
    key,
    fragments: new MemoryFragmentRepository(),
    trust: new MemoryTrustStore(),
    layerRecords: new MemoryLayerRecordRepository(),
    verdicts: new MemoryVerdictRepository(),
    packed: [],
    origin: new MemoryBlobStore(),
  };
  await s.trust.add({
    name: key.name,
    publicKey: publicKeyOf(key).key.toString('base64'),
    scopes: ['*'],
    revoked: false,
  });
  for (const name of NAMES) {
    const { fragment, blob } = buildFragment({
      entries: [file(`usr/lib/${name}.so`, `${name} `.repeat(3000)), file(`usr/share/doc/${name}/README`, name)],
      name,
      version: '1.0.0',
      scheme: 'semver',
      key,
      epoch: 0,
      source: { type: 'test' },
    });
    await s.origin.put(fragment.descriptor.blob.digest, blob, blob.length);
    await s.fragments.put(fragment);
    s.packed.push(fragment);
  }
  return s;
}

/** A region's caches as the services build them: own bucket on `endpoint`, peer a (if not a). */
function region(
  name: string,
  client: S3Client,
  endpoint: string,
  regionBucket: string,
  origin: BlobStore,
  peers: { name: string; endpoint: string; bucket: string }[],
) {
  const config: Pick<ServiceConfig, 's3' | 'region'> = {
    s3: { ...servers.s3, endpoint, bucket: regionBucket },
    region: { name, peers },
  };
  const caches = regionalCaches(config, client, origin, silentLog);
  closers.push(caches.close);
  return caches;
}

let n = 0;
async function synth(s: Shared, caches: { cache: BlobStore; layers: BlobStore }, origin: BlobStore, motd = 'hello') {
  const ports: EnginePorts = {
    fragments: s.fragments,
    bases: new MemoryBaseRepository(),
    trust: s.trust,
    origin,
    cache: caches.cache,
    layers: caches.layers,
    layerRecords: s.layerRecords,
    verdicts: s.verdicts,
  };
  const bus = new InProcessBus();
  const stop = await startPipeline({ bus, ports, opts: { epoch: 0 }, log: silentLog, isTransient: () => false });
  try {
    const manifest: Manifest = {
      apiVersion: 'lse.dev/v1',
      kind: 'DependencyManifest',
      metadata: { name: 'regions' },
      base: 'scratch',
      require: NAMES.map((name) => ({ name })),
      files: [{ path: '/etc/motd', content: motd, mode: '0644' }],
      env: {},
      labels: {},
    };
    return await runSynthesis(bus, {
      v: 1,
      synthesisId: `region-${++n}`,
      manifest,
      requestedAt: '2026-01-01T00:00:00.000Z',
    });
  } finally {
    await stop();
  }
}

const copies = (rows: TierCount[]) => rows.filter((r) => r.tier === 'peer' || r.tier === 'origin');
async function listed(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const d of store.list()) out.push(d);
  return out.sort();
}

describe('two regions, one MinIO each', () => {
  it("b synthesizes from a's cache: each blob copied once, verified, then served locally; a repeat copies nothing", async () => {
    const s = await shared();
    const a = {
      cache: new S3BlobStore(clientA, bucket, 'fragments/'),
      layers: new S3BlobStore(clientA, bucket, 'layers/'),
    };
    const built = await synth(s, a, s.origin);

    const emptyOrigin = new MemoryBlobStore();
    const b = region('b', clientB, endpointB, bucket, emptyOrigin, [
      { name: 'a', endpoint: servers.s3.endpoint, bucket },
    ]);
    const [frags, layers] = b.tiers as [(typeof b.tiers)[0], (typeof b.tiers)[0]];
    const first = await synth(s, b, emptyOrigin);
    expect(first.image.manifestDigest).toBe(built.image.manifestDigest);

    // Every fragment blob came from peer a, once each; none from the (empty) origin.
    const fragmentBlobs = s.packed.map((f) => f.descriptor.blob.digest).sort();
    expect(await listed(new S3BlobStore(clientB, bucket, 'fragments/'))).toEqual(fragmentBlobs);
    expect(copies(frags!.stats())).toEqual([
      {
        tier: 'peer',
        source: 'a',
        lookups: NAMES.length,
        bytes: s.packed.reduce((x, f) => x + f.descriptor.blob.size, 0),
      },
    ]);
    // The image's blobs are in b now; those b did not write itself were copied from a once each.
    const inB = await listed(new S3BlobStore(clientB, bucket, 'layers/'));
    for (const d of [built.image.manifestDigest, built.image.configDigest, ...built.image.layers.map((l) => l.digest)])
      expect(inB).toContain(d);
    // From a: the fragment layers (one per fragment, found by layer record); b wrote the inline
    // files layer, the config and the manifest itself (same bytes, same digests).
    const fragmentLayers = built.image.layers.slice(0, NAMES.length);
    expect(copies(layers!.stats())).toEqual([
      { tier: 'peer', source: 'a', lookups: NAMES.length, bytes: fragmentLayers.reduce((x, l) => x + l.size, 0) },
    ]);
    const before = JSON.stringify([copies(frags!.stats()), copies(layers!.stats())]);

    const again = await synth(s, b, emptyOrigin);
    expect(again.image.manifestDigest).toBe(built.image.manifestDigest);
    const other = await synth(s, b, emptyOrigin, 'another motd: a new image from the same fragments');
    expect(other.image.manifestDigest).not.toBe(built.image.manifestDigest);
    expect(JSON.stringify([copies(frags!.stats()), copies(layers!.stats())])).toBe(before);
    expect(frags!.stats().find((r) => r.tier === 'region')!.lookups).toBeGreaterThanOrEqual(2 * NAMES.length);
  });

  it("a blob altered in a's cache is refused in b: never stored or served, and the synthesis fails naming it", async () => {
    const s = await shared();
    const a = {
      cache: new S3BlobStore(clientA, bucket, 'fragments/'),
      layers: new S3BlobStore(clientA, bucket, 'layers/'),
    };
    const built = await synth(s, a, s.origin);
    const victim = s.packed[1]!.descriptor.blob.digest;
    await tamperS3Object(clientA, bucket, a.cache.keyOf(victim), Buffer.from('not the signed bytes'));
    const layer = built.image.layers[0]!.digest;
    await tamperS3Object(clientA, bucket, a.layers.keyOf(layer), Buffer.from('not the layer'));

    // A fresh region (its own bucket on b's server), sharing nothing but the catalog and trust.
    const fresh = { ...s, layerRecords: new MemoryLayerRecordRepository(), verdicts: new MemoryVerdictRepository() };
    const cBucket = `${bucket.slice(0, 50)}-c`;
    await ensureBucket(clientB, cBucket);
    const emptyOrigin = new MemoryBlobStore();
    const c = region('c', clientB, endpointB, cBucket, emptyOrigin, [
      { name: 'a', endpoint: servers.s3.endpoint, bucket },
    ]);
    await expect(synth(fresh, c, emptyOrigin)).rejects.toMatchObject({ message: expect.stringContaining('libbb') });
    const localFragments = new S3BlobStore(clientB, cBucket, 'fragments/');
    expect(await localFragments.has(victim)).toBe(false);
    expect(c.tiers[0]!.stats()).toContainEqual({ tier: 'refused', source: 'a', lookups: expect.any(Number), bytes: 0 });

    await expect(c.layers.get(layer)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    expect(await new S3BlobStore(clientB, cBucket, 'layers/').has(layer)).toBe(false);
    expect(c.tiers[1]!.stats()).toContainEqual({ tier: 'refused', source: 'a', lookups: 1, bytes: 0 });
    for (const prefix of ['fragments/', 'layers/']) {
      const st = new S3BlobStore(clientB, cBucket, prefix);
      for await (const d of st.list()) await st.delete(d);
    }
    await clientB.send(new DeleteBucketCommand({ Bucket: cBucket }));
  });
});
