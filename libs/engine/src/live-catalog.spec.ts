import {
  MemoryBaseRepository,
  MemoryCatalogFeed,
  MemoryFragmentRepository,
  MemoryTrustStore,
  MemoryBlobStore,
} from '@lse/adapter-memory';
import { CATALOG_SUBJECTS } from '@lse/contracts';
import { generateKeyPair, parseManifest, type Fragment } from '@lse/core';
import { fragmentEvents } from './catalog-events';
import { LiveCatalog } from './live-catalog';
import { silentLog } from './log';
import { buildFragment } from './pack';
import { resolveManifest } from './resolve-stage';

const key = generateKeyPair('live-test').secretKey;
const frag = (name: string, version: string, depends: string[] = []): Fragment =>
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
    version,
    scheme: 'semver',
    depends,
    key,
    epoch: 0,
    source: { type: 'test' },
  }).fragment;

/** Until `cond` holds (events are applied asynchronously, in order). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
}

describe('LiveCatalog', () => {
  it('loads the snapshot, then applies published fragments without reading the repository again', async () => {
    const fragments = new MemoryFragmentRepository();
    const bases = new MemoryBaseRepository();
    const feed = new MemoryCatalogFeed();
    await fragments.put(frag('lib', '1.0.0'));
    const live = await LiveCatalog.start({ fragments, bases, feed, log: silentLog });
    expect(live.byName('lib').map((f) => f.descriptor.version)).toEqual(['1.0.0']);
    const reads = jest.spyOn(fragments, 'get');
    const app = frag('app', '2.0.0', ['lib ^1.0.0']);
    await fragments.put(app);
    for (const e of fragmentEvents([app], 'now')) await feed.append(CATALOG_SUBJECTS.fragmentsPublished, e);
    await until(() => live.generation === 1);
    expect(live.byName('app').map((f) => f.id)).toEqual([app.id]);
    expect(reads).not.toHaveBeenCalled();
    const manifest = parseManifest(
      'apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: m }\nbase: scratch\nrequire: [{ name: app }]\n',
    );
    const ports = {
      fragments,
      bases,
      trust: new MemoryTrustStore(),
      origin: new MemoryBlobStore(),
      cache: new MemoryBlobStore(),
      layers: new MemoryBlobStore(),
      catalog: async () => live,
    };
    const candidates = jest.spyOn(fragments, 'candidates');
    const { lock } = await resolveManifest(ports, manifest);
    expect(lock.fragments.map((f) => f.name)).toEqual(['lib', 'app']);
    expect(candidates).not.toHaveBeenCalled();
    await live.stop();
  });

  it('replays events stored after its recorded position: a fragment published while it loads is not missed, nor indexed twice', async () => {
    const fragments = new MemoryFragmentRepository();
    const feed = new MemoryCatalogFeed();
    const a = frag('a', '1.0.0');
    await fragments.put(a);
    for (const e of fragmentEvents([a], 'now')) await feed.append(CATALOG_SUBJECTS.fragmentsPublished, e);
    const b = frag('b', '1.0.0');
    const list = fragments.list.bind(fragments);
    jest.spyOn(fragments, 'list').mockImplementation(async () => {
      const snapshot = await list(); // read before b is stored...
      await fragments.put(b); // ...b is stored and announced (with a again) while the snapshot loads
      for (const e of fragmentEvents([a, b], 'now')) await feed.append(CATALOG_SUBJECTS.fragmentsPublished, e);
      return snapshot;
    });
    const live = await LiveCatalog.start({ fragments, bases: new MemoryBaseRepository(), feed, log: silentLog });
    await until(() => live.generation === 2);
    expect(live.size).toBe(2);
    expect(live.byName('a')).toHaveLength(1);
    expect(live.byName('b').map((f) => f.id)).toEqual([b.id]);
    await live.stop();
  });

  it('fetches records announced by id only, and ignores carried records whose id does not match', async () => {
    const fragments = new MemoryFragmentRepository();
    const feed = new MemoryCatalogFeed();
    const live = await LiveCatalog.start({
      fragments,
      bases: new MemoryBaseRepository(),
      feed,
      log: silentLog,
      retryMs: 1,
    });
    const big = frag('big', '1.0.0');
    await fragments.put(big);
    await feed.append(CATALOG_SUBJECTS.fragmentsPublished, { v: 1, ids: [big.id], publishedAt: 'now' });
    const real = frag('real', '1.0.0');
    const forged = { ...real, descriptor: { ...real.descriptor, name: 'forged' } };
    await feed.append(CATALOG_SUBJECTS.fragmentsPublished, {
      v: 1,
      ids: [forged.id],
      fragments: [forged],
      publishedAt: 'now',
    });
    await until(() => live.generation === 2);
    expect(live.byName('big').map((f) => f.id)).toEqual([big.id]);
    expect(live.byName('forged')).toEqual([]); // not stored under that id either, so nothing to index
    await live.stop();
  });

  it('follows base tags from events', async () => {
    const fragments = new MemoryFragmentRepository();
    const bases = new MemoryBaseRepository();
    const feed = new MemoryCatalogFeed();
    const live = await LiveCatalog.start({ fragments, bases, feed, log: silentLog });
    const digest = `sha256:${'a'.repeat(64)}`;
    await bases.put({
      digest,
      config: {},
      configDigest: digest,
      layers: [],
      platform: { os: 'linux', arch: 'amd64' },
      source: {},
      packages: [{ name: 'dash', version: '0.5.12-2' }],
    });
    await bases.tag('min', 'latest', digest);
    await feed.append(CATALOG_SUBJECTS.baseTagged, { v: 1, name: 'min', tag: 'latest', digest, at: 'now' });
    await until(() => live.generation === 1);
    const getBase = jest.spyOn(bases, 'get');
    const resolveTag = jest.spyOn(bases, 'resolveTag');
    expect(await live.bases.resolveTag('min', 'latest')).toBe(digest);
    expect((await live.bases.get(digest))?.packages).toEqual([{ name: 'dash', version: '0.5.12-2' }]);
    expect(getBase).not.toHaveBeenCalled();
    expect(resolveTag).not.toHaveBeenCalled();
    await live.stop();
  });
});

describe('fragmentEvents', () => {
  it('batches records under the size limit, every id once, in order', () => {
    const fs = Array.from({ length: 40 }, (_, i) => frag(`p${i}`, '1.0.0'));
    const one = Buffer.byteLength(JSON.stringify(fs[0]));
    const events = fragmentEvents(fs, 'now', one * 10);
    expect(events.length).toBeGreaterThan(3);
    for (const e of events) expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThanOrEqual(one * 10 + 200);
    expect(events.flatMap((e) => e.ids)).toEqual(fs.map((f) => f.id));
    expect(events.flatMap((e) => e.fragments ?? []).map((f) => f.id)).toEqual(fs.map((f) => f.id));
  });

  it('sends a record too large for a message as its id alone', () => {
    const f = frag('huge', '1.0.0');
    const events = fragmentEvents([f], 'now', 100);
    expect(events).toEqual([{ v: 1, ids: [f.id], publishedAt: 'now' }]);
  });
});
