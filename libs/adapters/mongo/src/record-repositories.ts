/**
 * Layer records and verification verdicts: insert-once documents `{ _id, record }` (`record` is
 * the JSON text: a derived file index and Debian metadata hold arrays of arrays, which FerretDB
 * 1.x cannot store). Only point lookups on `_id` (the one filter FerretDB 1.24 pushes down to
 * SQLite); writes are `insertOne` with the duplicate key as "exists", the one atomic primitive
 * both servers share. Both kinds never change once written, so a process keeps the ones it has
 * read (bounded, least recently used dropped); a miss is never kept, so a record another process
 * writes is found at once.
 */
import type { FragmentVerdict, LayerRecord, LayerRecordRepository, VerdictRepository } from '@lse/core';
import type { Db } from 'mongodb';
import { COLLECTIONS, insertIfAbsent } from './collections';

interface RecordDoc {
  _id: string;
  record: string;
}

/** Insert-once JSON records by `_id` in one collection, with a bounded cache of hits. */
class InsertOnceRecords<T> {
  private readonly seen = new Map<string, string>();
  constructor(
    private readonly db: Db,
    private readonly collection: string,
    private readonly limit: number,
  ) {}

  async get(id: string): Promise<T | undefined> {
    let text = this.seen.get(id);
    if (text === undefined) {
      const d = await this.db.collection<RecordDoc>(this.collection).findOne({ _id: id });
      if (!d) return undefined;
      text = d.record;
    }
    this.remember(id, text);
    return JSON.parse(text) as T; // a copy of its own for every caller
  }

  async put(id: string, value: T): Promise<'created' | 'exists'> {
    const text = JSON.stringify(value);
    const created = await insertIfAbsent(this.db, this.collection, { _id: id, record: text });
    if (created) this.remember(id, text);
    return created ? 'created' : 'exists';
  }

  private remember(id: string, text: string): void {
    this.seen.delete(id);
    this.seen.set(id, text);
    if (this.seen.size > this.limit) this.seen.delete(this.seen.keys().next().value as string);
  }
}

export class MongoLayerRecordRepository implements LayerRecordRepository {
  private readonly recs: InsertOnceRecords<LayerRecord>;
  constructor(db: Db) {
    this.recs = new InsertOnceRecords(db, COLLECTIONS.layerRecords, 50_000);
  }
  get(key: string): Promise<LayerRecord | undefined> {
    return this.recs.get(key);
  }
  put(r: LayerRecord): Promise<'created' | 'exists'> {
    return this.recs.put(r.key, r);
  }
}

export class MongoVerdictRepository implements VerdictRepository {
  private readonly recs: InsertOnceRecords<FragmentVerdict>;
  constructor(db: Db) {
    this.recs = new InsertOnceRecords(db, COLLECTIONS.verdicts, 20_000);
  }
  get(id: string): Promise<FragmentVerdict | undefined> {
    return this.recs.get(id);
  }
  put(v: FragmentVerdict): Promise<'created' | 'exists'> {
    return this.recs.put(v.id, v);
  }
}
