import { generateKeyPair, sha256Digest, type FragmentRepository, type LayerRecord } from '@lse/core';
import {
  MemoryBaseRepository,
  MemoryBlobStore,
  MemoryFragmentRepository,
  MemoryLayerRecordRepository,
  MemoryTrustStore,
  MemoryVerdictRepository,
} from '@lse/adapter-memory';
import { buildFragment } from './pack';
import { LruMap, memoizeImmutableRecords } from './memo';
import type { EnginePorts } from './ports';

function counting<T extends object>(target: T, calls: string[]): T {
  return new Proxy(target, {
    get(t, prop, recv) {
      const v = Reflect.get(t, prop, recv) as unknown;
      return typeof v === 'function'
        ? (...args: unknown[]) => {
            calls.push(String(prop));
            return (v as (...a: unknown[]) => unknown).apply(t, args);
          }
        : v;
    },
  });
}

function setup() {
  const calls: string[] = [];
  const fragments = counting<FragmentRepository>(new MemoryFragmentRepository(), calls);
  const layerRecords = counting(new MemoryLayerRecordRepository(), calls);
  const verdicts = counting(new MemoryVerdictRepository(), calls);
  const raw: EnginePorts = {
    fragments,
    layerRecords,
    verdicts,
    bases: new MemoryBaseRepository(),
    trust: new MemoryTrustStore(),
    origin: new MemoryBlobStore(),
    cache: new MemoryBlobStore(),
    layers: new MemoryBlobStore(),
  };
  return { raw, calls, ...memoizeImmutableRecords(raw, { max: 2 }) };
}

const fragment = (name: string) =>
  buildFragment({
    entries: [
      {
        path: `usr/share/${name}`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: 1,
        data: Buffer.from('x'),
      },
    ],
    name,
    version: '1.0.0',
    scheme: 'semver',
    depends: [],
    key: generateKeyPair('memo-test').secretKey,
    epoch: 0,
    source: { type: 'test' },
  }).fragment;

describe('LruMap', () => {
  it('keeps at most max entries, dropping the least recently used', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    expect(m.get('a')).toBe(1); // a is now the most recent
    m.set('c', 3);
    expect(m.get('b')).toBeUndefined();
    expect([m.get('a'), m.get('c'), m.size]).toEqual([1, 3, 2]);
  });
});

describe('memoizeImmutableRecords', () => {
  it('answers a fragment, a layer record and a verdict from memory once found, and asks again after a miss', async () => {
    const { raw, ports, calls, stats } = setup();
    const f = fragment('memo-a');
    expect(await ports.fragments.get(f.id)).toBeUndefined(); // a miss is not remembered...
    await raw.fragments.put(f);
    expect((await ports.fragments.get(f.id))?.id).toBe(f.id); // ...so the new record is found
    expect((await ports.fragments.get(f.id))?.id).toBe(f.id);
    expect(calls.filter((c) => c === 'get')).toHaveLength(2);
    const rec: LayerRecord = {
      key: sha256Digest('inputs'),
      digest: sha256Digest('layer'),
      diffId: sha256Digest('diff'),
      size: 3,
      fragments: [f.id],
    };
    await ports.layerRecords!.put(rec);
    await ports.verdicts!.put({
      id: `${f.id}@g1`,
      fragment: f.id,
      trustGeneration: 'g1',
      keyName: 'memo-test',
      verifiedAt: '2026-12-01T00:00:00.000Z',
    });
    for (let i = 0; i < 3; i++) {
      expect((await ports.layerRecords!.get(rec.key))?.digest).toBe(rec.digest);
      expect((await ports.verdicts!.get(`${f.id}@g1`))?.keyName).toBe('memo-test');
    }
    expect(await ports.verdicts!.get(`${f.id}@g2`)).toBeUndefined(); // another trust generation: its own id
    expect(stats.hits).toMatchObject({ fragments: 1, verdicts: 2, layerRecords: 2 });
    expect(stats.misses).toMatchObject({ fragments: 2, verdicts: 2, layerRecords: 1 });
  });

  it('shares one repository read between concurrent lookups of one id, and keeps at most max per kind', async () => {
    const { raw, ports, calls } = setup();
    const fs = ['memo-1', 'memo-2', 'memo-3'].map(fragment);
    for (const f of fs) await raw.fragments.put(f);
    calls.length = 0;
    await Promise.all([ports.fragments.get(fs[0]!.id), ports.fragments.get(fs[0]!.id), ports.fragments.get(fs[0]!.id)]);
    expect(calls).toEqual(['get']);
    for (const f of fs) await ports.fragments.get(f.id); // memo-1 is pushed out by memo-3 (max 2)
    calls.length = 0;
    await ports.fragments.get(fs[0]!.id);
    await ports.fragments.get(fs[2]!.id);
    expect(calls).toEqual(['get']);
  });

  it("remembers the fragment cache's blobs found present or stored, not absent ones, and forgets a deleted one", async () => {
    const { raw, ports, stats } = setup();
    const blob = Buffer.from('fragment bytes');
    const digest = sha256Digest(blob);
    expect(await ports.cache.has(digest)).toBe(false);
    await raw.cache.put(digest, blob, blob.length); // stored by another process
    expect(await ports.cache.has(digest)).toBe(true); // a miss was not remembered
    expect(await ports.cache.has(digest)).toBe(true);
    expect(stats.hits.cachePresence).toBe(1);
    await ports.cache.delete(digest);
    expect(await ports.cache.has(digest)).toBe(false);
    const other = Buffer.from('other bytes');
    await ports.cache.put(sha256Digest(other), other, other.length);
    expect(await ports.cache.has(sha256Digest(other))).toBe(true);
    expect(stats.hits.cachePresence).toBe(2);
    expect((await ports.cache.get(sha256Digest(other))).toString()).toBe('other bytes');
  });

  it('passes every other call through to the repositories', async () => {
    const { raw, ports } = setup();
    const f = fragment('memo-pass');
    expect(await ports.fragments.put(f)).toBe('created');
    expect((await raw.fragments.byName('memo-pass')).map((x) => x.id)).toEqual([f.id]);
    expect((await ports.fragments.byName('memo-pass')).map((x) => x.id)).toEqual([f.id]);
    expect((await ports.fragments.list()).length).toBe(1);
    expect(ports.bases).toBe(raw.bases);
  });
});
