/**
 * Records that never change, remembered in process. A fragment record is named by the hash of its
 * descriptor, a layer record by the digest of its inputs, a verdict by fragment id and trust
 * generation; each is written once and never altered (the ports say so, and their conformance
 * suites test it). So a stage that has read one may keep it: a later synthesis sharing fragments
 * makes no database round trip for them. Only records that were found are kept (a miss is asked
 * again: it may be written meanwhile), at most `max` of each kind, the least recently used going
 * first. What is kept is what the repository returned; callers get the same object, so they must
 * not change it (the stages do not).
 *
 * A revoked key does not need forgetting: revocation changes the trust generation, and verdicts of
 * the new generation have other ids (verify-stage.ts).
 *
 * The fragment cache's `has` is remembered too, for digests found present (or just stored): the
 * fetcher then makes no HEAD for a blob it has seen in the cache. Nothing in LSE deletes from the
 * fragment cache (the collector works on the layer store), and a blob removed from it behind LSE's
 * back costs nothing but a fallback: the verifier and the assembler read the origin when the
 * cache does not have a blob (verify-stage.ts readBlob), and only bytes with the signed digest are
 * used.
 */
import type {
  BlobStore,
  Fragment,
  FragmentRepository,
  FragmentVerdict,
  LayerRecord,
  LayerRecordRepository,
  VerdictRepository,
} from '@lse/core';
import type { EnginePorts } from './ports';

/** A bounded map: get refreshes an entry, set evicts the least recently used one beyond `max`. */
export class LruMap<K, V> {
  private readonly m = new Map<K, V>();
  constructor(private readonly max: number) {}
  get size(): number {
    return this.m.size;
  }
  get(k: K): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  delete(k: K): void {
    this.m.delete(k);
  }
  set(k: K, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as K);
  }
}

type Kind = 'fragments' | 'verdicts' | 'layerRecords' | 'cachePresence';
/** Counts of answers from memory and from the repository, per kind (for metrics and tests). */
export interface MemoStats {
  hits: Record<Kind, number>;
  misses: Record<Kind, number>;
}

function remembering<T>(
  load: (k: string) => Promise<T | undefined>,
  lru: LruMap<string, T>,
  count: (hit: boolean) => void,
): (k: string) => Promise<T | undefined> {
  const inflight = new Map<string, Promise<T | undefined>>();
  return async (k) => {
    const have = lru.get(k);
    if (have !== undefined) {
      count(true);
      return have;
    }
    count(false);
    let p = inflight.get(k);
    if (!p) {
      p = load(k).finally(() => inflight.delete(k));
      inflight.set(k, p);
    }
    const v = await p;
    if (v !== undefined) lru.set(k, v);
    return v;
  };
}

/**
 * `ports` with `fragments.get`, `verdicts.get` and `layerRecords.get` answered from memory once an
 * id has been found; every other call goes to the repositories as before.
 */
export function memoizeImmutableRecords(
  ports: EnginePorts,
  opts: { max?: number } = {},
): { ports: EnginePorts; stats: MemoStats } {
  const max = opts.max ?? 20_000;
  const stats: MemoStats = {
    hits: { fragments: 0, verdicts: 0, layerRecords: 0, cachePresence: 0 },
    misses: { fragments: 0, verdicts: 0, layerRecords: 0, cachePresence: 0 },
  };
  const counter = (kind: keyof MemoStats['hits']) => (hit: boolean) => {
    (hit ? stats.hits : stats.misses)[kind]++;
  };

  const f = ports.fragments;
  const getFragment = remembering<Fragment>((id) => f.get(id), new LruMap(max), counter('fragments'));
  const fragments: FragmentRepository = {
    put: (x) => f.put(x),
    get: getFragment,
    byName: (n) => f.byName(n),
    list: () => f.list(),
    candidates: (n) => f.candidates(n),
    putMany: (xs) => f.putMany(xs),
    storedSets: (d) => f.storedSets(d),
  };
  const out: EnginePorts = { ...ports, fragments };
  if (ports.cache !== ports.origin) out.cache = rememberingPresence(ports.cache, max, counter('cachePresence'));
  if (ports.verdicts) {
    const v = ports.verdicts;
    const get = remembering<FragmentVerdict>((id) => v.get(id), new LruMap(max), counter('verdicts'));
    out.verdicts = { get, put: (x) => v.put(x) } satisfies VerdictRepository;
  }
  if (ports.layerRecords) {
    const l = ports.layerRecords;
    const get = remembering<LayerRecord>((k) => l.get(k), new LruMap(max), counter('layerRecords'));
    out.layerRecords = { get, put: (x) => l.put(x) } satisfies LayerRecordRepository;
  }
  return { ports: out, stats };
}

/** `store` whose `has` is answered from memory for digests found present or stored here. */
function rememberingPresence(store: BlobStore, max: number, count: (hit: boolean) => void): BlobStore {
  const present = new LruMap<string, true>(max);
  return {
    async put(digest, data, size) {
      await store.put(digest, data, size);
      present.set(digest, true);
    },
    get: (digest) => store.get(digest),
    async has(digest) {
      if (present.get(digest)) {
        count(true);
        return true;
      }
      count(false);
      const yes = await store.has(digest);
      if (yes) present.set(digest, true);
      return yes;
    },
    stat: (digest) => store.stat(digest),
    async delete(digest) {
      present.delete(digest);
      await store.delete(digest);
    },
    list: () => store.list(),
  };
}
