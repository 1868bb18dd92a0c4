/** Where each record kind lives, and the two write primitives every repository builds on. */
import type { Db, Document } from 'mongodb';
import { isDuplicateKey } from './codec';

/** Collection names (and the GridFS bucket of fragment blobs). */
export const COLLECTIONS = {
  fragments: 'fragments',
  /** `<name>#<k>` → fragment id: lookups by name and by provided name (see repositories.ts). */
  fragmentNames: 'fragment_names',
  /** Sets of fragment ids a putMany stored completely (FragmentRepository.storedSets). */
  fragmentSets: 'fragment_sets',
  keys: 'keys',
  keyRevocations: 'key_revocations',
  bases: 'bases',
  baseTags: 'base_tags',
  syntheses: 'syntheses',
  synthesisOutcomes: 'synthesis_outcomes',
  /** key → the synthesis that last completed with it (the result cache's index). */
  completedKeys: 'completed_keys',
  leases: 'leases',
  /** `<digest of a blob list>` → the list (insert-once): leases of one image share one (repositories.ts). */
  leaseBlobSets: 'lease_blob_sets',
  /** Layer input key → built fragment layer (insert-once; record-repositories.ts). */
  layerRecords: 'layer_records',
  /** `<fragment id>@<trust generation>` → verification verdict (insert-once). */
  verdicts: 'fragment_verdicts',
  /** `<suite>@<date>` → one imported Debian release (insert-once; debian-release-log.ts). */
  debianReleases: 'debian_releases',
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

/**
 * Inserts `docs` unordered; returns the indexes (in `docs`) that failed because their `_id` (or
 * another unique key) was taken. Any other error is thrown.
 */
export async function insertManyFailures(db: Db, collection: string, docs: Document[]): Promise<number[]> {
  if (!docs.length) return [];
  try {
    await db.collection(collection).insertMany(docs, { ordered: false });
    return [];
  } catch (e) {
    const errs = (e as { writeErrors?: unknown }).writeErrors;
    const list = (Array.isArray(errs) ? errs : errs ? [errs] : []) as {
      code?: number;
      index?: number;
      err?: { code?: number; index?: number };
    }[];
    if (!list.length) throw e;
    const out: number[] = [];
    for (const w of list) {
      const code = w.code ?? w.err?.code;
      const index = w.index ?? w.err?.index;
      if (code !== 11000 || index === undefined) throw e;
      out.push(index);
    }
    return out;
  }
}

/** Inserts `docs` unordered, ignoring duplicates; returns how many were inserted. */
export async function insertManyIgnoringDuplicates(db: Db, collection: string, docs: Document[]): Promise<number> {
  return docs.length - (await insertManyFailures(db, collection, docs)).length;
}
