/**
 * Ports: the small interfaces the engine needs from storage and messaging. Each has an embedded
 * implementation (libs/adapters/fs, libs/adapters/memory) and a server one (MongoDB, S3, NATS),
 * and every implementation passes the same conformance suite (libs/testing).
 */
import type { Fragment } from './model';
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
  /** Every fragment (the resolver's catalog snapshot). */
  list(): Promise<Fragment[]>;
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
}

/** Bases by digest, and mutable `name:tag` pointers to them. */
export interface BaseRepository {
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

/** Publish/subscribe between pipeline stages: in-process for the CLI, NATS JetStream for services. */
export interface Bus {
  publish<T>(subject: string, data: T, headers?: Headers): Promise<void>;
  /** Subscribes a handler; the message counts as handled when the promise resolves. */
  subscribe<T>(subject: string, handler: (msg: BusMessage<T>) => Promise<void>): Promise<() => Promise<void>>;
}
