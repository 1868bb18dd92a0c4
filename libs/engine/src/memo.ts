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
 */
import type { Fragment, FragmentRepository, FragmentVerdict, LayerRecord, LayerRecordRepository, VerdictRepository } from '@lse/core';
import type { EnginePorts } from './ports';

/** A bounded map: get refreshes an entry, set evicts the least recently used one beyond `max`. */
export class LruMap<K, V> {
  private readonly m = new Map<K, V>();
  constructor(private readonly max: number) {}
  get size(): number { return this.m.size; }
  get(k: K): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) { this.m.delete(k); this.m.set(k, v); }
    return v;
  }
  set(k: K, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as K);
  }
}

/** Counts of answers from memory and from the repository, per kind (for metrics and tests). */
export interface MemoStats { hits: Record<'fragments' | 'verdicts' | 'layerRecords', number>; misses: Record<'fragments' | 'verdicts' | 'layerRecords', number> }

function remembering<T>(load: (k: string) => Promise<T | undefined>, lru: LruMap<string, T>, count: (hit: boolean) => void): (k: string) => Promise<T | undefined> {
  const inflight = new Map<string, Promise<T | undefined>>();
  return async (k) => {
    const have = lru.get(k);
    if (have !== undefined) { count(true); return have; }
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
export function memoizeImmutableRecords(ports: EnginePorts, opts: { max?: number } = {}): { ports: EnginePorts; stats: MemoStats } {
  const max = opts.max ?? 20_000;
  const stats: MemoStats = { hits: { fragments: 0, verdicts: 0, layerRecords: 0 }, misses: { fragments: 0, verdicts: 0, layerRecords: 0 } };
  const counter = (kind: keyof MemoStats['hits']) => (hit: boolean) => { (hit ? stats.hits : stats.misses)[kind]++; };

  const f = ports.fragments;
  const getFragment = remembering<Fragment>((id) => f.get(id), new LruMap(max), counter('fragments'));
  const fragments: FragmentRepository = {
    put: (x) => f.put(x), get: getFragment, byName: (n) => f.byName(n), list: () => f.list(), candidates: (n) => f.candidates(n),
    putMany: (xs) => f.putMany(xs), storedSets: (d) => f.storedSets(d),
  };
  const out: EnginePorts = { ...ports, fragments };
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
