/** Where each record kind lives, and the two write primitives every repository builds on. */
import type { Db, Document } from 'mongodb';
import { isDuplicateKey } from './codec';

/** Collection names (and the GridFS bucket of fragment blobs). */
export const COLLECTIONS = {
  fragments: 'fragments',
  keys: 'keys',
  keyRevocations: 'key_revocations',
  bases: 'bases',
  baseTags: 'base_tags',
  syntheses: 'syntheses',
  synthesisOutcomes: 'synthesis_outcomes',
  /** key → the synthesis that last completed with it (the result cache's index). */
  completedKeys: 'completed_keys',
  leases: 'leases',
  fragmentBlobs: 'fragment_blobs',
} as const;

/** Inserts `doc`; false when a unique index says it is already there. */
export async function insertIfAbsent(db: Db, collection: string, doc: Document): Promise<boolean> {
  try {
    await db.collection(collection).insertOne(doc);
    return true;
  } catch (e) {
    if (isDuplicateKey(e)) return false;
    throw e;
  }
}

/** Creates or replaces the document `filter` names; a lost upsert race (11000) becomes a replace. */
export async function upsertReplace(db: Db, collection: string, filter: Document, doc: Document): Promise<void> {
  const c = db.collection(collection);
  try {
    await c.replaceOne(filter, doc, { upsert: true });
  } catch (e) {
    if (!isDuplicateKey(e)) throw e;
    await c.replaceOne(filter, doc);
  }
}
