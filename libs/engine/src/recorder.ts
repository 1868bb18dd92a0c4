import type { BlobStore, Bus, LeaseRepository, SynthesisRepository } from '@lse/core';
import { HEADERS, eventSubjects, type ImageRef, type SynthAssembled, type SynthCompleted, type SynthFailed, type SynthProgress } from '@lse/contracts';
import type { Log } from './log';

export interface RecorderDeps {
  bus: Bus;
  syntheses: SynthesisRepository;
  leases: LeaseRepository;
  layers: BlobStore;
  leaseTtlSeconds: number;
  now: () => Date;
  log: Log;
}

/** Every blob an image needs, manifest first: what its lease holds on to. */
export function imageBlobs(image: ImageRef): string[] {
  return [image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)];
}

/**
 * The recorder (run by the gateway) turns an assembled image into a finished synthesis:
 *  1. the lease is written before the record is finished, so a completed synthesis always has
 *     its blobs held (a crash in between leaves a lease the collector expires in time);
 *  2. `finish` moves the record from pending to completed exactly once;
 *  3. the completed event is published with `Nats-Msg-Id: completed:<id>`, so a redelivered
 *     assembled message (after a crash before the ack) publishes it again and JetStream stores
 *     it once. A synthesis that already failed gets no completed event.
 */
export function makeRecorder(d: RecorderDeps): (m: SynthAssembled) => Promise<void> {
  return async (m) => {
    const at = d.now().toISOString();
    await d.syntheses.create({ id: m.synthesisId, status: 'pending', stage: 'assembled', manifestName: '(nats client)', key: m.key, createdAt: at, updatedAt: at });
    const before = await d.syntheses.get(m.synthesisId);
    if (before?.status === 'failed') return;
    if (before?.status === 'pending') {
      const expiresAt = new Date(d.now().getTime() + d.leaseTtlSeconds * 1000).toISOString();
      await d.leases.put({ synthesisId: m.synthesisId, key: m.key, expiresAt, blobs: imageBlobs(m.image) });
      await d.syntheses.progress(m.synthesisId, { stage: 'assembled', key: m.key, at });
      await d.syntheses.finish(m.synthesisId, { status: 'completed', at, result: { ...m.image, key: m.key, layerPlan: m.layerPlan } });
    }
    const rec = await d.syntheses.get(m.synthesisId);
    if (rec?.status !== 'completed') return;
    await d.bus.publish<SynthCompleted>(eventSubjects.completed(m.synthesisId), { ...m, completedAt: rec.updatedAt }, {
      [HEADERS.synthesisId]: m.synthesisId, [HEADERS.msgId]: `completed:${m.synthesisId}`,
    });
    d.log.child({ synthesisId: m.synthesisId }).info({ key: m.key, manifest: m.image.manifestDigest }, 'synthesis completed');
  };
}

/** Records progress and failures from the event stream (also for requests made straight over NATS). */
export function makeEventRecorder(d: Pick<RecorderDeps, 'syntheses' | 'now'>): (subject: string, data: unknown) => Promise<void> {
  return async (subject, data) => {
    const ev = data as Partial<Omit<SynthProgress, 'stage'> & Omit<SynthFailed, 'stage'>> & { stage?: string };
    if (typeof ev.synthesisId !== 'string') return;
    const at = d.now().toISOString();
    const isFailed = subject.startsWith('lse.events.synthesis.failed.');
    const isProgress = subject.startsWith('lse.events.synthesis.progress.');
    if (!isFailed && !isProgress) return;
    await d.syntheses.create({ id: ev.synthesisId, status: 'pending', stage: 'requested', manifestName: ev.manifestName ?? '(nats client)', createdAt: at, updatedAt: at });
    if (isProgress && ev.stage) {
      const key = /key (sha256:[0-9a-f]{64})/.exec(ev.detail ?? '')?.[1];
      await d.syntheses.progress(ev.synthesisId, { stage: ev.stage, at, ...(key ? { key } : {}) });
    }
    if (isFailed) {
      await d.syntheses.finish(ev.synthesisId, { status: 'failed', at, error: { code: ev.code ?? 'INTERNAL', message: ev.message ?? 'failed', stage: String(ev.stage ?? 'unknown'), details: ev.details ?? {} } });
    }
  };
}

/**
 * The result cache lookup for the resolver: a completed synthesis with this key whose blobs are
 * all still in the layer store (a collected image is not reused).
 */
export function makeResultCache(d: Pick<RecorderDeps, 'syntheses' | 'layers'>): (key: string) => Promise<ImageRef | undefined> {
  return async (key) => {
    const rec = await d.syntheses.completedByKey(key);
    const image = rec?.result as unknown as ImageRef | undefined;
    if (!image?.manifestDigest) return undefined;
    for (const digest of imageBlobs(image)) if (!(await d.layers.has(digest))) return undefined;
    return { manifestDigest: image.manifestDigest, manifestSize: image.manifestSize, configDigest: image.configDigest, layers: image.layers, platform: image.platform };
  };
}
