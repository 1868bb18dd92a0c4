import { isLseError, isRetryable, sha256Digest } from '@lse/core';
import {
  InProcessBus,
  MemoryBaseRepository,
  MemoryBlobStore,
  MemoryLeaseRepository,
  MemorySynthesisRepository,
} from '@lse/adapter-memory';
import { Collector } from './collector';
import { silentLog } from './log';
import { imageBlobs, makeRecordProjection, makeRecorder } from './recorder';

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
    await bases.put({
      digest: sha256Digest('base'),
      config: {},
      configDigest: sha256Digest('c'),
      layers: [{ digest: baseLayer, size: 10, mediaType: 'x', diffId: sha256Digest('d') }],
      platform: { os: 'linux', arch: 'amd64' },
      source: {},
    });
    await bases.tag('minimal', 'latest', sha256Digest('base'));
    await leases.put({
      synthesisId: 'a',
      key: sha256Digest('ka'),
      expiresAt: '2026-01-01T00:10:00Z',
      blobs: [onlyA, shared],
    });
    await leases.put({
      synthesisId: 'b',
      key: sha256Digest('kb'),
      expiresAt: '2026-01-01T00:10:00Z',
      blobs: [onlyB, shared],
    });
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

  it('keeps blobs written while a provisional lease lives, however long the recorder lags, and collects older garbage', async () => {
    const c = new Collector({ leases, bases, layers, graceMs: 60_000, now, log: silentLog });
    const old = await blob(layers, 'old garbage');
    expect((await c.collect()).deleted).toEqual([]); // old: first seen unreferenced now
    clock += 1_000;
    await leases.put({
      synthesisId: 'asm',
      key: sha256Digest('k'),
      expiresAt: new Date(clock + 3_600_000).toISOString(),
      blobs: [],
      provisional: true,
      createdAt: new Date(clock).toISOString(),
    });
    clock += 1_000;
    const fresh = await blob(layers, 'written by the assembler');
    for (let i = 0; i < 10; i++) {
      clock += 60_000; // ten minutes: far past the grace period
      const r = await c.collect();
      expect(r.deleted).not.toContain(fresh);
      if (i === 0) expect(r.deleted).toEqual([old]);
    }
    // The recorder replaces the provisional lease with the real one: still kept.
    await leases.put({
      synthesisId: 'asm',
      key: sha256Digest('k'),
      expiresAt: new Date(clock + 3_600_000).toISOString(),
      blobs: [fresh],
    });
    clock += 120_000;
    expect((await c.collect()).deleted).toEqual([]);
    // Released: collected after the grace period.
    await leases.release('asm');
    expect((await c.collect()).deleted).toEqual([]);
    clock += 61_000;
    expect((await c.collect()).deleted).toEqual([fresh]);
  });
});

describe('recorder', () => {
  it('leases the blobs, publishes one terminal event per delivery (deduped by id), and refuses an image whose blobs are gone', async () => {
    const bus = new InProcessBus({ duplicateWindowMs: 0 }); // every publish reaches the subscriber: the bus's de-duplication is off
    const syntheses = new MemorySynthesisRepository();
    const leases = new MemoryLeaseRepository();
    const layers = new MemoryBlobStore();
    const events: { subject: string; id?: string }[] = [];
    await bus.subscribe('lse.events.>', async (m) => {
      events.push({ subject: m.subject, id: m.headers['Nats-Msg-Id'] });
    });
    const record = makeRecorder({
      bus,
      syntheses,
      leases,
      layers,
      leaseTtlSeconds: 600,
      now: () => new Date('2026-01-01T00:00:00Z'),
      log: silentLog,
    });
    const image = {
      manifestDigest: await blob(layers, 'm'),
      manifestSize: 1,
      configDigest: await blob(layers, 'c'),
      layers: [{ digest: await blob(layers, 'l'), size: 1, mediaType: 'x' }],
      platform: { os: 'linux', arch: 'amd64' },
    };
    const msg = { v: 1 as const, synthesisId: 's1', key: sha256Digest('k'), image, layerPlan: [] };
    await leases.put({
      synthesisId: 's1',
      key: msg.key,
      expiresAt: '2026-01-01T01:00:00Z',
      blobs: [],
      provisional: true,
      createdAt: '2026-01-01T00:00:00Z',
    });
    await record(msg);
    await record(msg); // redelivery
    await new Promise((r) => setTimeout(r, 10));
    expect(events.map((e) => [e.subject, e.id])).toEqual([
      ['lse.events.synthesis.completed.s1', 'terminal:s1'],
      ['lse.events.synthesis.completed.s1', 'terminal:s1'],
    ]);
    expect(await leases.get('s1')).toEqual({
      synthesisId: 's1',
      key: msg.key,
      expiresAt: '2026-01-01T00:10:00.000Z',
      blobs: imageBlobs(image),
    });
    expect(await syntheses.get('s1')).toBeUndefined(); // the record is the projection's to write

    await layers.delete(image.layers[0]!.digest);
    const err = await record({ ...msg, synthesisId: 's2' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLseError(err, 'BLOB_UNKNOWN')).toBe(true);
    expect((err as Error).message).toContain(image.layers[0]!.digest);
    expect(events.filter((e) => e.subject.endsWith('.s2'))).toEqual([]);
    expect(await leases.get('s2')).toBeUndefined();
  });
});

describe('record projection', () => {
  const at = '2026-01-01T00:00:00.000Z';
  const key = sha256Digest('k');
  const image = {
    manifestDigest: sha256Digest('m'),
    manifestSize: 1,
    configDigest: sha256Digest('c'),
    layers: [],
    platform: { os: 'linux', arch: 'amd64' },
  };

  it('creates the record from the requested event, moves stages forward only, and finishes once (first terminal event wins)', async () => {
    const syntheses = new MemorySynthesisRepository();
    const leases = new MemoryLeaseRepository();
    const project = makeRecordProjection({ syntheses, leases, now: () => new Date(at) });
    await project('lse.events.synthesis.requested.a', {
      v: 1,
      synthesisId: 'a',
      manifestName: 'svc',
      tenant: 'team-a',
      requestedAt: at,
    });
    await project('lse.events.synthesis.requested.a', { v: 1, synthesisId: 'a', manifestName: 'svc', requestedAt: at }); // the resolver's copy
    expect(await syntheses.get('a')).toMatchObject({
      status: 'pending',
      stage: 'requested',
      manifestName: 'svc',
      tenant: 'team-a',
    });
    await project('lse.events.synthesis.progress.a', { v: 1, synthesisId: 'a', stage: 'verified', at });
    await project('lse.events.synthesis.progress.a', { v: 1, synthesisId: 'a', stage: 'resolved', key, at }); // late, out of order
    expect(await syntheses.get('a')).toMatchObject({ stage: 'verified' });
    await project('lse.events.synthesis.completed.a', {
      v: 1,
      synthesisId: 'a',
      key,
      image,
      layerPlan: [],
      completedAt: at,
    });
    await project('lse.events.synthesis.failed.a', {
      v: 1,
      synthesisId: 'a',
      stage: 'verifier',
      code: 'KEY_REVOKED',
      message: 'late',
      details: {},
      failedAt: at,
    });
    expect(await syntheses.get('a')).toMatchObject({
      status: 'completed',
      stage: 'assembled',
      key,
      result: { manifestDigest: image.manifestDigest },
    });
  });

  it('retries an event that arrives before its requested event, and releases the provisional lease of a failed synthesis', async () => {
    const syntheses = new MemorySynthesisRepository();
    const leases = new MemoryLeaseRepository();
    const project = makeRecordProjection({ syntheses, leases, now: () => new Date(at) });
    const early = await project('lse.events.synthesis.failed.b', {
      v: 1,
      synthesisId: 'b',
      stage: 'assembler',
      code: 'PATH_CONFLICT',
      message: 'x',
      details: {},
      failedAt: at,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRetryable(early)).toBe(true);
    expect(await syntheses.get('b')).toBeUndefined(); // no placeholder record
    await leases.put({
      synthesisId: 'b',
      key,
      expiresAt: '2026-01-01T01:00:00Z',
      blobs: [],
      provisional: true,
      createdAt: at,
    });
    await project('lse.events.synthesis.requested.b', { v: 1, synthesisId: 'b', manifestName: 'svc', requestedAt: at });
    await project('lse.events.synthesis.failed.b', {
      v: 1,
      synthesisId: 'b',
      stage: 'assembler',
      code: 'PATH_CONFLICT',
      message: 'x',
      details: {},
      failedAt: at,
    });
    expect(await syntheses.get('b')).toMatchObject({
      status: 'failed',
      error: { code: 'PATH_CONFLICT', stage: 'assembler' },
    });
    expect(await leases.get('b')).toBeUndefined();
  });
});
