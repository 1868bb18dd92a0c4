export { MemoryBlobStore } from './blob-store';
export {
  MemoryFragmentRepository,
  MemoryTrustStore,
  MemoryBaseRepository,
  MemorySynthesisRepository,
  MemoryLeaseRepository,
  MemoryLayerRecordRepository,
  MemoryVerdictRepository,
} from './repositories';
export { InProcessBus } from './bus';
export { MemoryCatalogFeed } from './catalog-feed';
