import {
  baseRepositoryConformance,
  blobStoreConformance,
  busConformance,
  fragmentRepositoryConformance,
  layerRecordRepositoryConformance,
  leaseRepositoryConformance,
  sampleFragment,
  synthesisRepositoryConformance,
  trustStoreConformance,
  verdictRepositoryConformance,
  debianReleaseLogConformance,
} from '@lse/testing';
import {
  InProcessBus,
  MemoryBaseRepository,
  MemoryBlobStore,
  MemoryFragmentRepository,
  MemoryLayerRecordRepository,
  MemoryLeaseRepository,
  MemorySynthesisRepository,
  MemoryTrustStore,
  MemoryVerdictRepository,
} from './index';
import { MemoryDebianReleaseLog } from './repositories';
import { DUPLICATE_WINDOW_MS, subjectMatches } from '@lse/contracts';

blobStoreConformance('memory', async () => new MemoryBlobStore());
fragmentRepositoryConformance('memory', async () => new MemoryFragmentRepository(), sampleFragment);
trustStoreConformance('memory', async () => new MemoryTrustStore());
baseRepositoryConformance('memory', async () => new MemoryBaseRepository());
synthesisRepositoryConformance('memory', async () => new MemorySynthesisRepository());
leaseRepositoryConformance('memory', async () => new MemoryLeaseRepository());
layerRecordRepositoryConformance('memory', async () => new MemoryLayerRecordRepository());
debianReleaseLogConformance('memory', async () => new MemoryDebianReleaseLog());
verdictRepositoryConformance('memory', async () => new MemoryVerdictRepository());

/** The in-process bus on a clock the suite moves: its duplicate window can pass at once. */
let clock = 0;
busConformance('in-process', {
  bus: async (opts = {}) => new InProcessBus({ ...opts, now: () => clock }),
  subject: (name) => `lse.synth.test.${name}`,
  msgId: (name) => `test:${name}`,
  passDuplicateWindow: () => {
    clock += DUPLICATE_WINDOW_MS;
  },
});

describe('subject matching', () => {
  it('follows NATS wildcards', () => {
    expect(subjectMatches('lse.events.>', 'lse.events.synthesis.completed.x')).toBe(true);
    expect(subjectMatches('lse.events.>', 'lse.events')).toBe(false);
    expect(subjectMatches('lse.synth.*', 'lse.synth.resolved')).toBe(true);
    expect(subjectMatches('lse.synth.*', 'lse.synth.resolved.x')).toBe(false);
  });
});
