import { LseError, sha256Digest, type BlobStore } from '@lse/core';
import { MemoryBlobStore } from '@lse/adapter-memory';
import { TamperableMemoryBlobStore } from '@lse/adapter-memory/testing';
import { TieredBlobStore } from './tiered-store';

const blob = (s: string) => ({ data: Buffer.from(s), digest: sha256Digest(Buffer.from(s)) });

/** A store that counts reads, to see which tier was asked. */
class Counting extends TamperableMemoryBlobStore {
  gets = 0;
  override async get(digest: string): Promise<Buffer> {
    this.gets++;
    return super.get(digest);
  }
}

function setup() {
  const local = new MemoryBlobStore();
  const a = new Counting();
  const c = new Counting();
  const origin = new Counting();
  const store = new TieredBlobStore({
    region: 'b',
    name: 'fragments',
    local,
    tiers: [
      { kind: 'peer', name: 'a', store: a },
      { kind: 'peer', name: 'c', store: c },
      { kind: 'origin', name: 'origin', store: origin },
    ],
  });
  return { local, a, c, origin, store };
}

describe('TieredBlobStore', () => {
  it('copies a blob missing locally once from the first peer that has it, then serves it locally', async () => {
    const { local, a, c, store } = setup();
    const x = blob('layer x');
    await a.put(x.digest, x.data);
    await c.put(x.digest, x.data);
    expect(await store.has(x.digest)).toBe(true);
    expect(await local.has(x.digest)).toBe(true);
    expect((await store.get(x.digest)).equals(x.data)).toBe(true);
    expect(await store.stat(x.digest)).toBe(x.data.length);
    expect([a.gets, c.gets]).toEqual([1, 0]);
    expect(store.stats()).toEqual([
      { tier: 'peer', source: 'a', lookups: 1, bytes: x.data.length },
      { tier: 'region', source: 'b', lookups: 2, bytes: x.data.length },
    ]);
    expect(store.copiedBytes()).toBe(x.data.length);
  });

  it('asks peers in the configured order, then the origin; concurrent lookups share one copy', async () => {
    const { a, c, origin, store } = setup();
    const y = blob('only in c');
    const z = blob('only in the origin');
    await c.put(y.digest, y.data);
    await origin.put(z.digest, z.data);
    await Promise.all([store.get(y.digest), store.get(y.digest), store.has(y.digest)]);
    expect(await store.has(z.digest)).toBe(true);
    expect([a.gets, c.gets, origin.gets]).toEqual([2, 2, 1]); // y: a (miss), c (one copy for three lookups); z: a, c, origin
    expect(store.stats().filter((s) => s.tier !== 'region')).toEqual([
      { tier: 'origin', source: 'origin', lookups: 1, bytes: z.data.length },
      { tier: 'peer', source: 'c', lookups: 1, bytes: y.data.length },
    ]);
  });

  it('refuses altered bytes from a peer: never stored nor served; intact bytes further on are taken', async () => {
    const { local, a, origin, store } = setup();
    const x = blob('signed content');
    await a.put(x.digest, x.data);
    a.tamper(x.digest, Buffer.from('evil content'));
    await expect(store.get(x.digest)).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    expect(await local.has(x.digest)).toBe(false);
    expect(store.stats()).toContainEqual({ tier: 'refused', source: 'a', lookups: 1, bytes: 0 });
    await origin.put(x.digest, x.data);
    expect((await store.get(x.digest)).equals(x.data)).toBe(true);
    expect((await local.get(x.digest)).equals(x.data)).toBe(true);
  });

  it('a missing blob is absent; a tier that did not answer makes the lookup retryable, not absent', async () => {
    const { store } = setup();
    const x = blob('nowhere');
    expect(await store.has(x.digest)).toBe(false);
    expect(store.stats()).toContainEqual({ tier: 'miss', source: 'b', lookups: 1, bytes: 0 });
    const down: BlobStore = {
      ...new MemoryBlobStore(),
      get: async () => {
        throw new LseError('UNAVAILABLE', 'S3 GetObject: no answer');
      },
    } as unknown as BlobStore;
    const flaky = new TieredBlobStore({
      region: 'b',
      name: 'layers',
      local: new MemoryBlobStore(),
      tiers: [{ kind: 'peer', name: 'a', store: down }],
    });
    await expect(flaky.has(x.digest)).rejects.toMatchObject({ code: 'UNAVAILABLE', retryable: true });
  });

  it('writes, deletes and lists only locally', async () => {
    const { local, a, store } = setup();
    const x = blob('built here');
    await store.put(x.digest, x.data);
    expect(await local.has(x.digest)).toBe(true);
    expect(await a.has(x.digest)).toBe(false);
    const listed: string[] = [];
    for await (const d of store.list()) listed.push(d);
    expect(listed).toEqual([x.digest]);
    await store.delete(x.digest);
    expect(await local.has(x.digest)).toBe(false);
  });
});
