/**
 * Fragments, trust store, bases and leases in MongoDB (FerretDB 1.24 compatible).
 *
 * FerretDB 1.x runs an update as "query, then write the whole document by _id": the filter is not
 * re-checked at write time, so conditional updates are not atomic and concurrent updates of one
 * document can lose each other's changes. The only atomic primitive both servers share is a
 * unique index. So: creates are `insertOne` + duplicate key (11000); an upsert that loses a race
 * to another upsert (11000) is retried as a plain update; and state that must never be lost
 * (a key's revocation) lives in its own insert-only collection instead of being a field that a
 * concurrent `add` could overwrite. Syntheses are in synthesis-repository.ts for the same reason.
 */
import { LseError, type BaseImage, type BaseRepository, type Fragment, type FragmentRepository, type Lease, type LeaseRepository, type TrustStore, type TrustedKey } from '@lse/core';
import type { Db } from 'mongodb';
import { fromDoc, toDoc, type StrIdDoc } from './codec';
import { COLLECTIONS, insertIfAbsent, upsertReplace } from './collections';

const byText = (a: string, b: string): number => a.localeCompare(b);

/**
 * Fragments as `{ id, name, version, record }`: `record` is the fragment's JSON text. Descriptors
 * hold arrays of arrays (relations with alternatives), which FerretDB 1.x cannot store ("nested
 * arrays are not supported"); the queried fields sit beside the text, indexed.
 */
interface FragmentDoc { _id?: string; id: string; name: string; version: string; provides: string[]; record: string }

export class MongoFragmentRepository implements FragmentRepository {
  constructor(private readonly db: Db) {}
  private get col() { return this.db.collection<FragmentDoc>(COLLECTIONS.fragments); }
  private static read(d: FragmentDoc): Fragment {
    return JSON.parse(d.record) as Fragment;
  }

  async put(f: Fragment): Promise<'created' | 'exists'> {
    const doc: FragmentDoc = { id: f.id, name: f.descriptor.name, version: f.descriptor.version, provides: f.descriptor.provides.map((p) => p.name), record: JSON.stringify(f) };
    return (await insertIfAbsent(this.db, COLLECTIONS.fragments, { ...doc, _id: f.id })) ? 'created' : 'exists';
  }
  async get(id: string): Promise<Fragment | undefined> {
    const d = await this.col.findOne({ _id: id });
    return d ? MongoFragmentRepository.read(d) : undefined;
  }
  async byName(name: string): Promise<Fragment[]> {
    return (await this.col.find({ name }).toArray()).map(MongoFragmentRepository.read);
  }
  async list(): Promise<Fragment[]> {
    return (await this.col.find({}).toArray()).map(MongoFragmentRepository.read);
  }
  async candidates(names: string[]): Promise<Fragment[]> {
    if (!names.length) return [];
    return (await this.col.find({ $or: [{ name: { $in: names } }, { provides: { $in: names } }] }).toArray()).map(MongoFragmentRepository.read);
  }
}

interface Revocation { name: string; at?: string }

/**
 * Keys in `keys` ({name, publicKey, scopes, addedAt?}); revocations in `key_revocations`, written
 * once and never removed, so no interleaving of `add` and `revoke` can un-revoke a key.
 */
export class MongoTrustStore implements TrustStore {
  constructor(private readonly db: Db) {}
  private get keys() { return this.db.collection(COLLECTIONS.keys); }
  private get revocations() { return this.db.collection(COLLECTIONS.keyRevocations); }

  private static view(k: Omit<TrustedKey, 'revoked' | 'revokedAt'>, r: Revocation | undefined): TrustedKey {
    return { ...k, revoked: r !== undefined, ...(r?.at !== undefined ? { revokedAt: r.at } : {}) };
  }

  async list(): Promise<TrustedKey[]> {
    const [keys, revs] = await Promise.all([this.keys.find({}).toArray(), this.revocations.find({}).toArray()]);
    const revoked = new Map(revs.map((d) => { const r = fromDoc<Revocation>(d); return [r.name, r] as const; }));
    return keys.map((d) => fromDoc<TrustedKey>(d)).sort((a, b) => byText(a.name, b.name)).map((k) => MongoTrustStore.view(k, revoked.get(k.name)));
  }

  async get(name: string): Promise<TrustedKey | undefined> {
    const [k, r] = await Promise.all([this.keys.findOne({ name }), this.revocations.findOne({ name })]);
    return k ? MongoTrustStore.view(fromDoc<TrustedKey>(k), r ? fromDoc<Revocation>(r) : undefined) : undefined;
  }

  async add(key: TrustedKey): Promise<void> {
    const { revoked, revokedAt, ...stored } = key;
    if (!(await insertIfAbsent(this.db, COLLECTIONS.keys, toDoc(stored)))) {
      const old = await this.keys.findOne({ name: key.name });
      if (old && old['publicKey'] !== key.publicKey) {
        throw new LseError('KEY_INVALID', `a different key named '${key.name}' is already trusted; revoke it and choose another name`, { name: key.name });
      }
      // publicKey never changes under a name, so this filter cannot hit another key.
      await this.keys.replaceOne({ name: key.name, publicKey: key.publicKey }, toDoc(stored));
    }
    if (revoked) await insertIfAbsent(this.db, COLLECTIONS.keyRevocations, toDoc({ name: key.name, at: revokedAt }));
  }

  async revoke(name: string, at: string): Promise<void> {
    if (!(await this.keys.findOne({ name }))) throw new LseError('KEY_UNTRUSTED', `no key named '${name}' in the trust store; list the keys with 'lse trust list'`, { name });
    // The first revocation wins (and keeps its time); revoking again changes nothing.
    await insertIfAbsent(this.db, COLLECTIONS.keyRevocations, { name, at });
  }
}

interface TagDoc { name: string; tag: string; digest: string }

export class MongoBaseRepository implements BaseRepository {
  constructor(private readonly db: Db) {}
  private get bases() { return this.db.collection<StrIdDoc>(COLLECTIONS.bases); }
  private get pointers() { return this.db.collection(COLLECTIONS.baseTags); }

  async put(base: BaseImage): Promise<void> {
    await insertIfAbsent(this.db, COLLECTIONS.bases, { ...toDoc(base), _id: base.digest });
  }
  async get(digest: string): Promise<BaseImage | undefined> {
    const d = await this.bases.findOne({ _id: digest });
    return d ? fromDoc<BaseImage>(d) : undefined;
  }
  async tag(name: string, tag: string, digest: string): Promise<void> {
    if (!(await this.bases.findOne({ _id: digest }, { projection: { _id: 1 } }))) {
      throw new LseError('BASE_UNKNOWN', `no base with digest ${digest}; import it with 'lse base import' before tagging it ${name}:${tag}`, { digest, name, tag });
    }
    await upsertReplace(this.db, COLLECTIONS.baseTags, { name, tag }, { name, tag, digest });
  }
  async resolveTag(name: string, tag: string): Promise<string | undefined> {
    const d = await this.pointers.findOne({ name, tag });
    return d ? fromDoc<TagDoc>(d).digest : undefined;
  }
  async tags(): Promise<TagDoc[]> {
    return (await this.pointers.find({}).toArray())
      .map((d) => { const t = fromDoc<TagDoc>(d); return { name: t.name, tag: t.tag, digest: t.digest }; })
      .sort((a, b) => byText(`${a.name}:${a.tag}`, `${b.name}:${b.tag}`));
  }
}

/** Leases: expiry is judged in code by the collector (no TTL index: FerretDB 1.x has none). */
export class MongoLeaseRepository implements LeaseRepository {
  constructor(private readonly db: Db) {}
  private get col() { return this.db.collection<StrIdDoc>(COLLECTIONS.leases); }

  async put(lease: Lease): Promise<void> {
    await upsertReplace(this.db, COLLECTIONS.leases, { _id: lease.synthesisId }, { ...toDoc(lease), _id: lease.synthesisId });
  }
  async get(synthesisId: string): Promise<Lease | undefined> {
    const d = await this.col.findOne({ _id: synthesisId });
    return d ? fromDoc<Lease>(d) : undefined;
  }
  async renew(synthesisId: string, expiresAt: string): Promise<boolean> {
    return (await this.col.updateOne({ _id: synthesisId }, { $set: { expiresAt } })).matchedCount > 0;
  }
  async release(synthesisId: string): Promise<void> {
    await this.col.deleteMany({ _id: synthesisId });
  }
  async list(): Promise<Lease[]> {
    return (await this.col.find({}).toArray()).map((d) => fromDoc<Lease>(d));
  }
}
