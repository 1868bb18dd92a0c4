/**
 * The Debian releases imported, for the rollback rule (core ports.ts `DebianReleaseLog`): one
 * insert-once document per release, `_id` `<suite>@<date>@<InRelease digest>` (a suite's Release
 * and InRelease of one date are two), never updated. The newest date of a suite is the largest
 * `date` among its documents, so two imports recording at the same moment cannot lose one
 * another (FerretDB 1.24 does not make read-modify-write updates atomic; a single "newest"
 * document per suite could be overwritten by the older of two writers). `has` is a point read.
 *
 * `newest` filters on `suite`: MongoDB serves it from the `suite_date` index; FerretDB 1.24 scans
 * the collection, which holds one small document per release imported (a few per `apt-get
 * update` of a suite), so stays small.
 */
import type { DebianReleaseLog, DebianReleaseRecord } from '@lse/core';
import type { Db } from 'mongodb';
import { COLLECTIONS, insertIfAbsent } from './collections';

interface ReleaseDoc {
  _id: string;
  suite: string;
  date: string;
  inRelease: string;
}

export class MongoDebianReleaseLog implements DebianReleaseLog {
  constructor(private readonly db: Db) {}

  async newest(suite: string): Promise<DebianReleaseRecord | undefined> {
    const docs = await this.db.collection<ReleaseDoc>(COLLECTIONS.debianReleases).find({ suite }).toArray();
    // compared as instants (the sort is done here: every date is ISO 8601 UTC, but a server-side
    // sort would compare strings)
    let best: ReleaseDoc | undefined;
    for (const d of docs) if (!best || Date.parse(d.date) > Date.parse(best.date)) best = d;
    return best && { suite: best.suite, date: best.date, inRelease: best.inRelease };
  }

  async record(r: DebianReleaseRecord): Promise<void> {
    await insertIfAbsent(this.db, COLLECTIONS.debianReleases, {
      _id: debianReleaseId(r),
      suite: r.suite,
      date: r.date,
      inRelease: r.inRelease,
    });
  }

  async has(r: DebianReleaseRecord): Promise<boolean> {
    return (
      (await this.db.collection<ReleaseDoc>(COLLECTIONS.debianReleases).findOne({ _id: debianReleaseId(r) })) !== null
    );
  }
}

/** The `_id` of a release's document. */
export function debianReleaseId(r: DebianReleaseRecord): string {
  return `${r.suite}@${new Date(Date.parse(r.date)).toISOString()}@${r.inRelease}`;
}
