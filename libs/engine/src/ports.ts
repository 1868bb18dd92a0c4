import type { BaseRepository, BlobStore, FragmentRepository, TrustStore } from '@lse/core';

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
}

export interface EngineOptions {
  /** Seconds since the epoch for every timestamp in images (SOURCE_DATE_EPOCH, default 0). */
  epoch: number;
}
