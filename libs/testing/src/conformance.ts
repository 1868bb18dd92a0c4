/**
 * Port conformance suites: one suite per port, run against every implementation (memory, fs, and
 * the server adapters), so they all keep the same promises. Call inside a Jest spec file:
 *   blobStoreConformance('fs', async () => new FsBlobStore(tmp()))
 */
import { randomBytes } from 'node:crypto';
import {
  isLseError, sha256Digest, type BaseImage, type BaseRepository, type BlobStore, type Bus, type BusMessage, type Fragment,
  type FragmentRepository, type TrustStore,
} from '@lse/core';

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out.sort();
}

export function blobStoreConformance(name: string, make: () => Promise<BlobStore>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let store: BlobStore;
    beforeEach(async () => { store = await make(); });

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

export function fragmentRepositoryConformance(name: string, make: () => Promise<FragmentRepository>, sample: (name: string, version: string) => Fragment): void {
  describe(`FragmentRepository conformance: ${name}`, () => {
    let repo: FragmentRepository;
    beforeEach(async () => { repo = await make(); });

    it('stores immutable records, idempotently', async () => {
      const f = sample('libpng', '1.6.43');
      expect(await repo.put(f)).toBe('created');
      expect(await repo.put(f)).toBe('exists');
      expect(await repo.get(f.id)).toEqual(f);
      expect(await repo.get(sha256Digest('nothing'))).toBeUndefined();
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
  });
}

export function trustStoreConformance(name: string, make: () => Promise<TrustStore>): void {
  const key = (n: string, fill = 1) => ({ name: n, publicKey: Buffer.alloc(32, fill).toString('base64'), scopes: ['*'], revoked: false });
  describe(`TrustStore conformance: ${name}`, () => {
    let trust: TrustStore;
    beforeEach(async () => { trust = await make(); });

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
    digest: sha256Digest(`base-${n}`), config: { architecture: 'amd64', os: 'linux' }, configDigest: sha256Digest(`cfg-${n}`),
    layers: [], platform: { os: 'linux', arch: 'amd64' }, source: { type: 'test' },
  });
  describe(`BaseRepository conformance: ${name}`, () => {
    let repo: BaseRepository;
    beforeEach(async () => { repo = await make(); });

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
  });
}

export function busConformance(name: string, make: () => Promise<Bus>): void {
  describe(`Bus conformance: ${name}`, () => {
    it('delivers published messages with their headers to a subscriber, in order', async () => {
      const bus = await make();
      const got: BusMessage<{ n: number }>[] = [];
      const done = new Promise<void>((resolve) => {
        void bus.subscribe<{ n: number }>('lse.test.a', async (m) => { got.push(m); if (got.length === 3) resolve(); });
      });
      await new Promise((r) => setTimeout(r, 50));
      for (let n = 0; n < 3; n++) await bus.publish('lse.test.a', { n }, { 'lse-synthesis-id': `s${n}` });
      await done;
      expect(got.map((m) => m.data.n)).toEqual([0, 1, 2]);
      expect(got.map((m) => m.headers['lse-synthesis-id'])).toEqual(['s0', 's1', 's2']);
    });
  });
}
