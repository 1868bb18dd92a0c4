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
import {
  LseError,
  fragmentSetDigest,
  sha256Digest,
  type BaseImage,
  type BaseRepository,
  type Fragment,
  type FragmentRepository,
  type Lease,
  type LeaseRepository,
  type TrustStore,
  type TrustedKey,
} from '@lse/core';
import type { Db } from 'mongodb';
import { decodeDoc, encodeDoc, type StrIdDoc } from './codec';
import {
  COLLECTIONS,
  insertIfAbsent,
  insertManyFailures,
  insertManyIgnoringDuplicates,
  upsertReplace,
} from './collections';

const byText = (a: string, b: string): number => a.localeCompare(b);

/**
 * Fragments as `{ id, name, version, record }`: `record` is the fragment's JSON text. Descriptors
 * hold arrays of arrays (relations with alternatives), which FerretDB 1.x cannot store ("nested
 * arrays are not supported"); the queried fields sit beside the text.
 *
 * Lookups by name go through `fragment_names`, because FerretDB 1.x uses only `_id` for lookups
 * (a `{ name }` query reads every record: seconds per query with a whole Debian index stored).
 * Each name a fragment has or provides gets a slot `{ _id: "<name>#<k>", id }`, claimed with an
 * insert on the first free k: inserts on a unique `_id` are atomic on both servers, so concurrent
 * writers never lose each other's slots (an update of a per-name list could). Slots are written
 * before the record, which stays the commit point: a slot whose record is missing is skipped.
 */
interface FragmentDoc {
  _id?: string;
  id: string;
  name: string;
  version: string;
  provides: string[];
  record: string;
}
interface NameSlot {
  _id: string;
  id: string;
}

/** Documents per insertMany (keeps commands well under the 16 MiB message limit). */
const IN_CHUNK = 500;
/**
 * Lookups in flight at once. Point lookups by `_id`, not `$in`: FerretDB 1.24 pushes an `_id`
 * equality down to its backend but evaluates `$in` itself over the whole collection (measured:
 * 500 ids by `$in` 5.8 s, as 500 findOne 1.9 s, on 36,000 fragments).
 */
const LOOKUPS = 16;

/** A Map bounded to `limit` entries, dropping the least recently used. */
class Lru<V> {
  private readonly m = new Map<string, V>();
  constructor(private readonly limit: number) {}
  get(k: string): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.limit) this.m.delete(this.m.keys().next().value as string);
  }
}

async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

export class MongoFragmentRepository implements FragmentRepository {
  /**
   * Records and taken name slots never change once written, so a process keeps the ones it has
   * read (as JSON text: every caller gets its own copy), bounded: on FerretDB each lookup is a
   * scan, and a resolver or verifier reads the same popular fragments again and again. What is
   * not found is never cached (the next slot of a name is always asked), so new versions are seen
   * at once.
   */
  private readonly recordCache = new Lru<string>(20_000);
  private readonly slotCache = new Lru<string>(100_000);
  constructor(private readonly db: Db) {}
  private get col() {
    return this.db.collection<FragmentDoc>(COLLECTIONS.fragments);
  }
  private get slots() {
    return this.db.collection<NameSlot>(COLLECTIONS.fragmentNames);
  }
  private static read(d: FragmentDoc): Fragment {
    return JSON.parse(d.record) as Fragment;
  }
  private static doc(f: Fragment): FragmentDoc & { _id: string } {
    return {
      _id: f.id,
      id: f.id,
      name: f.descriptor.name,
      version: f.descriptor.version,
      provides: f.descriptor.provides.map((p) => p.name),
      record: JSON.stringify(f),
    };
  }
  private static names(f: Fragment): string[] {
    return [...new Set([f.descriptor.name, ...f.descriptor.provides.map((p) => p.name)])];
  }

  async put(f: Fragment): Promise<'created' | 'exists'> {
    if (await this.col.findOne({ _id: f.id }, { projection: { _id: 1 } })) return 'exists';
    await this.claimSlots(MongoFragmentRepository.names(f).map((name) => ({ name, id: f.id })));
    return (await insertIfAbsent(this.db, COLLECTIONS.fragments, MongoFragmentRepository.doc(f)))
      ? 'created'
      : 'exists';
  }

  async putMany(fs: Fragment[]): Promise<{ created: number; existing: number }> {
    const unique = [...new Map(fs.map((f) => [f.id, f])).values()];
    await this.claimSlots(unique.flatMap((f) => MongoFragmentRepository.names(f).map((name) => ({ name, id: f.id }))));
    let created = 0;
    for (let i = 0; i < unique.length; i += IN_CHUNK) {
      const docs = unique.slice(i, i + IN_CHUNK).map(MongoFragmentRepository.doc);
      created += await insertManyIgnoringDuplicates(this.db, COLLECTIONS.fragments, docs);
    }
    await insertIfAbsent(this.db, COLLECTIONS.fragmentSets, { _id: fragmentSetDigest(unique.map((f) => f.id)) });
    return { created, existing: fs.length - created };
  }

  /**
   * Gives every `{ name, id }` a slot: tries `name#0` for all at once; where the slot is taken
   * by another id, tries the next k. Idempotent: an id already in a slot of its name keeps it.
   */
  private async claimSlots(wanted: { name: string; id: string }[]): Promise<void> {
    // Several fragments of one name in the batch start at different slots (fewer collisions to
    // resolve one lookup at a time).
    const seen = new Map<string, number>();
    let pending = wanted.map((w) => {
      const k = seen.get(w.name) ?? 0;
      seen.set(w.name, k + 1);
      return { ...w, k };
    });
    while (pending.length) {
      const taken: typeof pending = [];
      for (let i = 0; i < pending.length; i += IN_CHUNK) {
        const batch = pending.slice(i, i + IN_CHUNK);
        const failed = await insertManyFailures(
          this.db,
          COLLECTIONS.fragmentNames,
          batch.map((p) => ({ _id: `${p.name}#${p.k}`, id: p.id })),
        );
        taken.push(...failed.map((j) => batch[j]!));
      }
      if (!taken.length) return;
      const holders = await this.readSlots(taken.map((p) => `${p.name}#${p.k}`));
      pending = taken.filter((p) => holders.get(`${p.name}#${p.k}`) !== p.id).map((p) => ({ ...p, k: p.k + 1 }));
    }
  }

  private async readSlots(slotIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    await eachLimited(slotIds, LOOKUPS, async (sid) => {
      const cached = this.slotCache.get(sid);
      if (cached !== undefined) return void out.set(sid, cached);
      const d = await this.slots.findOne({ _id: sid });
      if (d) {
        out.set(d._id, d.id);
        this.slotCache.set(d._id, d.id); // slots are never changed once written
      }
    });
    return out;
  }

  /** Fragment ids in the slots of `names`, reading slot k of every name still going at once. */
  private async idsFor(names: string[]): Promise<string[]> {
    const ids = new Set<string>();
    let active = [...new Set(names)];
    for (let k = 0; active.length; k++) {
      const found = await this.readSlots(active.map((n) => `${n}#${k}`));
      for (const id of found.values()) ids.add(id);
      active = active.filter((n) => found.has(`${n}#${k}`));
    }
    return [...ids];
  }

  private async byIds(ids: string[]): Promise<Fragment[]> {
    const out: Fragment[] = [];
    await eachLimited(ids, LOOKUPS, async (id) => {
      const f = await this.get(id);
      if (f) out.push(f);
    });
    return out.sort((a, b) => byText(a.id, b.id));
  }

  async get(id: string): Promise<Fragment | undefined> {
    const cached = this.recordCache.get(id);
    if (cached !== undefined) return JSON.parse(cached) as Fragment;
    const d = await this.col.findOne({ _id: id });
    if (!d) return undefined;
    this.recordCache.set(id, d.record); // records are immutable: the id is the hash of the descriptor
    return MongoFragmentRepository.read(d);
  }
  async byName(name: string): Promise<Fragment[]> {
    return (await this.byIds(await this.idsFor([name]))).filter((f) => f.descriptor.name === name);
  }
  async list(): Promise<Fragment[]> {
    return (await this.col.find({}).toArray()).map(MongoFragmentRepository.read);
  }
  async candidates(names: string[]): Promise<Fragment[]> {
    if (!names.length) return [];
    const want = new Set(names);
    return (await this.byIds(await this.idsFor(names))).filter(
      (f) => want.has(f.descriptor.name) || f.descriptor.provides.some((p) => want.has(p.name)),
    );
  }
  async storedSets(digests: string[]): Promise<boolean[]> {
    const sets = this.db.collection<{ _id: string }>(COLLECTIONS.fragmentSets);
    const out = new Map<string, boolean>();
    await eachLimited(digests, LOOKUPS, async (d) => {
      out.set(d, (await sets.findOne({ _id: d })) !== null);
    });
    return digests.map((d) => out.get(d) ?? false);
  }

  /**
   * Slots for records stored before `fragment_names` existed (run at start-up by
   * MongoStore.ensureIndexes when the slots collection is empty and records exist).
   */
  async backfillNameSlots(): Promise<number> {
    if ((await this.slots.findOne({})) || !(await this.col.findOne({}, { projection: { _id: 1 } }))) return 0;
    const all = await this.list();
    await this.claimSlots(all.flatMap((f) => MongoFragmentRepository.names(f).map((name) => ({ name, id: f.id }))));
    return all.length;
  }
}

interface Revocation {
  name: string;
  at?: string;
}

/**
 * Keys in `keys` ({name, publicKey, scopes, addedAt?}); revocations in `key_revocations`, written
 * once and never removed, so no interleaving of `add` and `revoke` can un-revoke a key.
 */
export class MongoTrustStore implements TrustStore {
  constructor(private readonly db: Db) {}
  private get keys() {
    return this.db.collection(COLLECTIONS.keys);
  }
  private get revocations() {
    return this.db.collection(COLLECTIONS.keyRevocations);
  }

  private static view(k: Omit<TrustedKey, 'revoked' | 'revokedAt'>, r: Revocation | undefined): TrustedKey {
    return { ...k, revoked: r !== undefined, ...(r?.at !== undefined ? { revokedAt: r.at } : {}) };
  }

  async list(): Promise<TrustedKey[]> {
    const [keys, revs] = await Promise.all([this.keys.find({}).toArray(), this.revocations.find({}).toArray()]);
    const revoked = new Map(
      revs.map((d) => {
        const r = decodeDoc<Revocation>(d);
        return [r.name, r] as const;
      }),
    );
    return keys
      .map((d) => decodeDoc<TrustedKey>(d))
      .sort((a, b) => byText(a.name, b.name))
      .map((k) => MongoTrustStore.view(k, revoked.get(k.name)));
  }

  async get(name: string): Promise<TrustedKey | undefined> {
    const [k, r] = await Promise.all([this.keys.findOne({ name }), this.revocations.findOne({ name })]);
    return k ? MongoTrustStore.view(decodeDoc<TrustedKey>(k), r ? decodeDoc<Revocation>(r) : undefined) : undefined;
  }

  async add(key: TrustedKey): Promise<void> {
    const { revoked, revokedAt, ...stored } = key;
    if (!(await insertIfAbsent(this.db, COLLECTIONS.keys, encodeDoc(stored)))) {
      const old = await this.keys.findOne({ name: key.name });
      if (old && old['publicKey'] !== key.publicKey) {
        throw new LseError(
          'KEY_INVALID',
          `a different key named '${key.name}' is already trusted; revoke it and choose another name`,
          { name: key.name },
        );
      }
      // publicKey never changes under a name, so this filter cannot hit another key.
      await this.keys.replaceOne({ name: key.name, publicKey: key.publicKey }, encodeDoc(stored));
    }
    if (revoked)
      await insertIfAbsent(this.db, COLLECTIONS.keyRevocations, encodeDoc({ name: key.name, at: revokedAt }));
  }

  async revoke(name: string, at: string): Promise<void> {
    if (!(await this.keys.findOne({ name })))
      throw new LseError(
        'KEY_UNTRUSTED',
        `no key named '${name}' in the trust store; list the keys with 'lse trust list'`,
        { name },
      );
    // The first revocation wins (and keeps its time); revoking again changes nothing.
    await insertIfAbsent(this.db, COLLECTIONS.keyRevocations, { name, at });
  }
}

interface TagDoc {
  name: string;
  tag: string;
  digest: string;
}

export class MongoBaseRepository implements BaseRepository {
  constructor(private readonly db: Db) {}
  private get bases() {
    return this.db.collection<StrIdDoc>(COLLECTIONS.bases);
  }
  private get pointers() {
    return this.db.collection(COLLECTIONS.baseTags);
  }

  async put(base: BaseImage): Promise<void> {
    const doc = { ...encodeDoc(base), _id: base.digest };
    if (await insertIfAbsent(this.db, COLLECTIONS.bases, doc)) return;
    // A record from before bases listed their packages is completed (same digest, same content).
    if (base.packages && !(await this.get(base.digest))?.packages)
      await this.bases.replaceOne({ _id: base.digest }, doc);
  }
  async get(digest: string): Promise<BaseImage | undefined> {
    const d = await this.bases.findOne({ _id: digest });
    return d ? decodeDoc<BaseImage>(d) : undefined;
  }
  async tag(name: string, tag: string, digest: string): Promise<void> {
    if (!(await this.bases.findOne({ _id: digest }, { projection: { _id: 1 } }))) {
      throw new LseError(
        'BASE_UNKNOWN',
        `no base with digest ${digest}; import it with 'lse base import' before tagging it ${name}:${tag}`,
        { digest, name, tag },
      );
    }
    await upsertReplace(this.db, COLLECTIONS.baseTags, { name, tag }, { name, tag, digest });
  }
  async resolveTag(name: string, tag: string): Promise<string | undefined> {
    const d = await this.pointers.findOne({ name, tag });
    return d ? decodeDoc<TagDoc>(d).digest : undefined;
  }
  async tags(): Promise<TagDoc[]> {
    return (await this.pointers.find({}).toArray())
      .map((d) => {
        const t = decodeDoc<TagDoc>(d);
        return { name: t.name, tag: t.tag, digest: t.digest };
      })
      .sort((a, b) => byText(`${a.name}:${a.tag}`, `${b.name}:${b.tag}`));
  }
}

/** Leases: expiry is judged in code by the collector (no TTL index: FerretDB 1.x has none). */
/**
 * Leases with their blob lists stored apart, once per distinct list (`lease_blob_sets`, `_id` =
 * digest of the list, insert-once): every repeat of an image has its own lease, and all of them
 * name the same blobs, so a lease document stays small and the collector's read of every lease
 * (FerretDB decodes each document in full) costs little per lease. A set is written before any
 * lease that names it; sets are immutable, so this process keeps those it has read. Sets are not
 * deleted (one small document per distinct image). Documents written with the list inline are
 * still read.
 */
export class MongoLeaseRepository implements LeaseRepository {
  private readonly sets = new Map<string, string[]>();
  constructor(private readonly db: Db) {}
  private get col() {
    return this.db.collection<StrIdDoc>(COLLECTIONS.leases);
  }

  async put(lease: Lease): Promise<void> {
    const { blobs, ...rest } = lease;
    let ref: { blobs: string[] } | { blobSet: string } = { blobs };
    if (blobs.length) {
      const id = sha256Digest(JSON.stringify(blobs));
      if (!this.sets.has(id)) {
        await insertIfAbsent(this.db, COLLECTIONS.leaseBlobSets, { _id: id, blobs });
        this.sets.set(id, [...blobs]);
      }
      ref = { blobSet: id };
    }
    await upsertReplace(
      this.db,
      COLLECTIONS.leases,
      { _id: lease.synthesisId },
      { ...encodeDoc(rest), ...ref, _id: lease.synthesisId },
    );
  }
  private async blobSet(id: string): Promise<string[]> {
    const have = this.sets.get(id);
    if (have) return [...have];
    const d = await this.db.collection<StrIdDoc>(COLLECTIONS.leaseBlobSets).findOne({ _id: id });
    if (!d) throw new LseError('INTERNAL', `lease blob set ${id} is missing from ${COLLECTIONS.leaseBlobSets}`, { id });
    const blobs = (d['blobs'] as string[]).map(String);
    this.sets.set(id, blobs);
    return [...blobs];
  }
  private async read(d: StrIdDoc): Promise<Lease> {
    const { blobSet, ...rest } = d as StrIdDoc & { blobSet?: string };
    const lease = decodeDoc<Lease>(rest);
    return typeof blobSet === 'string'
      ? { ...lease, blobs: await this.blobSet(blobSet) }
      : { ...lease, blobs: lease.blobs ?? [] };
  }
  async get(synthesisId: string): Promise<Lease | undefined> {
    const d = await this.col.findOne({ _id: synthesisId });
    return d ? this.read(d) : undefined;
  }
  async renew(synthesisId: string, expiresAt: string): Promise<boolean> {
    return (await this.col.updateOne({ _id: synthesisId }, { $set: { expiresAt } })).matchedCount > 0;
  }
  async release(synthesisId: string): Promise<void> {
    await this.col.deleteMany({ _id: synthesisId });
  }
  async list(): Promise<Lease[]> {
    const out: Lease[] = [];
    for (const d of await this.col.find({}).toArray()) out.push(await this.read(d));
    return out;
  }
}
