import { sha256Digest } from '@lse/core';
import { InProcessBus, MemoryBaseRepository, MemoryBlobStore, MemoryLeaseRepository, MemorySynthesisRepository } from '@lse/adapter-memory';
import { Collector } from './collector';
import { silentLog } from './log';
import { imageBlobs, makeRecorder, makeResultCache } from './recorder';

async function blob(store: MemoryBlobStore, text: string): Promise<string> {
  const d = sha256Digest(text);
  await store.put(d, Buffer.from(text));
  return d;
}

describe('Collector', () => {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const now = () => new Date(clock);
  let leases: MemoryLeaseRepository, bases: MemoryBaseRepository, layers: MemoryBlobStore;
  beforeEach(() => {
    clock = Date.parse('2026-01-01T00:00:00Z');
    leases = new MemoryLeaseRepository();
    bases = new MemoryBaseRepository();
    layers = new MemoryBlobStore();
  });

  it('collects exactly the blobs no live lease or base references: released gone, renewed kept, shared kept', async () => {
    const shared = await blob(layers, 'shared layer');
    const onlyA = await blob(layers, 'manifest A');
    const onlyB = await blob(layers, 'manifest B');
    const baseLayer = await blob(layers, 'base layer');
    const orphan = await blob(layers, 'never leased');
    await bases.put({ digest: sha256Digest('base'), config: {}, configDigest: sha256Digest('c'), layers: [{ digest: baseLayer, size: 10, mediaType: 'x', diffId: sha256Digest('d') }], platform: { os: 'linux', arch: 'amd64' }, source: {} });
    await bases.tag('minimal', 'latest', sha256Digest('base'));
    await leases.put({ synthesisId: 'a', key: sha256Digest('ka'), expiresAt: '2026-01-01T00:10:00Z', blobs: [onlyA, shared] });
    await leases.put({ synthesisId: 'b', key: sha256Digest('kb'), expiresAt: '2026-01-01T00:10:00Z', blobs: [onlyB, shared] });
    const c = new Collector({ leases, bases, layers, graceMs: 0, now, log: silentLog });

    expect((await c.collect()).deleted).toEqual([orphan]);
    await leases.release('a');
    expect((await c.collect()).deleted).toEqual([onlyA]);
    expect(await layers.has(shared)).toBe(true);

    clock = Date.parse('2026-01-01T00:09:00Z');
    expect(await leases.renew('b', '2026-01-01T00:20:00Z')).toBe(true);
    clock = Date.parse('2026-01-01T00:15:00Z');
    expect((await c.collect()).deleted).toEqual([]);
    clock = Date.parse('2026-01-01T00:20:00Z');
    const r = await c.collect();
    expect(r.expired).toEqual(['b']);
    expect(r.deleted).toEqual([onlyB, shared].sort());
    expect(await layers.has(baseLayer)).toBe(true);
  });

  it('waits out the grace period before deleting a blob it has just seen unreferenced', async () => {
    const fresh = await blob(layers, 'just assembled');
    const c = new Collector({ leases, bases, layers, graceMs: 60_000, now, log: silentLog });
    expect((await c.collect()).deleted).toEqual([]);
    clock += 30_000;
    await leases.put({ synthesisId: 's', key: sha256Digest('k'), expiresAt: '2026-01-01T01:00:00Z', blobs: [fresh] });
    clock += 40_000;
    expect((await c.collect()).deleted).toEqual([]);
    await leases.release('s');
    expect((await c.collect()).deleted).toEqual([]);
    clock += 60_000;
    expect((await c.collect()).deleted).toEqual([fresh]);
  });
});

describe('recorder', () => {
  it('finishes once, leases the blobs, publishes one completed event per delivery (deduped by id), and never completes a failed synthesis', async () => {
    const bus = new InProcessBus({ duplicateWindowMs: 0 }); // every publish reaches the subscriber: the bus's de-duplication is off
    const syntheses = new MemorySynthesisRepository();
    const leases = new MemoryLeaseRepository();
    const layers = new MemoryBlobStore();
    const events: { subject: string; id?: string }[] = [];
    await bus.subscribe('lse.events.>', async (m) => { events.push({ subject: m.subject, id: m.headers['Nats-Msg-Id'] }); });
    const record = makeRecorder({ bus, syntheses, leases, layers, leaseTtlSeconds: 600, now: () => new Date('2026-01-01T00:00:00Z'), log: silentLog });
    const image = { manifestDigest: await blob(layers, 'm'), manifestSize: 1, configDigest: await blob(layers, 'c'), layers: [{ digest: await blob(layers, 'l'), size: 1, mediaType: 'x' }], platform: { os: 'linux', arch: 'amd64' } };
    const msg = { v: 1 as const, synthesisId: 's1', key: sha256Digest('k'), image, layerPlan: [] };
    await record(msg);
    await record(msg); // redelivery
    await new Promise((r) => setTimeout(r, 10));
    expect(events.map((e) => e.id)).toEqual(['completed:s1', 'completed:s1']);
    expect(await syntheses.get('s1')).toMatchObject({ status: 'completed', key: msg.key });
    expect((await leases.get('s1'))?.blobs).toEqual(imageBlobs(image));
    expect((await makeResultCache({ syntheses, layers })(msg.key))?.manifestDigest).toBe(image.manifestDigest);
    await layers.delete(image.layers[0]!.digest);
    expect(await makeResultCache({ syntheses, layers })(msg.key)).toBeUndefined();

    await syntheses.create({ id: 's2', status: 'pending', stage: 'verified', manifestName: 'x', createdAt: 'a', updatedAt: 'a' });
    await syntheses.finish('s2', { status: 'failed', at: 'b', error: { code: 'DIGEST_MISMATCH', message: 'tampered', stage: 'fetched' } });
    await record({ ...msg, synthesisId: 's2' });
    await new Promise((r) => setTimeout(r, 10));
    expect(events.filter((e) => e.subject.endsWith('.s2'))).toEqual([]);
    expect(await leases.get('s2')).toBeUndefined();
  });
});
