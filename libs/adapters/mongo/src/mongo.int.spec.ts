import { randomBytes } from 'node:crypto';
import { isLseError, sha256Digest, type BaseImage, type SynthesisRecord } from '@lse/core';
import {
  baseRepositoryConformance,
  blobStoreConformance,
  debianReleaseLogConformance,
  fragmentRepositoryConformance,
  layerRecordRepositoryConformance,
  leaseRepositoryConformance,
  sampleFragment,
  synthesisRepositoryConformance,
  trustStoreConformance,
  uniqueName,
  verdictRepositoryConformance,
} from '@lse/testing';
import { GridFSBucket, MongoClient, type Db } from 'mongodb';
import { COLLECTIONS } from './collections';
import { GridFsBlobStore } from './gridfs-blob-store';
import { MongoStore } from './store';
import { tamperGridFsBlob } from './testing';

function mongoUrl(): string {
  const url = process.env['MONGO_URL'];
  if (!url) {
    throw new Error(
      'integration tests need MONGO_URL; start the local servers and load their settings first:\n  bash infra/local/servers.sh up && eval "$(bash infra/local/servers.sh env)"\n(or run the whole suite with `npm test`, which does that)',
    );
  }
  return url;
}

// One client for the file; every store gets a database of its own (the conformance suites
// expect an empty store per test), all dropped at the end.
let client: MongoClient;
const dbs: Db[] = [];
beforeAll(async () => {
  client = await MongoClient.connect(mongoUrl(), { ignoreUndefined: true });
});
afterAll(async () => {
  for (const db of dbs) await db.dropDatabase();
  await client.close();
});

async function fresh(): Promise<MongoStore> {
  const db = client.db(uniqueName('lse-test'));
  dbs.push(db);
  const store = new MongoStore(client, db);
  await store.ensureIndexes();
  return store;
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

blobStoreConformance('mongo GridFS', async () => (await fresh()).blobs);
fragmentRepositoryConformance('mongo', async () => (await fresh()).fragments, sampleFragment);
trustStoreConformance('mongo', async () => (await fresh()).trust);
baseRepositoryConformance('mongo', async () => (await fresh()).bases);
synthesisRepositoryConformance('mongo', async () => (await fresh()).syntheses);
leaseRepositoryConformance('mongo', async () => (await fresh()).leases);
layerRecordRepositoryConformance('mongo', async () => (await fresh()).layerRecords);
verdictRepositoryConformance('mongo', async () => (await fresh()).verdicts);
debianReleaseLogConformance('mongo', async () => (await fresh()).debianReleases);

describe('MongoStore', () => {
  it('connects, ensures indexes (twice is fine) and closes', async () => {
    const name = uniqueName('lse-test');
    const store = await MongoStore.connect(mongoUrl(), name);
    dbs.push(client.db(name));
    await store.ensureIndexes();
    const fragIdx = await store.db.collection(COLLECTIONS.fragments).indexes();
    expect(fragIdx.find((i) => i.key['id'] === 1)?.unique).toBe(true);
    expect(fragIdx.some((i) => i.key['name'] === 1)).toBe(true);
    const tagIdx = await store.db.collection(COLLECTIONS.baseTags).indexes();
    expect(tagIdx.find((i) => i.key['name'] === 1 && i.key['tag'] === 1)?.unique).toBe(true);
    expect(await store.fragments.put(sampleFragment('zlib', '1.3.1'))).toBe('created');
    await store.close();
  });

  it('round-trips keys MongoDB accepts but FerretDB 1.x refuses (dots, a leading $, %)', async () => {
    const store = await fresh();
    const base: BaseImage = {
      digest: sha256Digest('dotted'),
      configDigest: sha256Digest('cfg'),
      layers: [],
      platform: { os: 'linux', arch: 'amd64' },
      config: {
        config: {
          Labels: { 'org.opencontainers.image.source': 'https://x', $odd: '1', '50%.off': 'y' },
          ExposedPorts: { '80/tcp': {} },
        },
      },
      source: { type: 'oci', refs: [{ 'a.b': [{ $c: 1 }] }] },
    };
    await store.bases.put(base);
    expect(await store.bases.get(base.digest)).toEqual(base);
    const f = sampleFragment('dotted', '1.0.0', { metadata: { 'Pre-Depends': 'x', 'conf.d': { '%2E': true } } });
    await store.fragments.put(f);
    expect(await store.fragments.get(f.id)).toEqual(f);
    // Queried fields stay plain, so lookups by name still work.
    expect((await store.fragments.byName('dotted')).map((x) => x.id)).toEqual([f.id]);
  });
});

describe('GridFsBlobStore (origin)', () => {
  it('refuses a tampered blob with DIGEST_MISMATCH', async () => {
    const store = await fresh();
    const data = randomBytes(300_000); // more than one GridFS chunk
    const d = sha256Digest(data);
    await store.blobs.put(d, data, data.length);
    const evil = Buffer.from(data);
    evil[123_456] = evil[123_456]! ^ 1;
    await tamperGridFsBlob(store.db, d, evil);
    const err = await errorOf(store.blobs.get(d));
    expect(isLseError(err, 'DIGEST_MISMATCH')).toBe(true);
    expect((err as { details: Record<string, unknown> }).details['actual']).toBe(sha256Digest(evil));
  });

  it('tolerates duplicate files from racing puts: one listing, any good copy read, delete removes all', async () => {
    const store = await fresh();
    const data = Buffer.from('raced bytes');
    const d = sha256Digest(data);
    await Promise.all([1, 2, 3].map(() => store.blobs.put(d, data)));
    // Force a second copy, as a put that lost the race would leave.
    const bucket = new GridFSBucket(store.db, { bucketName: COLLECTIONS.fragmentBlobs });
    await new Promise<void>((resolve, reject) =>
      bucket
        .openUploadStream(d)
        .once('finish', () => resolve())
        .once('error', reject)
        .end(data),
    );
    expect((await bucket.find({ filename: d }).toArray()).length).toBeGreaterThan(1);
    const listed: string[] = [];
    for await (const x of store.blobs.list()) listed.push(x);
    expect(listed).toEqual([d]);
    expect((await store.blobs.get(d)).equals(data)).toBe(true);
    await store.blobs.delete(d);
    expect(await bucket.find({ filename: d }).toArray()).toEqual([]);
    expect(isLseError(await errorOf(store.blobs.get(d)), 'BLOB_UNKNOWN')).toBe(true);
  });

  it('writes the GridFS layout (the driver reads it) and still reads files the driver wrote', async () => {
    const store = await fresh();
    const bucket = new GridFSBucket(store.db, { bucketName: COLLECTIONS.fragmentBlobs });
    const ours = randomBytes(600_000); // three chunks
    await store.blobs.put(sha256Digest(ours), ours);
    const viaDriver: Buffer[] = [];
    for await (const c of bucket.openDownloadStreamByName(sha256Digest(ours))) viaDriver.push(c as Buffer);
    expect(Buffer.concat(viaDriver).equals(ours)).toBe(true);
    expect(
      await store.db
        .collection<{ _id: string }>(`${COLLECTIONS.fragmentBlobs}.chunks`)
        .countDocuments({ _id: `${sha256Digest(ours)}#2` }),
    ).toBe(1);
    const old = randomBytes(300_000);
    const d = sha256Digest(old);
    await new Promise<void>((resolve, reject) =>
      bucket
        .openUploadStream(d)
        .once('finish', () => resolve())
        .once('error', reject)
        .end(old),
    );
    expect(await store.blobs.stat(d)).toBe(old.length);
    expect((await store.blobs.get(d)).equals(old)).toBe(true);
    const listed: string[] = [];
    for await (const x of store.blobs.list()) listed.push(x);
    expect(listed.sort()).toEqual([d, sha256Digest(ours)].sort());
    await store.blobs.delete(d);
    await store.blobs.delete(sha256Digest(ours));
    expect(await store.blobs.has(d)).toBe(false);
    expect(await store.blobs.has(sha256Digest(ours))).toBe(false);
    expect(await store.db.collection(`${COLLECTIONS.fragmentBlobs}.chunks`).countDocuments({})).toBe(0);
  });

  it('rejects a name that is not a digest', async () => {
    const blobs = new GridFsBlobStore((await fresh()).db);
    expect(isLseError(await errorOf(blobs.stat('latest')), 'DIGEST_MISMATCH')).toBe(true);
  });
});

describe('races (FerretDB 1.x updates are not atomic; these must still hold)', () => {
  const rec = (id: string): SynthesisRecord => ({
    id,
    status: 'pending',
    stage: 'requested',
    manifestName: 'm',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  });

  it('finish: many concurrent calls from two clients, exactly one wins and its outcome is kept', async () => {
    const a = await fresh();
    const other = await MongoClient.connect(mongoUrl(), { ignoreUndefined: true });
    try {
      const b = new MongoStore(other, other.db(a.db.databaseName));
      for (let round = 0; round < 8; round++) {
        const id = `race-${round}`;
        await a.syntheses.create(rec(id));
        const calls = [...Array(8).keys()].map((i) =>
          (i % 2 ? a : b).syntheses.finish(id, {
            status: 'completed',
            at: `2026-01-01T00:00:0${i}.000Z`,
            result: { by: i },
          }),
        );
        const wins = await Promise.all(calls);
        expect(wins.filter(Boolean)).toHaveLength(1);
        const winner = wins.indexOf(true);
        expect(await a.syntheses.get(id)).toMatchObject({
          status: 'completed',
          stage: 'assembled',
          result: { by: winner },
        });
      }
    } finally {
      await other.close();
    }
  });

  it('a progress racing a finish never un-finishes the synthesis', async () => {
    const store = await fresh();
    const key = sha256Digest('race-key');
    for (let round = 0; round < 8; round++) {
      const id = `p-${round}`;
      await store.syntheses.create({ ...rec(id), key });
      await Promise.all([
        store.syntheses.progress(id, { stage: 'verified', at: '2026-01-01T00:00:01.000Z' }),
        store.syntheses.finish(id, { status: 'completed', at: `2026-01-01T00:01:0${round}.000Z`, result: { round } }),
        store.syntheses.progress(id, { stage: 'fetched', at: '2026-01-01T00:00:01.000Z' }),
      ]);
      expect((await store.syntheses.get(id))?.status).toBe('completed');
    }
    expect((await store.syntheses.completedByKey(key))?.id).toBe('p-7');
  });

  it('an add racing a revoke never un-revokes the key', async () => {
    const store = await fresh();
    const key = { name: 'acme', publicKey: Buffer.alloc(32, 7).toString('base64'), scopes: ['*'], revoked: false };
    await store.trust.add(key);
    await Promise.all([
      store.trust.add({ ...key, scopes: ['lib*'] }),
      store.trust.revoke('acme', '2026-02-01T00:00:00Z'),
      store.trust.add(key),
    ]);
    expect(await store.trust.get('acme')).toMatchObject({ revoked: true, revokedAt: '2026-02-01T00:00:00Z' });
    expect((await store.trust.list()).map((k) => [k.name, k.revoked])).toEqual([['acme', true]]);
  });
});

describe('MongoDebianReleaseLog under concurrency', () => {
  it('concurrent records of one suite from two clients: the newest date is kept, whatever the order', async () => {
    const a = await fresh();
    const other = await MongoClient.connect(mongoUrl(), { ignoreUndefined: true });
    try {
      const b = new MongoStore(other, other.db(a.db.databaseName));
      const suite = 'Debian/Debian/bookworm-updates';
      const dates = [5, 9, 1, 7, 3, 8, 2, 6].map((d) => `2026-11-0${d}T00:00:00.000Z`);
      await Promise.all(
        dates.map((date, i) =>
          (i % 2 ? a : b).debianReleases.record({ suite, date, inRelease: sha256Digest(`r-${date}`) }),
        ),
      );
      expect(await b.debianReleases.newest(suite)).toEqual({
        suite,
        date: '2026-11-09T00:00:00.000Z',
        inRelease: sha256Digest('r-2026-11-09T00:00:00.000Z'),
      });
      expect(await a.debianReleases.newest('Debian/Debian/bookworm')).toBeUndefined();
    } finally {
      await other.close();
    }
  });
});

describe('MongoLeaseRepository storage', () => {
  it('keeps one blob list per distinct image: lease documents name it, and inline lists written before are still read', async () => {
    const store = await fresh();
    const blobs = [sha256Digest('manifest'), sha256Digest('config'), sha256Digest('layer')];
    for (const id of ['l1', 'l2', 'l3']) {
      await store.leases.put({
        synthesisId: id,
        key: sha256Digest('key'),
        expiresAt: '2030-01-01T00:00:00.000Z',
        blobs,
      });
    }
    expect(await store.db.collection(COLLECTIONS.leaseBlobSets).countDocuments()).toBe(1);
    type LeaseDoc = {
      _id: string;
      synthesisId: string;
      key: string;
      expiresAt: string;
      blobs?: string[];
      blobSet?: string;
    };
    const doc = await store.db.collection<LeaseDoc>(COLLECTIONS.leases).findOne({ _id: 'l2' });
    expect(doc?.['blobs']).toBeUndefined();
    expect(typeof doc?.['blobSet']).toBe('string');
    // A lease document as earlier versions wrote it (list inline).
    await store.db.collection<LeaseDoc>(COLLECTIONS.leases).insertOne({
      _id: 'old',
      synthesisId: 'old',
      key: sha256Digest('k'),
      expiresAt: '2030-01-01T00:00:00.000Z',
      blobs: [sha256Digest('x')],
    });
    // Another process (no sets in its memory) reads them all.
    const other = new MongoStore(client, store.db);
    const all = new Map((await other.leases.list()).map((l) => [l.synthesisId, l.blobs]));
    expect(all.get('l1')).toEqual(blobs);
    expect(all.get('l3')).toEqual(blobs);
    expect(all.get('old')).toEqual([sha256Digest('x')]);
    expect((await other.leases.get('l2'))?.blobs).toEqual(blobs);
  });
});
