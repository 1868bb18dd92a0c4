import {
  baseRepositoryConformance, blobStoreConformance, busConformance, durableBusConformance, fragmentRepositoryConformance, layerRecordRepositoryConformance,
  leaseRepositoryConformance, sampleFragment, synthesisRepositoryConformance, trustStoreConformance, verdictRepositoryConformance,
} from '@lse/testing';
import {
  InProcessBus, MemoryBaseRepository, MemoryBlobStore, MemoryFragmentRepository, MemoryLayerRecordRepository, MemoryLeaseRepository, MemorySynthesisRepository,
  MemoryTrustStore, MemoryVerdictRepository,
} from './index';
import { subjectMatches } from '@lse/contracts';

blobStoreConformance('memory', async () => new MemoryBlobStore());
fragmentRepositoryConformance('memory', async () => new MemoryFragmentRepository(), sampleFragment);
trustStoreConformance('memory', async () => new MemoryTrustStore());
baseRepositoryConformance('memory', async () => new MemoryBaseRepository());
synthesisRepositoryConformance('memory', async () => new MemorySynthesisRepository());
leaseRepositoryConformance('memory', async () => new MemoryLeaseRepository());
layerRecordRepositoryConformance('memory', async () => new MemoryLayerRecordRepository());
verdictRepositoryConformance('memory', async () => new MemoryVerdictRepository());
busConformance('in-process', async () => new InProcessBus());
durableBusConformance('in-process', async () => new InProcessBus(), 'lse.test.work');

describe('subject matching', () => {
  it('follows NATS wildcards', () => {
    expect(subjectMatches('lse.events.>', 'lse.events.synthesis.completed.x')).toBe(true);
    expect(subjectMatches('lse.events.>', 'lse.events')).toBe(false);
    expect(subjectMatches('lse.synth.*', 'lse.synth.resolved')).toBe(true);
    expect(subjectMatches('lse.synth.*', 'lse.synth.resolved.x')).toBe(false);
  });
});
