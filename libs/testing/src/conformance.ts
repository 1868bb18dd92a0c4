/**
 * Port conformance suites: one suite per port, run against every implementation (memory, fs, and
 * the server adapters), so they all keep the same promises. Call inside a Jest spec file:
 *   blobStoreConformance('fs', async () => new FsBlobStore(tmp()))
 */
import { randomBytes } from 'node:crypto';
import {
  fragmentSetDigest,
  isLseError,
  sha256Digest,
  verdictId,
  type BaseImage,
  type BaseRepository,
  type BlobStore,
  type Fragment,
  type FragmentRepository,
  type FragmentVerdict,
  type LayerRecord,
  type LayerRecordRepository,
  type LeaseRepository,
  type SynthesisRecord,
  type SynthesisRepository,
  type TrustStore,
  type VerdictRepository,
  type DebianReleaseLog,
  type DebianReleaseRecord,
} from '@lse/core';
import { errorOf } from './fixtures';

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out.sort();
}

export function blobStoreConformance(name: string, make: () => Promise<BlobStore>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let store: BlobStore;
    beforeEach(async () => {
      store = await make();
    });

    it('stores bytes under their digest and returns them', async () => {
      const data = randomBytes(1000);
      const d = sha256Digest(data);
      expect(await store.has(d)).toBe(false);
      await store.put(d, data, data.length);
      expect(await store.has(d)).toBe(true);
      expect(await store.stat(d)).toBe(1000);
      expect((await store.get(d)).equals(data)).toBe(true);
      expect(await collect(store.list())).toContain(d);
    });
    it('refuses bytes that do not match the digest or size, storing nothing', async () => {
      const data = randomBytes(64);
      const d = sha256Digest(data);
      expect(isLseError(await errorOf(store.put(d, randomBytes(64))), 'DIGEST_MISMATCH')).toBe(true);
      expect(isLseError(await errorOf(store.put(d, data, 65)), 'SIZE_MISMATCH')).toBe(true);
      expect(await store.has(d)).toBe(false);
    });
    it('is idempotent and conditional: a second put of the same digest is a no-op', async () => {
      const data = Buffer.from('same bytes');
      const d = sha256Digest(data);
      await store.put(d, data);
      await store.put(d, data);
      expect(await collect(store.list())).toEqual([d]);
    });
    it('reports unknown blobs as BLOB_UNKNOWN and deletes quietly', async () => {
      const d = sha256Digest('absent');
      expect(isLseError(await errorOf(store.get(d)), 'BLOB_UNKNOWN')).toBe(true);
      expect(await store.stat(d)).toBeUndefined();
      await store.delete(d);
      const data = Buffer.from('x');
      await store.put(sha256Digest(data), data);
      await store.delete(sha256Digest(data));
      expect(await store.has(sha256Digest(data))).toBe(false);
    });
  });
}

export function fragmentRepositoryConformance(
  name: string,
  make: () => Promise<FragmentRepository>,
  sample: (name: string, version: string, over?: Partial<Fragment['descriptor']>) => Fragment,
): void {
  describe(`FragmentRepository conformance: ${name}`, () => {
    let repo: FragmentRepository;
    beforeEach(async () => {
      repo = await make();
    });

    it('stores immutable records, idempotently', async () => {
      const f = sample('libpng', '1.6.43');
      expect(await repo.put(f)).toBe('created');
      expect(await repo.put(f)).toBe('exists');
      expect(await repo.get(f.id)).toEqual(f);
      expect(await repo.get(sha256Digest('nothing'))).toBeUndefined();
      // every read is a copy of its own: changing one changes nothing stored (or cached)
      const copy = (await repo.get(f.id))!;
      copy.descriptor.name = 'changed';
      copy.descriptor.depends.push([{ name: 'x' }]);
      expect(await repo.get(f.id)).toEqual(f);
      expect((await repo.candidates(['libpng']))[0]).toEqual(f);
    });
    it('finds fragments by name across versions, and lists all', async () => {
      const a = sample('libpng', '1.6.43');
      const b = sample('libpng', '1.6.44');
      const c = sample('zlib', '1.3.1');
      for (const f of [a, b, c]) await repo.put(f);
      expect((await repo.byName('libpng')).map((f) => f.descriptor.version).sort()).toEqual(['1.6.43', '1.6.44']);
      expect(await repo.byName('nope')).toEqual([]);
      expect((await repo.list()).map((f) => f.id).sort()).toEqual([a.id, b.id, c.id].sort());
    });
    it('finds candidates for names: fragments with the name, and those providing it', async () => {
      const a = sample('libpng', '1.6.43');
      const z = sample('zlib', '1.3.1');
      const ng = sample('zlib-ng', '2.2.0', { provides: [{ name: 'zlib-compat', version: '1.3.1' }] });
      for (const f of [a, z, ng]) await repo.put(f);
      expect((await repo.candidates(['zlib', 'zlib-compat'])).map((f) => f.id).sort()).toEqual([z.id, ng.id].sort());
      expect((await repo.candidates(['libpng-virtual'])).map((f) => f.id)).toEqual([a.id]);
      expect(await repo.candidates([])).toEqual([]);
      expect(await repo.candidates(['nothing'])).toEqual([]);
    });
    it('stores many at once, counting new and existing, and remembers the sets it stored', async () => {
      const many = Array.from({ length: 120 }, (_, i) =>
        sample(`pkg${i % 40}`, `1.${Math.floor(i / 40)}.0`, { provides: [{ name: 'virtual-many' }] }),
      );
      const first = many.slice(0, 50);
      const setOf = (fs: Fragment[]) => fragmentSetDigest(fs.map((f) => f.id));
      expect(await repo.storedSets([setOf(first), setOf(many)])).toEqual([false, false]);
      expect(await repo.putMany(first)).toEqual({ created: 50, existing: 0 });
      expect(await repo.storedSets([setOf(first), setOf(many), setOf([...first].reverse())])).toEqual([
        true,
        false,
        true,
      ]);
      expect(await repo.putMany(many)).toEqual({ created: 70, existing: 50 });
      expect(await repo.putMany([])).toEqual({ created: 0, existing: 0 });
      expect(await repo.storedSets([setOf(many)])).toEqual([true]);
      for (const f of many) expect((await repo.get(f.id))?.id).toBe(f.id);
      expect((await repo.byName('pkg7')).map((f) => f.descriptor.version).sort()).toEqual(['1.0.0', '1.1.0', '1.2.0']);
      expect((await repo.candidates(['virtual-many'])).length).toBe(120);
      expect((await repo.candidates(['pkg3', 'pkg4'])).map((f) => f.id).sort()).toEqual(
        many
          .filter((f) => ['pkg3', 'pkg4'].includes(f.descriptor.name))
          .map((f) => f.id)
          .sort(),
      );
    }, 60_000);
    it('loses no fragment when many versions of one name are stored concurrently', async () => {
      const vs = Array.from({ length: 12 }, (_, i) =>
        sample('raced', `2.${i}.0`, { provides: [{ name: 'raced-virtual' }] }),
      );
      await Promise.all([...vs.map((f) => repo.put(f)), repo.putMany(vs.slice(0, 6)), repo.putMany(vs.slice(6))]);
      expect((await repo.byName('raced')).map((f) => f.id).sort()).toEqual(vs.map((f) => f.id).sort());
      expect((await repo.candidates(['raced-virtual'])).map((f) => f.id).sort()).toEqual(vs.map((f) => f.id).sort());
    }, 60_000);
  });
}

export function trustStoreConformance(name: string, make: () => Promise<TrustStore>): void {
  const key = (n: string, fill = 1) => ({
    name: n,
    publicKey: Buffer.alloc(32, fill).toString('base64'),
    scopes: ['*'],
    revoked: false,
  });
  describe(`TrustStore conformance: ${name}`, () => {
    let trust: TrustStore;
    beforeEach(async () => {
      trust = await make();
    });

    it('adds, lists and updates scopes of keys', async () => {
      await trust.add(key('b'));
      await trust.add(key('a'));
      await trust.add({ ...key('a'), scopes: ['lib*'] });
      expect((await trust.list()).map((k) => k.name)).toEqual(['a', 'b']);
      expect((await trust.get('a'))?.scopes).toEqual(['lib*']);
    });
    it('revokes keys for good: re-adding does not un-revoke', async () => {
      await trust.add(key('a'));
      await trust.revoke('a', '2026-01-01T00:00:00Z');
      await trust.add(key('a'));
      expect(await trust.get('a')).toMatchObject({ revoked: true, revokedAt: '2026-01-01T00:00:00Z' });
      expect(isLseError(await errorOf(trust.revoke('zz', 'x')), 'KEY_UNTRUSTED')).toBe(true);
    });
    it('refuses a different key under a trusted name', async () => {
      await trust.add(key('a', 1));
      expect(isLseError(await errorOf(trust.add(key('a', 2))), 'KEY_INVALID')).toBe(true);
    });
  });
}

export function baseRepositoryConformance(name: string, make: () => Promise<BaseRepository>): void {
  const base = (n: number): BaseImage => ({
    digest: sha256Digest(`base-${n}`),
    config: { architecture: 'amd64', os: 'linux' },
    configDigest: sha256Digest(`cfg-${n}`),
    layers: [],
    platform: { os: 'linux', arch: 'amd64' },
    source: { type: 'test' },
  });
  describe(`BaseRepository conformance: ${name}`, () => {
    let repo: BaseRepository;
    beforeEach(async () => {
      repo = await make();
    });

    it('stores bases by digest and moves tags between them', async () => {
      await repo.put(base(1));
      await repo.put(base(2));
      expect(await repo.get(base(1).digest)).toEqual(base(1));
      await repo.tag('minimal', 'latest', base(1).digest);
      expect(await repo.resolveTag('minimal', 'latest')).toBe(base(1).digest);
      await repo.tag('minimal', 'latest', base(2).digest);
      expect(await repo.resolveTag('minimal', 'latest')).toBe(base(2).digest);
      expect(await repo.resolveTag('minimal', 'old')).toBeUndefined();
      expect(await repo.tags()).toEqual([{ name: 'minimal', tag: 'latest', digest: base(2).digest }]);
    });
    it('refuses to tag an unknown digest', async () => {
      expect(isLseError(await errorOf(repo.tag('x', 'latest', sha256Digest('nope'))), 'BASE_UNKNOWN')).toBe(true);
    });
    it('keeps the package list of a base; completes a record stored without one, never replaces one', async () => {
      const packages = [{ name: 'dash', version: '0.5.12-2', provides: [{ name: 'sh' }], depends: 'libc6 (>= 2.34)' }];
      await repo.put(base(3));
      await repo.put({ ...base(3), packages });
      expect((await repo.get(base(3).digest))?.packages).toEqual(packages);
      await repo.put({ ...base(3), packages: [] });
      await repo.put(base(3));
      expect((await repo.get(base(3).digest))?.packages).toEqual(packages);
    });
  });
}

export function synthesisRepositoryConformance(name: string, make: () => Promise<SynthesisRepository>): void {
  const rec = (id: string): SynthesisRecord => ({
    id,
    status: 'pending',
    stage: 'requested',
    manifestName: 'web-api',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  });
  describe(`SynthesisRepository conformance: ${name}`, () => {
    let repo: SynthesisRepository;
    beforeEach(async () => {
      repo = await make();
    });

    it('creates once and records progress while pending', async () => {
      expect(await repo.create(rec('s1'))).toBe('created');
      expect(await repo.create({ ...rec('s1'), manifestName: 'other' })).toBe('exists');
      await repo.progress('s1', { stage: 'resolved', key: sha256Digest('k'), at: '2026-01-01T00:00:01.000Z' });
      expect(await repo.get('s1')).toMatchObject({
        status: 'pending',
        stage: 'resolved',
        key: sha256Digest('k'),
        manifestName: 'web-api',
      });
      expect(await repo.get('nope')).toBeUndefined();
    });
    it('finishes exactly once, however often it is asked', async () => {
      await repo.create(rec('s2'));
      const result = { manifestDigest: sha256Digest('m') };
      const wins = await Promise.all(
        [1, 2, 3].map(() => repo.finish('s2', { status: 'completed', at: '2026-01-01T00:00:02.000Z', result })),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect(
        await repo.finish('s2', {
          status: 'failed',
          at: '2026-01-01T00:00:03.000Z',
          error: { code: 'X', message: 'late', stage: 'verified' },
        }),
      ).toBe(false);
      expect(await repo.get('s2')).toMatchObject({ status: 'completed', result });
      await repo.progress('s2', { stage: 'fetched', at: '2026-01-01T00:00:04.000Z' });
      expect((await repo.get('s2'))?.status).toBe('completed');
      expect(await repo.finish('absent', { status: 'completed', at: 'x' })).toBe(false);
    });
    it('finds a completed synthesis by key (the result cache), never a pending or failed one', async () => {
      const key = sha256Digest('lock');
      for (const id of ['a', 'b', 'c']) {
        await repo.create(rec(id));
        await repo.progress(id, { stage: 'resolved', key, at: '2026-01-01T00:00:01.000Z' });
      }
      expect(await repo.completedByKey(key)).toBeUndefined();
      await repo.finish('a', {
        status: 'failed',
        at: '2026-01-01T00:00:02.000Z',
        error: { code: 'X', message: 'm', stage: 'verified' },
      });
      expect(await repo.completedByKey(key)).toBeUndefined();
      await repo.finish('b', {
        status: 'completed',
        at: '2026-01-01T00:00:03.000Z',
        result: { manifestDigest: sha256Digest('m') },
      });
      expect((await repo.completedByKey(key))?.id).toBe('b');
    });

    it("finishing with a result gives a record without a key the result's key and stage 'assembled'", async () => {
      const key = sha256Digest('lock-of-a-repeat');
      await repo.create(rec('r'));
      expect(
        await repo.finish('r', {
          status: 'completed',
          at: '2026-01-01T00:00:03.000Z',
          result: { manifestDigest: sha256Digest('m'), key },
        }),
      ).toBe(true);
      expect(await repo.get('r')).toMatchObject({ status: 'completed', stage: 'assembled', key });
      expect((await repo.completedByKey(key))?.id).toBe('r');
    });
  });
}

export function leaseRepositoryConformance(name: string, make: () => Promise<LeaseRepository>): void {
  describe(`LeaseRepository conformance: ${name}`, () => {
    let repo: LeaseRepository;
    beforeEach(async () => {
      repo = await make();
    });

    it('puts, renews, lists and releases leases', async () => {
      const blobs = [sha256Digest('l1'), sha256Digest('m1')];
      await repo.put({ synthesisId: 's1', key: sha256Digest('k1'), expiresAt: '2026-01-01T00:10:00.000Z', blobs });
      await repo.put({ synthesisId: 's2', key: sha256Digest('k2'), expiresAt: '2026-01-01T00:05:00.000Z', blobs: [] });
      expect(await repo.renew('s2', '2026-01-01T01:00:00.000Z')).toBe(true);
      expect((await repo.get('s2'))?.expiresAt).toBe('2026-01-01T01:00:00.000Z');
      expect((await repo.get('s1'))?.blobs).toEqual(blobs);
      expect((await repo.list()).map((l) => l.synthesisId).sort()).toEqual(['s1', 's2']);
      await repo.release('s1');
      await repo.release('s1');
      expect(await repo.get('s1')).toBeUndefined();
      expect(await repo.renew('s1', '2026-01-01T02:00:00.000Z')).toBe(false);
      expect((await repo.list()).map((l) => l.synthesisId)).toEqual(['s2']);
    });
  });
}

export function layerRecordRepositoryConformance(name: string, make: () => Promise<LayerRecordRepository>): void {
  const rec = (n: number): LayerRecord => ({
    key: sha256Digest(`inputs-${n}`),
    digest: sha256Digest(`layer-${n}`),
    diffId: sha256Digest(`diff-${n}`),
    size: 1000 + n,
    fragments: [sha256Digest(`f-${n}-a`), sha256Digest(`f-${n}-b`)],
  });
  describe(`LayerRecordRepository conformance: ${name}`, () => {
    let repo: LayerRecordRepository;
    beforeEach(async () => {
      repo = await make();
    });

    it('stores a record once under its key and hands out copies', async () => {
      expect(await repo.get(rec(1).key)).toBeUndefined();
      expect(await repo.put(rec(1))).toBe('created');
      expect(await repo.get(rec(1).key)).toEqual(rec(1));
      // insert-once: a second record under the key changes nothing
      expect(await repo.put({ ...rec(2), key: rec(1).key })).toBe('exists');
      expect(await repo.get(rec(1).key)).toEqual(rec(1));
      const copy = (await repo.get(rec(1).key))!;
      copy.fragments.push('changed');
      expect(await repo.get(rec(1).key)).toEqual(rec(1));
      expect(await repo.get(rec(2).key)).toBeUndefined();
    });
    it('lets exactly one of concurrent puts of a key create it', async () => {
      const outcomes = await Promise.all([1, 2, 3, 4].map((n) => repo.put({ ...rec(n), key: rec(9).key })));
      expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
      const stored = await repo.get(rec(9).key);
      expect([1, 2, 3, 4].map((n) => ({ ...rec(n), key: rec(9).key }))).toContainEqual(stored);
    });
  });
}

export function verdictRepositoryConformance(name: string, make: () => Promise<VerdictRepository>): void {
  const verdict = (n: number, gen = sha256Digest('generation-1')): FragmentVerdict => {
    const fragment = sha256Digest(`fragment-${n}`);
    return {
      id: verdictId(fragment, gen),
      fragment,
      trustGeneration: gen,
      keyName: 'acme-1',
      verifiedAt: '2026-01-01T00:00:00.000Z',
      // derived Debian metadata: dotted keys and arrays of arrays must survive (FerretDB 1.x stores neither as such)
      derived: {
        files: [{ path: 'usr/bin/x', type: 'file', mode: 0o755, uid: 0, gid: 0, size: 3, digest: sha256Digest('abc') }],
        metadata: {
          debian: { control: { Package: 'x', 'Multi-Arch': 'same' }, 'conf.d': [[1, 2], [3]] },
          allowSetuid: true,
        },
      },
      files: { 'usr/share/base-passwd/passwd.master': Buffer.from('root:x:0:0::/root:/bin/sh\n').toString('base64') },
    };
  };
  describe(`VerdictRepository conformance: ${name}`, () => {
    let repo: VerdictRepository;
    beforeEach(async () => {
      repo = await make();
    });

    it('stores a verdict once per fragment and trust generation', async () => {
      const v = verdict(1);
      expect(await repo.get(v.id)).toBeUndefined();
      expect(await repo.put(v)).toBe('created');
      expect(await repo.get(v.id)).toEqual(v);
      expect(await repo.put({ ...v, keyName: 'other' })).toBe('exists');
      expect((await repo.get(v.id))?.keyName).toBe('acme-1');
      // another generation is another verdict
      const next = verdict(1, sha256Digest('generation-2'));
      expect(await repo.get(next.id)).toBeUndefined();
      expect(await repo.put({ ...next, derived: undefined, files: undefined } as FragmentVerdict)).toBe('created');
      expect(await repo.get(next.id)).toEqual({
        id: next.id,
        fragment: next.fragment,
        trustGeneration: next.trustGeneration,
        keyName: 'acme-1',
        verifiedAt: next.verifiedAt,
      });
      const copy = (await repo.get(v.id))!;
      copy.derived!.files.pop();
      expect(await repo.get(v.id)).toEqual(v);
    });
    it('lets exactly one of concurrent puts of an id create it', async () => {
      const v = verdict(7);
      const outcomes = await Promise.all(['a', 'b', 'c'].map((k) => repo.put({ ...v, keyName: k })));
      expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
      expect(['a', 'b', 'c']).toContain((await repo.get(v.id))?.keyName);
    });
  });
}

export function debianReleaseLogConformance(name: string, make: () => Promise<DebianReleaseLog>): void {
  describe(`DebianReleaseLog conformance: ${name}`, () => {
    it('keeps the newest release per suite; an older record changes nothing', async () => {
      const log = await make();
      const r = (suite: string, date: string, n: number): DebianReleaseRecord => ({
        suite,
        date,
        inRelease: sha256Digest(`in-release-${n}`),
      });
      expect(await log.newest('Debian/Debian/bookworm')).toBeUndefined();
      await log.record(r('Debian/Debian/bookworm', '2026-07-11T10:16:37.000Z', 1));
      await log.record(r('Debian/Debian/bookworm-updates', '2026-11-30T02:21:41.000Z', 2));
      expect(await log.newest('Debian/Debian/bookworm')).toEqual(
        r('Debian/Debian/bookworm', '2026-07-11T10:16:37.000Z', 1),
      );
      await log.record(r('Debian/Debian/bookworm', '2026-01-01T00:00:00.000Z', 3));
      expect((await log.newest('Debian/Debian/bookworm'))?.inRelease).toBe(sha256Digest('in-release-1'));
      await log.record(r('Debian/Debian/bookworm', '2026-08-01T00:00:00.000Z', 4));
      expect(await log.newest('Debian/Debian/bookworm')).toEqual(
        r('Debian/Debian/bookworm', '2026-08-01T00:00:00.000Z', 4),
      );
      expect((await log.newest('Debian/Debian/bookworm-updates'))?.inRelease).toBe(sha256Digest('in-release-2'));
    });

    it('says whether exactly a release (suite, date, InRelease) was recorded, older ones included', async () => {
      const log = await make();
      const rec = { suite: 'Debian/Debian/bookworm', date: '2026-07-11T10:16:37.000Z', inRelease: sha256Digest('a') };
      expect(await log.has(rec)).toBe(false);
      await log.record(rec);
      await log.record({ ...rec, date: '2026-08-01T00:00:00.000Z', inRelease: sha256Digest('b') });
      const older = { ...rec, date: '2026-01-01T00:00:00.000Z', inRelease: sha256Digest('c') };
      await log.record(older);
      expect(await log.has(rec)).toBe(true);
      expect(await log.has(older)).toBe(true);
      expect(await log.has({ ...rec, inRelease: sha256Digest('b') })).toBe(false);
      expect(await log.has({ ...rec, date: '2026-07-11T10:16:38.000Z' })).toBe(false);
      expect(await log.has({ ...rec, suite: 'Debian/Debian/trixie' })).toBe(false);
    });
  });
}
