/**
 * A regional layer cache: a BlobStore that is this region's store (its own S3 endpoint and
 * bucket) backed by ordered tiers further away: peer regions' stores, then the origin.
 *
 * Every lookup (`has`, `stat`, `get`, `getStream`) asks the local store first. When the blob is not
 * there, the tiers are asked in order and the first that holds it supplies it: its bytes are
 * read whole, hashed against the digest (the tier's own `get` re-verifies, and `put` on the local
 * store verifies again before anything becomes visible), stored locally, and from then on served
 * locally. So each blob crosses from a peer region at most once per region (content addressing:
 * once stored it is found locally), and concurrent lookups of one digest in one process share a
 * single copy. Bytes a tier holds that do not hash to their digest are refused (counted, logged,
 * never stored or served) and the next tier is asked. A tier that does not answer
 * (`UNAVAILABLE`) is skipped too; if no tier had the blob and one of them did not answer, the
 * lookup throws that error (retryable: absent cannot be concluded) instead of saying "absent".
 *
 * Writes, deletes and listings are local only: a region's collector collects its own bucket.
 * Fragment blobs copied here were checked against the digest the fragment's signed descriptor
 * names; the verifier stage then checks them against the signature as for any cached blob.
 *
 * Counters per tier (`stats()`): lookups answered locally (`region`), by each peer (`peer`) or
 * the origin (`origin`), not answered (`miss`), and bytes served locally and copied per tier.
 */
import { LseError, isLseError, type BlobStore } from '@lse/core';
import { silentLog, type Log } from './log';

/** A store further away than this region's own, asked in order. */
export interface CacheTier {
  /** 'peer': another region's cache; 'origin': the store of record (fragment blobs only). */
  kind: 'peer' | 'origin';
  /** Region name of a peer, 'origin' for the origin. */
  name: string;
  store: BlobStore;
}

/** A counter row: which tier, how many lookups it answered, how many bytes. */
export interface TierCount {
  tier: 'region' | 'peer' | 'origin' | 'miss' | 'refused';
  /** The peer region (for 'peer' and 'refused' by a peer), 'origin', or this region. */
  source: string;
  lookups: number;
  bytes: number;
}

/** Something that can stream a blob (the S3 store); used for registry blob downloads. */
interface Streaming {
  getStream(digest: string, range?: { start: number; end?: number }): Promise<unknown>;
}

export interface TieredOptions {
  /** This region's name (labels). */
  region: string;
  /** Namespace label, e.g. 'fragments' or 'layers'. */
  name: string;
  local: BlobStore;
  tiers: CacheTier[];
  log?: Log;
}

export class TieredBlobStore implements BlobStore {
  readonly region: string;
  readonly name: string;
  private readonly local: BlobStore;
  private readonly tiers: readonly CacheTier[];
  private readonly log: Log;
  private readonly inFlight = new Map<string, Promise<number | undefined>>();
  private readonly counts = new Map<string, TierCount>();

  constructor(o: TieredOptions) {
    this.region = o.region;
    this.name = o.name;
    this.local = o.local;
    this.tiers = o.tiers;
    this.log = (o.log ?? silentLog).child({ component: 'tiered-cache', store: o.name, region: o.region });
  }

  /** Counter rows, sorted by tier then source. */
  stats(): TierCount[] {
    return [...this.counts.values()]
      .map((c) => ({ ...c }))
      .sort((a, b) => (a.tier + a.source < b.tier + b.source ? -1 : 1));
  }

  /** The tiers after the local store, in the order they are asked: `peer:<region>`, `origin:origin`. */
  order(): string[] {
    return this.tiers.map((t) => `${t.kind}:${t.name}`);
  }

  /** Bytes copied into this region from other tiers (peers and origin), in total. */
  copiedBytes(): number {
    return this.stats()
      .filter((c) => c.tier === 'peer' || c.tier === 'origin')
      .reduce((n, c) => n + c.bytes, 0);
  }

  private count(tier: TierCount['tier'], source: string, bytes: number): void {
    const key = `${tier}\u0000${source}`;
    const c = this.counts.get(key) ?? { tier, source, lookups: 0, bytes: 0 };
    c.lookups += 1;
    c.bytes += bytes;
    this.counts.set(key, c);
  }

  put(digest: string, data: Buffer, size?: number): Promise<void> {
    return this.local.put(digest, data, size);
  }

  async get(digest: string): Promise<Buffer> {
    try {
      const data = await this.local.get(digest);
      this.count('region', this.region, data.length);
      return data;
    } catch (e) {
      if (!isLseError(e, 'BLOB_UNKNOWN')) throw e;
    }
    if ((await this.fill(digest)) === undefined) {
      throw new LseError(
        'BLOB_UNKNOWN',
        `blob ${digest} is not in the ${this.name} cache of region ${this.region}, nor in ${this.tierNames()}`,
        { digest, region: this.region },
      );
    }
    return this.local.get(digest);
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async stat(digest: string): Promise<number | undefined> {
    const size = await this.local.stat(digest);
    if (size !== undefined) {
      this.count('region', this.region, 0);
      return size;
    }
    return this.fill(digest);
  }

  /** Streams from the local store once the blob is there (copied in first if need be). */
  async getStream(digest: string, range?: { start: number; end?: number }): Promise<unknown> {
    const local = this.local as unknown as Partial<Streaming>;
    if (!local.getStream)
      throw new LseError('INTERNAL', `the local ${this.name} store of region ${this.region} cannot stream`, { digest });
    if ((await this.stat(digest)) === undefined) {
      throw new LseError(
        'BLOB_UNKNOWN',
        `blob ${digest} is not in the ${this.name} cache of region ${this.region}, nor in ${this.tierNames()}`,
        { digest, region: this.region },
      );
    }
    return local.getStream.call(this.local, digest, range);
  }

  delete(digest: string): Promise<void> {
    return this.local.delete(digest);
  }

  list(): AsyncIterable<string> {
    return this.local.list();
  }

  private tierNames(): string {
    return this.tiers.length
      ? this.tiers.map((t) => (t.kind === 'peer' ? `region ${t.name}` : t.name)).join(', ')
      : 'any other tier (none configured)';
  }

  /** Copies `digest` in from the first tier that holds intact bytes; its size, or undefined. */
  private fill(digest: string): Promise<number | undefined> {
    let p = this.inFlight.get(digest);
    if (!p) {
      p = this.copyIn(digest).finally(() => this.inFlight.delete(digest));
      this.inFlight.set(digest, p);
    }
    return p;
  }

  private async copyIn(digest: string): Promise<number | undefined> {
    // A copy that finished between this lookup's local miss and now: nothing to copy.
    const already = await this.local.stat(digest);
    if (already !== undefined) {
      this.count('region', this.region, 0);
      return already;
    }
    let unavailable: unknown;
    for (const t of this.tiers) {
      let data: Buffer;
      try {
        data = await t.store.get(digest);
      } catch (e) {
        if (isLseError(e, 'BLOB_UNKNOWN')) continue;
        if (isLseError(e, 'DIGEST_MISMATCH') || isLseError(e, 'SIZE_MISMATCH')) {
          this.count('refused', t.name, 0);
          this.log.error(
            { digest, tier: t.kind, source: t.name, code: e.code },
            `refused a blob from ${t.kind} ${t.name}: its bytes do not match the digest; not stored, trying the next tier`,
          );
          continue;
        }
        unavailable ??= e;
        this.log.warn(
          { digest, tier: t.kind, source: t.name, err: (e as Error).message },
          `${t.kind} ${t.name} did not answer; trying the next tier`,
        );
        continue;
      }
      await this.local.put(digest, data, data.length);
      this.count(t.kind, t.name, data.length);
      this.log.info({ digest, tier: t.kind, source: t.name, bytes: data.length }, 'copied into this region');
      return data.length;
    }
    if (unavailable !== undefined) throw unavailable;
    this.count('miss', this.region, 0);
    return undefined;
  }
}
