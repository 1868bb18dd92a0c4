/**
 * The snapshotter and the fragment cache on a temporary directory with memory adapters (no
 * containerd): the extract path, the remote-snapshot path from the cache, mounts, Remove keeping
 * shared directories, the collector, and refusal of an altered fragment blob.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LseError,
  buildLayer,
  generateKeyPair,
  publicKeyOf,
  readTar,
  sha256Digest,
  type BlobStore,
  type SecretKey,
} from '@lse/core';
import { MemoryBaseRepository, MemoryBlobStore, MemoryFragmentRepository, MemoryTrustStore } from '@lse/adapter-memory';
import { buildFragment, silentLog, type EnginePorts } from '@lse/engine';
import { FragmentCache } from './cache';
import { Snapshotter, chainId } from './snapshotter';
import { StateFile } from './state';

const file = (path: string, content: string) => ({
  path,
  type: 'file' as const,
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: content.length,
  data: Buffer.from(content),
});

/** A cache store whose bytes for one digest were altered (reads are not verified here, so the node's own check must catch it). */
class AlteringStore implements BlobStore {
  constructor(
    private readonly inner: MemoryBlobStore,
    readonly altered = new Set<string>(),
  ) {}
  put(d: string, b: Buffer, s?: number) {
    return this.inner.put(d, b, s);
  }
  async get(d: string) {
    const b = Buffer.from(await this.inner.get(d));
    if (this.altered.has(d)) b[b.length - 1] ^= 0xff;
    return b;
  }
  has(d: string) {
    return this.inner.has(d);
  }
  stat(d: string) {
    return this.inner.stat(d);
  }
  delete(d: string) {
    return this.inner.delete(d);
  }
  list() {
    return this.inner.list();
  }
}

describe('lse-node snapshotter and fragment cache', () => {
  let root: string;
  let st: StateFile;
  let sn: Snapshotter;
  let cache: FragmentCache;
  let ports: EnginePorts;
  let store: AlteringStore;
  let key: SecretKey;
  const frags: Record<string, { id: string; digest: string; entries: ReturnType<typeof readTar> }> = {};

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'lse-node-unit-'));
    st = await StateFile.open(root);
    sn = new Snapshotter(root, st);
    store = new AlteringStore(new MemoryBlobStore());
    ports = {
      fragments: new MemoryFragmentRepository(),
      bases: new MemoryBaseRepository(),
      trust: new MemoryTrustStore(),
      origin: store,
      cache: store,
      layers: new MemoryBlobStore(),
    };
    key = generateKeyPair('node-unit').secretKey;
    await ports.trust.add({
      name: 'node-unit',
      publicKey: publicKeyOf(key).key.toString('base64'),
      scopes: ['*'],
      revoked: false,
    });
    for (const name of ['liba', 'libb', 'bad', 'libc', 'libd']) {
      const { fragment, blob } = buildFragment({
        entries: [file(`usr/share/${name}/data`, `${name}\n`)],
        name,
        version: '1.0.0',
        scheme: 'semver',
        key,
        epoch: 0,
        source: { type: 'test' },
      });
      await ports.fragments.put(fragment);
      await store.put(fragment.descriptor.blob.digest, blob);
      frags[name] = { id: fragment.id, digest: fragment.descriptor.blob.digest, entries: readTar(blob) };
    }
    cache = new FragmentCache(root, st, { ports, layers: ports.layers }, silentLog);
  });

  const diffIdOf = (...names: string[]) =>
    buildLayer(
      names.map((n) => ({ entries: frags[n]!.entries })),
      { mtime: 0 },
    ).diffId;

  it('extract path: prepare, commit, a child overlays the parent; remove refuses a parent with children', async () => {
    const m = await sn.prepare('ns/1/extract-a sha256:x', '', {});
    expect(m).toEqual([{ type: 'bind', source: join(root, 's/1/fs'), options: ['rbind', 'rw'] }]);
    await sn.commit('ns/2/base', 'ns/1/extract-a sha256:x', {});
    expect(sn.info('ns/2/base').kind).toBe('committed');
    const child = await sn.prepare('ns/3/ctr', 'ns/2/base', { a: '1' });
    expect(child[0]!.type).toBe('overlay');
    expect(child[0]!.options).toContain(`upperdir=${join(root, 's/2/fs')}`);
    expect(child[0]!.options).toContain(`lowerdir=${join(root, 's/1/fs')}`);
    await expect(sn.prepare('ns/3/ctr', 'ns/2/base', {})).rejects.toMatchObject({ code: 'SNAPSHOT_EXISTS' });
    await expect(sn.remove('ns/2/base')).rejects.toMatchObject({ code: 'SNAPSHOT_IN_USE' });
    expect((await sn.update('ns/3/ctr', { b: '2' }, ['labels.b'])).labels).toEqual({ a: '1', b: '2' });
    const view = await sn.prepare('ns/4/view', 'ns/2/base', {}, 'view');
    expect(view).toEqual([{ type: 'bind', source: join(root, 's/1/fs'), options: ['rbind', 'ro'] }]);
    await sn.remove('ns/4/view');
    await sn.remove('ns/3/ctr');
    expect(existsSync(join(root, 's/2'))).toBe(false);
    await sn.remove('ns/2/base');
    await expect(sn.mounts('ns/2/base')).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  });

  it('serves committed snapshots from verified fragment directories (ALREADY_EXISTS), shared across chains; Remove keeps the directories', async () => {
    const a = diffIdOf('liba');
    const b = diffIdOf('libb');
    await cache.ensureFragmentLayer(a, [frags['liba']!.id], 0);
    await cache.ensureFragmentLayer(b, [frags['libb']!.id], 0);
    expect(st.state.counters['fragmentsMaterialized']).toBe(2);
    const dirA = join(root, 'f', String(st.state.fragments[frags['liba']!.id]!.n));
    expect(readFileSync(join(dirA, 'usr/share/liba/data'), 'utf8')).toBe('liba\n');
    // a then b, and b then a: four committed snapshots over two directories
    const made: string[] = [];
    for (const order of [
      [a, b],
      [b, a],
    ]) {
      let parent = '';
      let chain = '';
      for (const d of order) {
        chain = chainId(chain, d);
        const target = `ns/9/${chain}`;
        await expect(
          sn.prepare(`ns/8/extract-${made.length} ${chain}`, parent, { 'containerd.io/snapshot.ref': target }),
        ).rejects.toMatchObject({ code: 'SNAPSHOT_EXISTS' });
        expect(sn.info(target).kind).toBe('committed');
        made.push(target);
        parent = target;
      }
    }
    expect(Object.keys(st.state.fragments)).toHaveLength(2);
    expect(cache.refCounts()).toEqual({ [frags['liba']!.id]: 2, [frags['libb']!.id]: 2 });
    const m = await sn.prepare('ns/10/ctr', made[1]!, {});
    const dirB = join(root, 'f', String(st.state.fragments[frags['libb']!.id]!.n));
    expect(m[0]!.options).toContain(`lowerdir=${dirB}:${dirA}`); // top first
    await sn.remove('ns/10/ctr');
    // The agent's seeding: the top chain ID as one committed snapshot whose layer is the whole stack.
    const top = chainId(chainId('', a), b);
    await sn.withFlatChain(top, [frags['libb']!.id, frags['liba']!.id], () =>
      expect(sn.prepare('ns/11/seed', '', { 'containerd.io/snapshot.ref': `ns/12/${top}` })).rejects.toMatchObject({
        code: 'SNAPSHOT_EXISTS',
      }),
    );
    expect(sn.info(`ns/12/${top}`)).toMatchObject({ kind: 'committed', parent: '' });
    expect((await sn.prepare('ns/13/ctr', `ns/12/${top}`, {}))[0]!.options).toContain(`lowerdir=${dirB}:${dirA}`);
    await sn.remove('ns/13/ctr');
    await sn.remove(`ns/12/${top}`);
    for (const k of [made[1]!, made[0]!, made[3]!]) await sn.remove(k);
    expect(existsSync(dirA) && existsSync(dirB)).toBe(true);
    expect(cache.refCounts()).toEqual({ [frags['liba']!.id]: 0, [frags['libb']!.id]: 1 }); // chain(b) is left
    // The collector removes the unreferenced directory only.
    expect(await cache.collect(0)).toEqual([frags['liba']!.id]);
    expect(existsSync(dirA)).toBe(false);
    expect(existsSync(dirB)).toBe(true);
  });

  it('never extracts a fragment whose blob was altered, and refuses a layer its fragments do not make', async () => {
    store.altered.add(frags['bad']!.digest);
    await expect(cache.ensureFragmentLayer(diffIdOf('bad'), [frags['bad']!.id], 0)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
    expect(st.state.fragments[frags['bad']!.id]).toBeUndefined();
    expect(st.state.counters['fragmentsRefused']).toBe(1);
    const wrong = sha256Digest(Buffer.from('not this layer'));
    const e = await cache.ensureFragmentLayer(wrong, [frags['libb']!.id], 0).catch((x: LseError) => x);
    expect((e as LseError).code).toBe('LAYER_MISMATCH');
    expect(st.state.layers[wrong]).toBeUndefined();
  });

  it('checks a layer of new fragments before extracting any of them, and records the layer with its last directory', async () => {
    const ids = [frags['libc']!.id, frags['libd']!.id];
    const wrong = diffIdOf('libc'); // the layer of libc alone, not of libc and libd
    await expect(cache.ensureFragmentLayer(wrong, ids, 0)).rejects.toMatchObject({ code: 'LAYER_MISMATCH' });
    expect(ids.filter((id) => st.state.fragments[id])).toEqual([]); // nothing extracted
    const right = diffIdOf('libc', 'libd');
    const before = st.state.counters['fragmentsMaterialized'] ?? 0;
    // A directory the state does not record under the next number (a crash before the state write) is replaced.
    const stale = join(root, 'f', String(st.state.next));
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, 'left-over'), 'x');
    await cache.ensureFragmentLayer(right, ids, 0);
    expect(st.state.fragments[frags['libc']!.id]!.n).toBe(Number(stale.split('/').pop()));
    expect(existsSync(join(stale, 'left-over'))).toBe(false);
    expect(readFileSync(join(stale, 'usr/share/libc/data'), 'utf8')).toBe('libc\n');
    expect(st.state.counters['fragmentsMaterialized']).toBe(before + 2);
    expect(st.state.layers[right]).toEqual([...ids].reverse()); // top first
    expect(cache.has(right)).toBe(true);
    const onDisk = await StateFile.open(root);
    expect(onDisk.state.layers[right]).toEqual([...ids].reverse());
    expect(Object.keys(onDisk.state.fragments)).toEqual(expect.arrayContaining(ids));
    const dir = join(root, 'f', String(st.state.fragments[frags['libd']!.id]!.n));
    expect(readFileSync(join(dir, 'usr/share/libd/data'), 'utf8')).toBe('libd\n');
    expect(st.state.fragments[frags['libd']!.id]!.bytes).toBe('libd\n'.length);
  });

  it('keeps its state across restarts', async () => {
    const again = await StateFile.open(root);
    expect(Object.keys(again.state.fragments)).toEqual(Object.keys(st.state.fragments));
    expect(Object.keys(again.state.snapshots).sort()).toEqual(Object.keys(st.state.snapshots).sort());
  });
});
