import type { BaseRepository, BlobStore, LeaseRepository } from '@lse/core';
import type { Log } from './log';

export interface CollectorDeps {
  leases: LeaseRepository;
  bases: BaseRepository;
  layers: BlobStore;
  /** An unreferenced blob is deleted only once it has stayed unreferenced this long (ms). */
  graceMs: number;
  now: () => Date;
  log: Log;
}

export interface CollectReport {
  expired: string[];
  deleted: string[];
  /** Unreferenced, waiting out the grace period. */
  pending: number;
  live: number;
}

/**
 * Collects ephemeral image blobs (layers, configs, manifests in the layer store):
 *  - expired leases are removed (expiry is done here, in code: no TTL indexes);
 *  - a blob is live if a live lease names it or a tagged base uses it (fragments live in another
 *    namespace and are never collected);
 *  - an unreferenced blob is deleted once it has been seen unreferenced for `graceMs`. With
 *    graceMs = 0 it is deleted at once;
 *  - while a provisional lease lives (an assembler is writing an image that is not recorded
 *    yet), a blob first seen unreferenced after that lease was taken is kept whatever the grace:
 *    it may be one the assembler has just written. So an image is never collected between its
 *    assembly and its recording, however far the recorder lags; garbage older than the oldest
 *    live provisional lease is still collected.
 */
export class Collector {
  private readonly unreferencedSince = new Map<string, number>();
  constructor(private readonly d: CollectorDeps) {}

  async collect(): Promise<CollectReport> {
    const now = this.d.now().getTime();
    const started = Date.now();
    let leaseCount = 0;
    const expired: string[] = [];
    const live = new Set<string>();
    let oldestProvisional = Infinity;
    for (const lease of await this.d.leases.list()) {
      leaseCount++;
      if (Date.parse(lease.expiresAt) <= now) {
        await this.d.leases.release(lease.synthesisId);
        expired.push(lease.synthesisId);
        continue;
      }
      for (const b of lease.blobs) live.add(b);
      if (lease.provisional) oldestProvisional = Math.min(oldestProvisional, Date.parse(lease.createdAt ?? '') || now);
    }
    for (const t of await this.d.bases.tags()) {
      const base = await this.d.bases.get(t.digest);
      for (const l of base?.layers ?? []) live.add(l.digest);
    }
    const candidates: string[] = [];
    const seen = new Set<string>();
    for await (const digest of this.d.layers.list()) {
      seen.add(digest);
      if (live.has(digest)) {
        this.unreferencedSince.delete(digest);
        continue;
      }
      const since = this.unreferencedSince.get(digest) ?? now;
      this.unreferencedSince.set(digest, since);
      if (since >= oldestProvisional) continue; // may belong to an image being assembled
      if (now - since >= this.d.graceMs) candidates.push(digest);
    }
    // Listing the store takes a while: read the leases again just before deleting, so a lease
    // taken meanwhile (an assembler reusing a layer, a repeat) keeps what it names.
    const fresh = candidates.length ? await this.d.leases.list() : [];
    const nowNamed = new Set(fresh.filter((l) => Date.parse(l.expiresAt) > now).flatMap((l) => l.blobs));
    const freshProvisional = Math.min(
      oldestProvisional,
      ...fresh.filter((l) => l.provisional).map((l) => Date.parse(l.createdAt ?? '') || now),
    );
    const deleted: string[] = [];
    for (const digest of candidates) {
      if (nowNamed.has(digest) || (this.unreferencedSince.get(digest) ?? now) >= freshProvisional) continue;
      await this.d.layers.delete(digest);
      this.unreferencedSince.delete(digest);
      deleted.push(digest);
    }
    for (const d of [...this.unreferencedSince.keys()]) if (!seen.has(d)) this.unreferencedSince.delete(d);
    const report = { expired, deleted: deleted.sort(), pending: this.unreferencedSince.size, live: live.size };
    // One line per run, also when nothing was collected: the run reads every lease, a cost that
    // grows with the number of live leases (bench/hotpath.js counts these lines).
    this.d.log.info(
      { ...report, leases: leaseCount, ms: Date.now() - started },
      expired.length || deleted.length ? 'collected' : 'collector ran',
    );
    return report;
  }
}
