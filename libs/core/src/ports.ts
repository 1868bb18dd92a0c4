/**
 * Ports: the small interfaces the engine needs from storage and messaging. Each has an embedded
 * implementation (libs/adapters/fs, libs/adapters/memory) and a server one (MongoDB, S3, NATS),
 * and every implementation passes the same conformance suite (libs/testing).
 */
import type { FileEntry, Fragment, Platform } from './model';
import type { BasePackage } from './resolve/base';
import type { TrustedKey } from './sign/trust';

/**
 * Content-addressed bytes in one namespace (`fragments` for fragment tars, `layers` for image
 * blobs: layers, configs, manifests).
 */
export interface BlobStore {
  /**
   * Stores `data` under `digest`. The digest (sha256) and, when given, the size are verified
   * before anything becomes visible: a mismatch throws DIGEST_MISMATCH/SIZE_MISMATCH and stores
   * nothing. Storing a digest that is already present is a no-op (writes are conditional).
   */
  put(digest: string, data: Buffer, size?: number): Promise<void>;
  /** The bytes, re-verified against the digest on read (DIGEST_MISMATCH); BLOB_UNKNOWN if absent. */
  get(digest: string): Promise<Buffer>;
  has(digest: string): Promise<boolean>;
  /** Size in bytes, or undefined if absent. */
  stat(digest: string): Promise<number | undefined>;
  /** Removes the blob; absent is not an error. */
  delete(digest: string): Promise<void>;
  /** Every digest in the namespace, in no particular order. */
  list(): AsyncIterable<string>;
}

/** The fragment database: immutable records keyed by fragment id. */
export interface FragmentRepository {
  /** Idempotent: an existing id is left as it is ('exists'). Records are immutable. */
  put(f: Fragment): Promise<'created' | 'exists'>;
  get(id: string): Promise<Fragment | undefined>;
  /** All fragments named `name`, any version and variant. */
  byName(name: string): Promise<Fragment[]>;
  /** Every fragment. */
  list(): Promise<Fragment[]>;
  /**
   * Fragments named any of `names` or providing any of them (virtual names): what the resolver
   * must consider for those names. The resolver loads its catalog with this, name by name.
   */
  candidates(names: string[]): Promise<Fragment[]>;
  /**
   * Stores many fragments (a Packages index: tens of thousands) in few round trips; like `put`
   * for each, in no particular order. Counts what was new and what was already there. Once all
   * are stored, records their set (fragmentSetDigest of their ids) for `storedSets`.
   */
  putMany(fs: Fragment[]): Promise<{ created: number; existing: number }>;
  /**
   * For each set digest, whether a putMany of exactly that set of fragments completed. One cheap
   * lookup per set (per-id existence checks cost a collection scan each on FerretDB), so a
   * re-import skips the batches it stored before. False means "not known", not "missing".
   */
  storedSets(digests: string[]): Promise<boolean[]>;
}

/**
 * What building one fragment layer produced (a fragment's, or a budget group's), recorded under a
 * digest of its inputs: the layer format, the epoch and the fragment ids in order (engine
 * layer-cache.ts, `layerInputKey`). Deterministic assembly makes the same inputs give the same
 * layer, so a later synthesis whose layer blob is still present builds nothing.
 */
export interface LayerRecord {
  /** Digest of the inputs: the record's natural key. */
  key: string;
  /** The gzip layer blob's digest (in the `layers` BlobStore), its uncompressed digest and size. */
  digest: string;
  diffId: string;
  size: number;
  /** The fragment ids the layer holds, in order. */
  fragments: string[];
}

/**
 * Layer records: insert-once documents looked up only by key (a point lookup). Written only by a
 * stage that verified the fragments it built the layer from.
 */
export interface LayerRecordRepository {
  get(key: string): Promise<LayerRecord | undefined>;
  /** Insert-once: an existing key is left as it is ('exists'); records never change. */
  put(r: LayerRecord): Promise<'created' | 'exists'>;
}

/**
 * A fragment verified against one state of the trust store (a trust generation: core
 * `trustGeneration`): its blob had the signed digest and size, the content passed the tar policy
 * and matched the signed (or derived) file index, and `keyName` vouched for it. A later synthesis
 * under the same generation does not read the blob again; any change to the trust store changes
 * the generation, and nothing recorded under an earlier one is consulted.
 */
export interface FragmentVerdict {
  /** `<fragment id>@<trust generation>` (`verdictId`). */
  id: string;
  fragment: string;
  trustGeneration: string;
  keyName: string;
  verifiedAt: string;
  /**
   * For a fragment whose content is derived from its blob (a package from a Debian index: the
   * blob is the .deb), the derived file index and metadata assembly uses instead of the stored
   * descriptor's (core deriveFromDeb).
   */
  derived?: { files: FileEntry[]; metadata: Record<string, unknown> };
  /** Small files assembly reads from the content (path → base64), e.g. base-passwd's masters. */
  files?: Record<string, string>;
}

export function verdictId(fragmentId: string, generation: string): string {
  return `${fragmentId}@${generation}`;
}

/** Verdicts: insert-once documents looked up only by `id` (a point lookup). */
export interface VerdictRepository {
  get(id: string): Promise<FragmentVerdict | undefined>;
  /** Insert-once: an existing id is left as it is ('exists'). */
  put(v: FragmentVerdict): Promise<'created' | 'exists'>;
}

/** One imported Debian release: which suite, its `Date`, and the InRelease blob. */
export interface DebianReleaseRecord {
  /** releaseSuiteKey (core debian/release.ts), e.g. `Debian/Debian/bookworm`. */
  suite: string;
  /** The release's `Date`, ISO 8601. */
  date: string;
  /** `sha256:` of the InRelease blob. */
  inRelease: string;
}

/**
 * The newest Debian release imported per suite: what the rollback rule compares a new import's
 * `Date` with (an older one is refused unless asked for).
 */
export interface DebianReleaseLog {
  /** The record with the newest date for `suite`, if any release of it was imported. */
  newest(suite: string): Promise<DebianReleaseRecord | undefined>;
  /**
   * Records an import; the newest date per suite is kept (an older record does not change
   * `newest`, but is itself recorded: `has` finds it).
   */
  record(r: DebianReleaseRecord): Promise<void>;
  /** Whether exactly this release (suite, date and InRelease) was recorded. */
  has(r: DebianReleaseRecord): Promise<boolean>;
}

/** The trust store: publisher keys, their name scopes, revocations. */
export interface TrustStore {
  list(): Promise<TrustedKey[]>;
  get(name: string): Promise<TrustedKey | undefined>;
  /** Adds a key, or updates its scopes. Re-adding a revoked key does not un-revoke it. */
  add(key: TrustedKey): Promise<void>;
  /** Marks the key revoked (it stays listed). KEY_UNTRUSTED if unknown. */
  revoke(name: string, at: string): Promise<void>;
}

export interface BaseLayer {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
}

/** An immutable base image (its blobs live in the `layers` BlobStore), addressed by manifest digest. */
export interface BaseImage {
  digest: string;
  config: Record<string, unknown>;
  configDigest: string;
  layers: BaseLayer[];
  platform: { os: string; arch: string; variant?: string };
  source: Record<string, unknown>;
  /**
   * The packages the base holds (installed entries of its dpkg status, or the packages it was
   * built from), sorted by name: the resolver counts them as installed (resolve/base.ts).
   * Absent for bases without a package database.
   */
  packages?: BasePackage[];
}

/** Bases by digest, and mutable `name:tag` pointers to them. */
export interface BaseRepository {
  /**
   * Stores the base; an existing digest is left as it is, except that a record without
   * `packages` is completed when the same base is put again with them (bases imported before
   * their packages were recorded).
   */
  put(base: BaseImage): Promise<void>;
  get(digest: string): Promise<BaseImage | undefined>;
  /** Points `name:tag` at a digest (replacing an earlier pointer). */
  tag(name: string, tag: string, digest: string): Promise<void>;
  /** The digest `name:tag` points at, or undefined. */
  resolveTag(name: string, tag: string): Promise<string | undefined>;
  /** Every `name:tag` pointer. */
  tags(): Promise<{ name: string; tag: string; digest: string }[]>;
}

/** Message headers travel with every message (synthesis id, trace id, Nats-Msg-Id). */
export type Headers = Record<string, string>;

export interface BusMessage<T = unknown> {
  subject: string;
  data: T;
  headers: Headers;
}

/**
 * How a subscription consumes. Delivery limits (max deliveries, backoff schedule, ack wait,
 * dead-letter subject) are the adapter's options, the same for every durable subscription of it.
 */
export interface SubscribeOptions {
  /**
   * Durable work consumer (one name per stage), on a subject held by a stream (else the
   * subscribe is refused with CONFIG_INVALID). Messages published before the consumer first
   * subscribed, or while none of its subscribers ran, are kept for it. Subscribers sharing a name
   * share the messages: each is handled by one of them at a time. A message is acknowledged only
   * after the handler resolves; when the handler throws it is delivered again (possibly to
   * another subscriber) after the backoff delay for that delivery, up to the adapter's max
   * deliveries, then dead-lettered (see onDeadLetter). Delivery is at least once: a handler must
   * be idempotent. Without `durable`: a plain ephemeral subscription that sees every message
   * published from now on, in order, one at a time; its handler's errors are logged, not retried.
   */
  durable?: string;
  /** Messages this subscriber handles at once, a positive integer (default 1); never more run at once. */
  concurrency?: number;
  /**
   * Called once, after the message failed its last allowed delivery and was published to the
   * dead-letter subject (payload as published, original headers plus `Lse-Dead-Subject`,
   * `Lse-Error`, `Lse-Deliveries`); the message is then never delivered again. Receives the
   * message and the last delivery's error.
   */
  onDeadLetter?: (msg: BusMessage, err: unknown) => Promise<void>;
}

/** Publish/subscribe between pipeline stages: in-process for the CLI, NATS JetStream for services. */
export interface Bus {
  /**
   * Publishes and returns once the message is durable (JetStream: stored, PubAck received), so a
   * durable consumer that subscribes later still gets it. On a subject held by a stream, a
   * `Nats-Msg-Id` header de-duplicates: a message whose id was first stored less than the
   * stream's duplicate window ago (2 minutes for LSE_WORK and LSE_EVENTS) is dropped, even when
   * the first one was already handled; the publish still resolves. Rejects when the message
   * could not be stored.
   */
  publish<T>(subject: string, data: T, headers?: Headers): Promise<void>;
  /**
   * Subscribes a handler (see SubscribeOptions). Resolves once the subscription receives
   * messages; returns a stop function: the subscriber takes no new messages, and the stop's
   * promise resolves once its running handlers have finished and been settled (acknowledged, or
   * scheduled for redelivery). Messages it had not started stay with the durable consumer.
   */
  subscribe<T>(
    subject: string,
    handler: (msg: BusMessage<T>) => Promise<void>,
    opts?: SubscribeOptions,
  ): Promise<() => Promise<void>>;
  /** Largest payload (bytes of the JSON body) one publish may carry; larger ones are refused. */
  readonly maxPayload?: number;
  /**
   * The stored messages on subjects matching `subject`, oldest first (a late subscriber's
   * replay: JetStream reads its stream with an ordered consumer). Optional: a bus without
   * storage has no history to give.
   */
  history?(subject: string): Promise<BusMessage[]>;
}

/** One stored catalog change (contracts' lse.catalog.* messages), with its position in the log. */
export interface CatalogEvent {
  /** Position in the log: increasing, never reused (the JetStream stream sequence). */
  seq: number;
  subject: string;
  data: unknown;
}

/**
 * The log of catalog changes a resolver follows (writers publish to it with `Bus.publish`).
 * A reader records `position()` before it loads its snapshot and follows from there, so a change
 * stored while it loaded (or while it was down) is replayed, not missed.
 */
export interface CatalogFeed {
  /** The position of the last stored event (0 when there is none). */
  position(): Promise<number>;
  /**
   * Calls `handler` for every event after position `after`, in order, then for new ones as they
   * are stored, one at a time. Resolves once following has started; the returned function stops.
   */
  follow(after: number, handler: (e: CatalogEvent) => Promise<void>): Promise<() => Promise<void>>;
}

export type SynthesisStatus = 'pending' | 'completed' | 'failed';

/** One synthesis as the gateway tracks it. */
export interface SynthesisRecord {
  id: string;
  status: SynthesisStatus;
  /** Last stage reached: requested, resolved, fetched, verified, assembled. */
  stage: string;
  manifestName: string;
  platform?: Platform;
  /** Synthesis key (lock digest), once resolved. */
  key?: string;
  /** The image, once completed (contracts' ImageRef shape). */
  result?: Record<string, unknown>;
  error?: { code: string; message: string; stage: string; details?: Record<string, unknown> };
  /** The tenant (token name) that asked for it; absent for requests published straight to NATS. */
  tenant?: string;
  createdAt: string;
  updatedAt: string;
}

/** The syntheses collection: one record per synthesis id, finished exactly once. */
export interface SynthesisRepository {
  /** Creates the record; an existing id is left alone ('exists'). */
  create(rec: SynthesisRecord): Promise<'created' | 'exists'>;
  get(id: string): Promise<SynthesisRecord | undefined>;
  /**
   * Records progress (stage, key) with a write by id alone (no filtered update: FerretDB scans
   * those); a stage earlier than the recorded one, or progress after the finish, changes nothing
   * that `get` shows.
   */
  progress(id: string, fields: { stage: string; key?: string; at: string }): Promise<void>;
  /**
   * Moves a pending record to completed or failed. Returns true for the one call that did it;
   * false if it was already finished (so a redelivered message changes nothing). A result moves
   * the record to stage 'assembled' and gives a record without a key the result's `key`.
   */
  finish(
    id: string,
    fields: {
      status: 'completed' | 'failed';
      at: string;
      result?: Record<string, unknown>;
      error?: SynthesisRecord['error'];
    },
  ): Promise<boolean>;
  /** The most recent completed synthesis with this key, if any (the result cache). */
  completedByKey(key: string): Promise<SynthesisRecord | undefined>;
}

/**
 * A synthesis' claim on the image blobs it made. Layers, configs and manifests that no live
 * lease names (and that are not base layers) are collected.
 */
export interface Lease {
  synthesisId: string;
  key: string;
  /** ISO time; expired leases are ignored by the collector and removed. */
  expiresAt: string;
  /** Digests in the `layers` blob store this synthesis' image needs. */
  blobs: string[];
  /**
   * Taken by the assembler before it writes any blob, until the synthesis is recorded (then the
   * recorder replaces it) or fails (then it is released): while it lives, blobs the collector
   * first saw unreferenced after `createdAt` are not collected.
   */
  provisional?: boolean;
  createdAt?: string;
}

export interface LeaseRepository {
  /** Creates or replaces the lease of a synthesis. */
  put(lease: Lease): Promise<void>;
  get(synthesisId: string): Promise<Lease | undefined>;
  /** Extends a lease that exists; false when there is none (released or collected). */
  renew(synthesisId: string, expiresAt: string): Promise<boolean>;
  /** Ends a lease; absent is not an error. */
  release(synthesisId: string): Promise<void>;
  list(): Promise<Lease[]>;
}
