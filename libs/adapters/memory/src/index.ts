export { MemoryBlobStore } from './blob-store';
export { MemoryFragmentRepository, MemoryTrustStore, MemoryBaseRepository, MemorySynthesisRepository, MemoryLeaseRepository } from './repositories';
export { InProcessBus, matches as subjectMatches } from './bus';
