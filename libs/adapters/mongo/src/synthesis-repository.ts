/**
 * Syntheses in MongoDB, finished exactly once on MongoDB 7 and on FerretDB 1.24.
 *
 * The obvious `updateOne({ id, status: 'pending' }, { $set: ... })` + `modifiedCount` is atomic on
 * MongoDB but not on FerretDB 1.x, which reads the matching document and then writes it back
 * whole by _id without re-checking the filter: measured here, 8 concurrent finishes of one record
 * gave several "winners" in 19 of 20 rounds, and a concurrent `progress` undid a finish in 6 of 20.
 * A unique index is the one atomic primitive both servers share, so:
 *
 *   - `syntheses` holds the record as created and moved along by `progress` (unique on id).
 *   - `finish` claims the outcome by inserting `{ id, key, status, at, result?, error? }` into
 *     `synthesis_outcomes` (unique on id). The insert that succeeds is the one `true`; a
 *     duplicate key means someone else finished first (`false`). The winner then copies the
 *     outcome onto the record (best effort: readers do not depend on it).
 *   - Reads merge: a record that still says `pending` is shown with its outcome, if there is one.
 *     So a lost write (crash after the claim, or a racing `progress` on FerretDB) never shows
 *     a finished synthesis as pending, and nothing can un-finish it.
 *   - `completedByKey` looks in both collections (records created already completed have no
 *     outcome document; claimed outcomes may not have reached their record yet).
 */
import { stageAfter } from '@lse/contracts';
import type { SynthesisRecord, SynthesisRepository } from '@lse/core';
import type { Db } from 'mongodb';
import { decodeDoc, encodeDoc, type StrIdDoc } from './codec';
import { COLLECTIONS, insertIfAbsent, upsertReplace } from './collections';

type FinishFields = Parameters<SynthesisRepository['finish']>[1];

interface Outcome {
  id: string;
  key?: string;
  status: 'completed' | 'failed';
  at: string;
  result?: Record<string, unknown>;
  error?: SynthesisRecord['error'];
}

/**
 * The record fields an outcome sets (as the memory adapter does: a result means stage 'assembled',
 * and the record gets the result's key if it had none).
 */
function outcomeFields(o: Outcome): Partial<SynthesisRecord> {
  return {
    status: o.status,
    updatedAt: o.at,
    ...(o.key ? { key: o.key } : {}),
    ...(o.result ? { result: o.result, stage: 'assembled' } : {}),
    ...(o.error ? { error: o.error } : {}),
  };
}

export class MongoSynthesisRepository implements SynthesisRepository {
  constructor(private readonly db: Db) {}
  private get records() {
    return this.db.collection<StrIdDoc>(COLLECTIONS.syntheses);
  }
  private get outcomes() {
    return this.db.collection<StrIdDoc>(COLLECTIONS.synthesisOutcomes);
  }

  async create(rec: SynthesisRecord): Promise<'created' | 'exists'> {
    return (await insertIfAbsent(this.db, COLLECTIONS.syntheses, { ...encodeDoc(rec), _id: rec.id }))
      ? 'created'
      : 'exists';
  }

  async get(id: string): Promise<SynthesisRecord | undefined> {
    const d = await this.records.findOne({ _id: id });
    if (!d) return undefined;
    const rec = decodeDoc<SynthesisRecord>(d);
    if (rec.status !== 'pending') return rec;
    const o = await this.outcomes.findOne({ _id: id });
    return o ? { ...rec, ...outcomeFields(decodeDoc<Outcome>(o)) } : rec;
  }

  async progress(id: string, fields: { stage: string; key?: string; at: string }): Promise<void> {
    // Point lookup + write by _id alone: a filter on status would make FerretDB scan the
    // collection. A finish racing this write is not undone for readers: `get` overlays the outcome.
    const d = await this.records.findOne({ _id: id });
    if (!d || d['status'] !== 'pending' || stageAfter(String(d['stage']), fields.stage)) return;
    await this.records.updateOne(
      { _id: id },
      { $set: { stage: fields.stage, updatedAt: fields.at, ...(fields.key ? { key: fields.key } : {}) } },
    );
  }

  async finish(id: string, f: FinishFields): Promise<boolean> {
    const d = await this.records.findOne({ _id: id });
    if (!d || d['status'] !== 'pending') return false;
    const key =
      typeof d['key'] === 'string' ? d['key'] : typeof f.result?.['key'] === 'string' ? f.result['key'] : undefined;
    const outcome: Outcome = {
      id,
      status: f.status,
      at: f.at,
      ...(key ? { key } : {}),
      ...(f.result ? { result: f.result } : {}),
      ...(f.error ? { error: f.error } : {}),
    };
    if (!(await insertIfAbsent(this.db, COLLECTIONS.synthesisOutcomes, { ...encodeDoc(outcome), _id: id })))
      return false;
    await this.records.updateOne({ _id: id }, { $set: encodeDoc(outcomeFields(outcome)) });
    if (outcome.status === 'completed' && key) {
      await upsertReplace(this.db, COLLECTIONS.completedKeys, { _id: key }, { _id: key, id, at: f.at });
    }
    return true;
  }

  async completedByKey(key: string): Promise<SynthesisRecord | undefined> {
    const k = await this.db.collection<StrIdDoc>(COLLECTIONS.completedKeys).findOne({ _id: key });
    if (!k) return undefined;
    const rec = await this.get(String(k['id']));
    return rec?.status === 'completed' ? rec : undefined;
  }
}
