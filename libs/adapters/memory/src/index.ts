export { MemoryBlobStore } from './blob-store';
export { MemoryFragmentRepository, MemoryTrustStore, MemoryBaseRepository } from './repositories';
export { InProcessBus, matches as subjectMatches } from './bus';
