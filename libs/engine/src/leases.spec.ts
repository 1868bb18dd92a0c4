/**
 * Provisional leases taken by the pipeline (over memory ports): the assembler's lease names the
 * image's blobs before the synthesis is recorded, the recorder replaces it with the real lease,
 * and a redelivered assembler message for a recorded synthesis leaves the real lease alone.
 */
import { generateKeyPair, publicKeyOf, type BusMessage, type Manifest } from '@lse/core';
import {
  InProcessBus,
  MemoryBaseRepository,
  MemoryBlobStore,
  MemoryFragmentRepository,
  MemoryLeaseRepository,
  MemorySynthesisRepository,
  MemoryTrustStore,
} from '@lse/adapter-memory';
import { SUBJECTS, type SynthVerified } from '@lse/contracts';
import { silentLog } from './log';
import { buildFragment } from './pack';
import { runSynthesis, startPipeline } from './pipeline';
import type { EnginePorts } from './ports';
import { imageBlobs, makeRecorder } from './recorder';

const file = (path: string, content: string) => ({
  path,
  type: 'file' as const,
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: content.length,
  data: Buffer.from(content),
});

describe('provisional leases in the pipeline', () => {
  it('are replaced by the real lease when recorded, and a redelivered assembly does not turn it back', async () => {
    const key = generateKeyPair('k').secretKey;
    const ports: EnginePorts = {
      fragments: new MemoryFragmentRepository(),
      bases: new MemoryBaseRepository(),
      trust: new MemoryTrustStore(),
      origin: new MemoryBlobStore(),
      cache: new MemoryBlobStore(),
      layers: new MemoryBlobStore(),
    };
    ports.cache = ports.origin;
    await ports.trust.add({
      name: 'k',
      publicKey: publicKeyOf(key).key.toString('base64'),
      scopes: ['*'],
      revoked: false,
    });
    const { fragment, blob } = buildFragment({
      entries: [file('usr/share/x', 'x')],
      name: 'x',
      version: '1.0.0',
      scheme: 'semver',
      key,
      epoch: 0,
      source: {},
    });
    await ports.origin.put(fragment.descriptor.blob.digest, blob, blob.length);
    await ports.fragments.put(fragment);
    const leases = new MemoryLeaseRepository();
    const bus = new InProcessBus();
    const seen: { lease: unknown; at: string }[] = [];
    let verified: BusMessage<SynthVerified> | undefined;
    await bus.subscribe<SynthVerified>(SUBJECTS.verified, async (m) => {
      verified = m;
    });
    await bus.subscribe(SUBJECTS.assembled, async (m) => {
      seen.push({ lease: await leases.get((m.data as { synthesisId: string }).synthesisId), at: 'assembled' });
    });
    const record = makeRecorder({
      bus,
      syntheses: new MemorySynthesisRepository(),
      leases,
      layers: ports.layers,
      leaseTtlSeconds: 600,
      now: () => new Date(),
      log: silentLog,
    });
    const stop = await startPipeline({
      bus,
      ports,
      opts: { epoch: 0 },
      log: silentLog,
      isTransient: () => false,
      leases,
      record,
    });
    try {
      const manifest: Manifest = {
        apiVersion: 'lse.dev/v1',
        kind: 'DependencyManifest',
        metadata: { name: 'p' },
        base: 'scratch',
        require: [{ name: 'x' }],
        files: [],
        env: {},
        labels: {},
      };
      const done = await runSynthesis(bus, {
        v: 1,
        synthesisId: 's1',
        manifest,
        requestedAt: new Date().toISOString(),
      });
      // When the assembled message went out, the provisional lease already named every blob.
      expect(seen[0]!.lease).toMatchObject({ provisional: true, blobs: imageBlobs(done.image) });
      const real = await leases.get('s1');
      expect(real).toMatchObject({ blobs: imageBlobs(done.image) });
      expect(real?.provisional).toBeUndefined();
      // The assembler's message delivered again (its ack was lost): the real lease stays.
      await bus.publish(SUBJECTS.verified, verified!.data);
      await new Promise((r) => setTimeout(r, 100));
      // As on JetStream, its assembled message is a duplicate (same Nats-Msg-Id): the recorder does
      // not run again, so the lease must be exactly the real one still.
      expect(await leases.get('s1')).toEqual(real);
    } finally {
      await stop();
    }
  });
});
