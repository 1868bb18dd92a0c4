import {
  LseError,
  type BlobStore,
  type Bus,
  type LeaseRepository,
  type SynthesisRecord,
  type SynthesisRepository,
} from '@lse/core';
import {
  HEADERS,
  eventKindOf,
  eventSubjects,
  terminalMsgId,
  type ImageRef,
  type SynthAccepted,
  type SynthAssembled,
  type SynthCompleted,
  type SynthFailed,
  type SynthProgress,
} from '@lse/contracts';
import { imageBlobs } from './image-blobs';
import type { Log } from './log';

export { imageBlobs } from './image-blobs';

export interface RecorderDeps {
  bus: Bus;
  syntheses: SynthesisRepository;
  leases: LeaseRepository;
  layers: BlobStore;
  leaseTtlSeconds: number;
  now: () => Date;
  log: Log;
}

/** Blob existence checks in flight at once (S3 HEADs). */
const HEAD_PARALLEL = 32;

/** The digests among `digests` that the store does not have, checked a few at a time. */
export async function missingBlobs(store: BlobStore, digests: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (let i = 0; i < digests.length; i += HEAD_PARALLEL) {
    const part = digests.slice(i, i + HEAD_PARALLEL);
    const has = await Promise.all(part.map((d) => store.has(d)));
    part.forEach((d, j) => {
      if (!has[j]) missing.push(d);
    });
  }
  return missing;
}

/**
 * The recorder stage (lse.synth.assembled; any gateway runs it, sharing one durable consumer)
 * decides that a synthesis is complete:
 *  1. every blob of the image is present in the layer store (a synthesis is never reported
 *     completed with a collected blob: if one is gone, it fails, naming it);
 *  2. the lease is written (replacing the assembler's provisional one) before anything says
 *     "completed", so a completed synthesis always has its blobs held;
 *  3. the completed event is published with `Nats-Msg-Id: terminal:<id>`, the id the failed
 *     event uses too: a redelivered assembled message publishes it again and JetStream stores
 *     it once, and a late failure of the same synthesis is dropped as a duplicate.
 * It writes no synthesis record: the record is a projection of the events (makeRecordProjection).
 */
export function makeRecorder(d: RecorderDeps): (m: SynthAssembled) => Promise<void> {
  return async (m) => {
    const blobs = imageBlobs(m.image);
    const missing = await missingBlobs(d.layers, blobs);
    if (missing.length) {
      throw new LseError(
        'BLOB_UNKNOWN',
        `the image of synthesis ${m.synthesisId} lost ${missing.length} blob(s) before it was recorded (first: ${missing[0]}); request the synthesis again`,
        { missing: missing.slice(0, 10) },
      );
    }
    const at = d.now();
    const expiresAt = new Date(at.getTime() + d.leaseTtlSeconds * 1000).toISOString();
    await d.leases.put({ synthesisId: m.synthesisId, key: m.key, expiresAt, blobs });
    await d.bus.publish<SynthCompleted>(
      eventSubjects.completed(m.synthesisId),
      { ...m, completedAt: at.toISOString(), lease: { expiresAt } },
      {
        [HEADERS.synthesisId]: m.synthesisId,
        [HEADERS.msgId]: terminalMsgId(m.synthesisId),
      },
    );
    d.log
      .child({ synthesisId: m.synthesisId })
      .info({ key: m.key, manifest: m.image.manifestDigest }, 'synthesis completed');
  };
}

/**
 * The synthesis record is a projection of the event stream, and this is its one writer (run by
 * every gateway on one shared durable consumer, so each event is applied once, idempotently):
 *  - requested → the record is created (insert-once by id);
 *  - progress → the stage (and key) move forward (write by id alone);
 *  - completed / failed → the outcome is claimed once (insert-once), and a failed synthesis'
 *    provisional lease is released.
 * An event for a record that does not exist yet (events handled out of order) is retried later
 * (a retryable error), not turned into a placeholder record.
 */
export function makeRecordProjection(
  d: Pick<RecorderDeps, 'syntheses' | 'leases' | 'now'>,
): (subject: string, data: unknown) => Promise<void> {
  return async (subject, data) => {
    const kind = eventKindOf(subject);
    const ev = data as { synthesisId?: unknown };
    if (!kind || typeof ev?.synthesisId !== 'string') return;
    const id = ev.synthesisId;
    const create = (a: SynthAccepted, as: Partial<SynthesisRecord> = {}) =>
      d.syntheses.create({
        id,
        status: 'pending',
        stage: 'requested',
        manifestName: a.manifestName ?? '(unnamed)',
        ...(a.platform ? { platform: a.platform } : {}),
        ...(a.tenant ? { tenant: a.tenant } : {}),
        createdAt: a.requestedAt ?? d.now().toISOString(),
        updatedAt: a.requestedAt ?? d.now().toISOString(),
        ...as,
      });
    if (kind === 'requested') {
      await create(data as SynthAccepted);
      return;
    }
    const accepted = kind === 'completed' ? (data as SynthCompleted).accepted : undefined;
    if (accepted?.synthesisId !== id && !(await d.syntheses.get(id))) {
      throw new LseError(
        'UNAVAILABLE',
        `synthesis ${id}: ${kind} event before its requested event was recorded; retrying`,
        { id },
      );
    }
    if (kind === 'progress') {
      const p = data as SynthProgress;
      await d.syntheses.progress(id, { stage: p.stage, at: p.at, ...(p.key ? { key: p.key } : {}) });
    } else if (kind === 'completed') {
      const c = data as SynthCompleted;
      if (c.lease?.leaseBy === 'projection' && !(await d.leases.get(id))) {
        await d.leases.put({ synthesisId: id, key: c.key, expiresAt: c.lease.expiresAt, blobs: imageBlobs(c.image) });
      }
      const result = { ...c.image, key: c.key, layerPlan: c.layerPlan };
      // A repeat's completed event carries its requested event's fields: its record is created
      // completed, in one insert (the result cache keeps pointing at the synthesis this result
      // came from). If the requested event came first the record is pending and is finished.
      if (
        accepted &&
        (await create(accepted, {
          status: 'completed',
          stage: 'assembled',
          key: c.key,
          result,
          updatedAt: c.completedAt,
        })) === 'created'
      )
        return;
      // finish sets stage 'assembled' and the key (SynthesisRepository.finish): no progress write first.
      await d.syntheses.finish(id, { status: 'completed', at: c.completedAt, result });
    } else {
      const f = data as SynthFailed;
      const won = await d.syntheses.finish(id, {
        status: 'failed',
        at: f.failedAt,
        error: { code: f.code, message: f.message, stage: String(f.stage), details: f.details ?? {} },
      });
      const lease = won ? await d.leases.get(id) : undefined;
      if (lease?.provisional) await d.leases.release(id);
    }
  };
}

/**
 * The result cache lookup for the resolver: a completed synthesis with this key whose blobs are
 * all still in the layer store (a collected image is not reused).
 */
export function makeResultCache(
  d: Pick<RecorderDeps, 'syntheses' | 'layers'>,
): (key: string) => Promise<ImageRef | undefined> {
  return async (key) => {
    const rec = await d.syntheses.completedByKey(key);
    const image = rec?.result as unknown as ImageRef | undefined;
    if (!image?.manifestDigest) return undefined;
    if ((await missingBlobs(d.layers, imageBlobs(image))).length) return undefined;
    return {
      manifestDigest: image.manifestDigest,
      manifestSize: image.manifestSize,
      configDigest: image.configDigest,
      layers: image.layers,
      platform: image.platform,
    };
  };
}

export type { SynthesisRecord };
