/**
 * The gateway's memory of recent results: a repeat of a manifest (the same parsed manifest and
 * platform) that this gateway saw complete is answered here, with a synthesis record and a lease
 * of its own, without a round trip through the stages.
 *
 * Correctness rests on three rules:
 *  - the entry is keyed by the parsed manifest and platform, and valid only for the catalog
 *    generation it was made in: any publish, trust change or base change this gateway makes or
 *    hears of (`invalidate`) clears the cache, since it could change what the manifest resolves to;
 *  - an entry lives at most `ttlMs` (well inside the collector's grace period), so the blobs it
 *    names were held by a lease moments ago; the repeat writes its own lease before answering;
 *  - a release through this gateway of a lease on the same image drops the entry.
 */
import { digestOfValue, type Manifest, type Platform } from '@lse/core';
import type { ImageRef, SynthCompleted } from '@lse/contracts';

export interface CachedResult {
  key: string;
  image: ImageRef;
  layerPlan: SynthCompleted['layerPlan'];
  at: number;
}

export class RepeatCache {
  private readonly entries = new Map<string, CachedResult>();
  /** Syntheses admitted by this gateway: id → cache key and the generation at admission. */
  private readonly pending = new Map<string, { cacheKey: string; generation: number }>();
  private generation = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly now: () => number,
    private readonly ttlMs = 60_000,
    private readonly max = 2000,
  ) {}

  static keyOf(manifest: Manifest, platform: Platform | undefined): string {
    return digestOfValue({ manifest, platform: platform ?? null });
  }

  get(cacheKey: string): CachedResult | undefined {
    const e = this.entries.get(cacheKey);
    if (e && this.now() - e.at > this.ttlMs) this.entries.delete(cacheKey);
    const hit = this.entries.get(cacheKey);
    if (hit) this.hits++;
    else this.misses++;
    return hit;
  }

  /** Remembers that synthesis `id` was admitted for `cacheKey` (its result fills the entry). */
  admitted(id: string, cacheKey: string): void {
    this.pending.set(id, { cacheKey, generation: this.generation });
    if (this.pending.size > this.max * 4) this.pending.delete(this.pending.keys().next().value!);
  }

  /** A synthesis finished: a completed one admitted in the current generation fills its entry. */
  finished(id: string, completed: SynthCompleted | undefined): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (!completed || p.generation !== this.generation) return;
    this.entries.delete(p.cacheKey);
    this.entries.set(p.cacheKey, {
      key: completed.key,
      image: completed.image,
      layerPlan: completed.layerPlan,
      at: this.now(),
    });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  /** Drops entries of an image whose lease was released here. */
  released(manifestDigest: string): void {
    for (const [k, e] of this.entries) if (e.image.manifestDigest === manifestDigest) this.entries.delete(k);
  }

  /** Something that can change resolutions happened (publish, trust, base tag): forget everything. */
  invalidate(): void {
    this.generation++;
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
