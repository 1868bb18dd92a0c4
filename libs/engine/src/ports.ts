import type {
  BaseRepository,
  BlobStore,
  Catalog,
  DebContents,
  Fragment,
  FragmentChainCheck,
  FragmentRepository,
  LayerRecordRepository,
  TrustStore,
  VerdictRepository,
} from '@lse/core';

/** What resolution reads from an in-memory catalog (LiveCatalog): fragments, and bases by tag or digest. */
export interface ResolveView extends Catalog {
  bases: Pick<BaseRepository, 'get' | 'resolveTag'>;
  /** Applies every change stored so far (at most a short wait); true when the view changed. */
  catchUp?(): Promise<boolean>;
}

/**
 * What the pipeline stages need. In the embedded store `origin` and `cache` are the same
 * blob store; with servers the origin is GridFS and the cache is S3.
 */
export interface EnginePorts {
  fragments: FragmentRepository;
  bases: BaseRepository;
  trust: TrustStore;
  /** Where fragment blobs come from (publishers write here). */
  origin: BlobStore;
  /** Content-addressed cache of fragment blobs that fetchers fill and verifiers/assemblers read. */
  cache: BlobStore;
  /** Image blobs: base layers, built layers, configs, manifests. */
  layers: BlobStore;
  /**
   * Debian packages kept in an archive (fragments imported from a Packages index, whose blob is
   * the .deb): how to download one and how to read one. Without it such fragments fail with a
   * clear error; with it they are fetched on first use (see fetch-stage.ts, verify-stage.ts).
   */
  debian?: DebianArchive;
  /**
   * Debian's chain of trust (adapters/deb DebianChainVerifier over the Debian archive keyring and
   * the proof blobs in `origin`): required to accept a fragment signed over its derivation only
   * (core acceptFragment). Without it such fragments are refused (DEBIAN_CHAIN_UNVERIFIED);
   * fragments with a whole-descriptor signature do not need it.
   */
  debianChain?: FragmentChainCheck;
  /**
   * Fragment layers already built, by their inputs (layer-cache.ts). Without it every synthesis
   * builds every fragment layer again (same bytes, more work).
   */
  layerRecords?: LayerRecordRepository;
  /**
   * Verification verdicts per fragment and trust generation (verdicts.ts). Without it every
   * synthesis reads and checks every fragment blob again.
   */
  verdicts?: VerdictRepository;
  /**
   * The catalog in memory (services: LiveCatalog, kept current by catalog events). When set,
   * resolution reads fragments and bases from it and makes no database round trip; without it
   * (the embedded CLI), or when it resolves to undefined (not available), the catalog is loaded
   * from `fragments` name by name (loadCatalog).
   */
  catalog?: () => Promise<ResolveView | undefined>;
}

export interface DebianArchive {
  /**
   * Downloads the .deb of a metadata-only fragment (from `LSE_DEBIAN_MIRROR`, else the archive the
   * index came from) and returns it only if it has the signed digest and size (DIGEST_MISMATCH,
   * SIZE_MISMATCH otherwise; BLOB_UNKNOWN when the archive does not have it).
   */
  download(f: Fragment): Promise<Buffer>;
  /** Reads a .deb's control members and payload (dpkg-deb). */
  read(deb: Buffer, label: string): Promise<DebContents>;
}

export interface EngineOptions {
  /** Seconds since the epoch for every timestamp in images (SOURCE_DATE_EPOCH, default 0). */
  epoch: number;
}
