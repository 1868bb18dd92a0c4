export { MemoryBlobStore } from './blob-store';
export {
  MemoryFragmentRepository,
  MemoryTrustStore,
  MemoryBaseRepository,
  MemorySynthesisRepository,
  MemoryLeaseRepository,
  MemoryLayerRecordRepository,
  MemoryVerdictRepository,
  MemoryDebianReleaseLog,
} from './repositories';
export { InProcessBus } from './bus';
export { MemoryCatalogFeed } from './catalog-feed';
