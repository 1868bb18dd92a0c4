import { MongoClient, type Db, type IndexDescription } from 'mongodb';
import { COLLECTIONS } from './collections';
import { GridFsBlobStore } from './gridfs-blob-store';
import { MongoBaseRepository, MongoFragmentRepository, MongoLeaseRepository, MongoTrustStore } from './repositories';
import { MongoSynthesisRepository } from './synthesis-repository';
import { MongoLayerRecordRepository, MongoVerdictRepository } from './record-repositories';
import { MongoDebianReleaseLog } from './debian-release-log';

/**
 * Indexes per collection. The unique ones carry correctness (idempotent creates, finishing a
 * synthesis once, one revocation per key); the others make lookups fast. No TTL indexes: FerretDB
 * 1.x has none, so leases are expired in code.
 */
const INDEXES: Record<string, IndexDescription[]> = {
  [COLLECTIONS.fragments]: [
    { key: { id: 1 }, name: 'id', unique: true },
    { key: { name: 1 }, name: 'by_name' },
    { key: { provides: 1 }, name: 'by_provides' },
  ],
  [COLLECTIONS.keys]: [{ key: { name: 1 }, name: 'name', unique: true }],
  [COLLECTIONS.keyRevocations]: [{ key: { name: 1 }, name: 'name', unique: true }],
  [COLLECTIONS.bases]: [{ key: { digest: 1 }, name: 'digest', unique: true }],
  [COLLECTIONS.baseTags]: [{ key: { name: 1, tag: 1 }, name: 'name_tag', unique: true }],
  [COLLECTIONS.syntheses]: [
    { key: { id: 1 }, name: 'id', unique: true },
    { key: { key: 1, status: 1 }, name: 'key_status' },
  ],
  [COLLECTIONS.synthesisOutcomes]: [
    { key: { id: 1 }, name: 'id', unique: true },
    { key: { key: 1, status: 1 }, name: 'key_status' },
  ],
  [COLLECTIONS.leases]: [{ key: { synthesisId: 1 }, name: 'synthesisId', unique: true }],
  [COLLECTIONS.debianReleases]: [{ key: { suite: 1, date: -1 }, name: 'suite_date' }],
  // The ones the GridFS spec asks for (the driver would create them lazily on the first upload).
  [`${COLLECTIONS.fragmentBlobs}.files`]: [{ key: { filename: 1, uploadDate: 1 }, name: 'filename_1_uploadDate_1' }],
  [`${COLLECTIONS.fragmentBlobs}.chunks`]: [{ key: { files_id: 1, n: 1 }, name: 'files_id_1_n_1', unique: true }],
};

/** Every storage port on one MongoDB (or FerretDB) database. */
export class MongoStore {
  readonly fragments: MongoFragmentRepository;
  readonly trust: MongoTrustStore;
  readonly bases: MongoBaseRepository;
  readonly syntheses: MongoSynthesisRepository;
  readonly leases: MongoLeaseRepository;
  readonly layerRecords: MongoLayerRecordRepository;
  readonly verdicts: MongoVerdictRepository;
  /** The Debian releases imported (the rollback rule's newest date per suite). */
  readonly debianReleases: MongoDebianReleaseLog;
  /** The origin of fragment blobs (GridFS bucket `fragment_blobs`). */
  readonly blobs: GridFsBlobStore;

  /** Over an open client; `close()` closes that client. Call `ensureIndexes()` before use. */
  constructor(
    readonly client: MongoClient,
    readonly db: Db,
  ) {
    this.fragments = new MongoFragmentRepository(db);
    this.trust = new MongoTrustStore(db);
    this.bases = new MongoBaseRepository(db);
    this.syntheses = new MongoSynthesisRepository(db);
    this.leases = new MongoLeaseRepository(db);
    this.layerRecords = new MongoLayerRecordRepository(db);
    this.verdicts = new MongoVerdictRepository(db);
    this.debianReleases = new MongoDebianReleaseLog(db);
    this.blobs = new GridFsBlobStore(db);
  }

  /** Connects and ensures the indexes (the unique ones are needed for correct writes). */
  static async connect(url: string, dbName: string): Promise<MongoStore> {
    // socketTimeoutMS: no operation waits forever on a server that stopped answering (the longest
    // legitimate one, a full read of a big collection on FerretDB, takes seconds).
    const client = await MongoClient.connect(url, { ignoreUndefined: true, socketTimeoutMS: 120_000 });
    const store = new MongoStore(client, client.db(dbName));
    try {
      await store.ensureIndexes();
    } catch (e) {
      await client.close();
      throw e;
    }
    return store;
  }

  /**
   * Creates missing indexes; existing identical ones are left alone, so it can run at every start.
   * One index per command: FerretDB 1.24 panics (and drops the connection) on a createIndexes
   * with several specs that all exist already.
   */
  async ensureIndexes(): Promise<void> {
    // Every collection exists from the first start (not only once something is written to it), so
    // whatever tunes the server's storage per collection finds them all: on FerretDB 1.24 the local
    // stack adds an index that serves its `_id` lookups (infra/local/servers.sh `id-indexes`).
    const have = new Set((await this.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
    const all = [
      ...Object.values(COLLECTIONS).filter((n) => n !== COLLECTIONS.fragmentBlobs),
      `${COLLECTIONS.fragmentBlobs}.files`,
      `${COLLECTIONS.fragmentBlobs}.chunks`,
    ];
    for (const name of all) {
      if (have.has(name)) continue;
      try {
        await this.db.createCollection(name);
      } catch (e) {
        if ((e as { code?: number }).code !== 48) throw e; // NamespaceExists: another process made it
      }
    }
    for (const [name, specs] of Object.entries(INDEXES)) {
      for (const spec of specs) await this.db.collection(name).createIndexes([spec]);
    }
    await this.fragments.backfillNameSlots();
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
