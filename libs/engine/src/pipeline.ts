import { LseError, isLseError, isRetryable, lseErrorFrom, parseManifest, type Bus, type BusMessage } from '@lse/core';
import {
  HEADERS, STAGE_NAMES, STAGE_OF, SUBJECTS, acceptedMsgId, durableOf, eventSubjects, terminalMsgId, validateAssembled, validateFailed, validateRequested, validateResolved, validateVerified,
  type Stage, type StageName, type SynthAccepted, type SynthAssembled, type SynthCompleted, type SynthFailed, type SynthProgress, type SynthRequested, type SynthResolved,
  type SynthVerified,
} from '@lse/contracts';
import type { LeaseRepository, Manifest } from '@lse/core';
import { imageBlobs } from './image-blobs';
import { missingBlobs } from './recorder';
import { assembleImage } from './assemble-stage';
import { fetchFragments } from './fetch-stage';
import type { Log } from './log';
import type { EngineOptions, EnginePorts } from './ports';
import { resolveManifest } from './resolve-stage';
import { verifyFragments } from './verify-stage';

/**
 * Lifetime of a provisional lease nobody replaced or released: longer than an assembly plus the
 * redeliveries of a stage (about six minutes), short enough that a lost one holds little back.
 */
export const PROVISIONAL_LEASE_SECONDS = 900;

export interface PipelineDeps {
  bus: Bus;
  ports: EnginePorts;
  opts: EngineOptions;
  log: Log;
  now?: () => string;
  /** Messages each stage handles at once (default 1). */
  concurrency?: number;
  /**
   * What the recorder stage does with an assembled image. Default: publish the completed event.
   * The gateway records the result and the lease first (see recorder.ts).
   */
  record?: (m: SynthAssembled) => Promise<void>;
  /** Result cache: a completed synthesis with the same key skips fetch, verify and assemble. */
  completedByKey?: (key: string) => Promise<SynthAssembled['image'] | undefined>;
  /**
   * Whether an error is worth a redelivery (true) or ends the synthesis with a failed event.
   * Default: the error says so itself (`isRetryable`: an LseError of kind `unavailable`, or a
   * driver's own error). The in-process pipeline has nobody to redeliver, so it treats
   * everything as permanent.
   */
  isTransient?: (err: unknown) => boolean;
  /**
   * Provisional leases (the assembler takes one before it writes a blob, the resolver before it
   * hands on a cached image), so the collector keeps what is not recorded yet. Without it (the
   * embedded CLI, which runs no collector) none are taken.
   */
  leases?: LeaseRepository;
  /** How long a provisional lease lives if nobody replaces or releases it (default PROVISIONAL_LEASE_SECONDS). */
  provisionalLeaseSeconds?: number;
}

const headersFor = (id: string, stage: Stage, trace?: string) => ({
  [HEADERS.synthesisId]: id,
  [HEADERS.msgId]: `${stage}:${id}`,
  ...(trace ? { [HEADERS.traceId]: trace } : {}),
});

/**
 * Subscribes the given stages to their work subjects. Each handler does its side effect (all
 * content-addressed, so a redelivered message repeats nothing visible), publishes the next
 * message, then returns (which is when a NATS adapter acks). Returns a stop function that waits
 * for in-flight messages.
 */
export async function startPipeline(deps: PipelineDeps, stages: readonly StageName[] = STAGE_NAMES): Promise<() => Promise<void>> {
  const { bus, ports, opts } = deps;
  const now = deps.now ?? (() => new Date().toISOString());
  const isTransient = deps.isTransient ?? isRetryable;
  const stops: (() => Promise<void>)[] = [];

  const progress = (id: string, stage: Stage, detail?: string, manifestName?: string, key?: string) =>
    bus.publish<SynthProgress>(eventSubjects.progress(id), {
      v: 1, synthesisId: id, stage, at: now(), ...(detail ? { detail } : {}), ...(manifestName ? { manifestName } : {}), ...(key ? { key } : {}),
    }, { [HEADERS.synthesisId]: id, [HEADERS.msgId]: `progress-${stage}:${id}` });

  const publishFailed = (id: string, name: StageName, err: LseError, stage = STAGE_OF[name]) =>
    bus.publish<SynthFailed>(eventSubjects.failed(id), {
      v: 1, synthesisId: id, stage: name, code: err.code, message: err.message, details: { ...err.details, subject: stage }, failedAt: now(),
    }, { ...headersFor(id, stage), [HEADERS.msgId]: terminalMsgId(id) });

  /** The requested event (deduplicated with the gateway's own by its message id): the record starts here. */
  const accepted = (m: SynthRequested, manifest: Manifest | undefined) =>
    bus.publish<SynthAccepted>(eventSubjects.requested(m.synthesisId), acceptedOf(m, manifest, now()), { [HEADERS.synthesisId]: m.synthesisId, [HEADERS.msgId]: acceptedMsgId(m.synthesisId) });

  const provisional = async (id: string, key: string, blobs: string[]) => {
    if (!deps.leases) return;
    // A redelivered message of a synthesis that was recorded meanwhile must not turn its real
    // lease back into a provisional one.
    const have = await deps.leases.get(id);
    if (have && !have.provisional) return;
    const at = Date.now();
    await deps.leases.put({
      synthesisId: id, key, blobs, provisional: true, createdAt: new Date(at).toISOString(),
      expiresAt: new Date(at + (deps.provisionalLeaseSeconds ?? PROVISIONAL_LEASE_SECONDS) * 1000).toISOString(),
    });
  };

  function handle<T extends { synthesisId: string }>(name: StageName, validate: (v: unknown) => T, step: (m: T, log: Log) => Promise<void>) {
    const stage = STAGE_OF[name];
    return async (msg: BusMessage<unknown>) => {
      const started = Date.now();
      let m: T;
      try {
        m = validate(msg.data);
      } catch (e) {
        deps.log.error({ handler: name, subject: msg.subject, err: (e as Error).message }, 'dropping invalid message');
        return;
      }
      const log = deps.log.child({ handler: name, synthesisId: m.synthesisId, traceId: msg.headers[HEADERS.traceId] });
      try {
        await step(m, log);
        log.info({ stage, ms: Date.now() - started }, `${name} done`);
      } catch (e) {
        if (isTransient(e)) {
          log.warn({ stage, err: (e as Error).message }, `${name} failed transiently; the message will be redelivered`);
          throw e;
        }
        const err = isLseError(e) ? e : new LseError('INTERNAL', (e as Error).message ?? String(e), {}, { cause: e });
        log.error({ stage, code: err.code, err: err.message }, `${name} failed`);
        await publishFailed(m.synthesisId, name, err);
      }
    };
  }

  /** After the last redelivery of a transient failure: the synthesis fails at that stage. */
  const deadLetter = (name: StageName) => async (msg: BusMessage, err: unknown) => {
    const id = (msg.data as { synthesisId?: string })?.synthesisId;
    if (typeof id !== 'string') return;
    const cause = isLseError(err) ? err : undefined;
    const e = new LseError(cause?.code ?? 'INTERNAL', `${name} gave up after retrying for several minutes: ${(err as Error)?.message ?? String(err)}; the message is in the dead letters (lse.synth.dead)`, { ...(cause?.details ?? {}), retried: true });
    await publishFailed(id, name, e);
  };

  const trace = (m: { synthesisId: string }) => m.synthesisId;
  const table: Record<StageName, (msg: BusMessage<unknown>) => Promise<void>> = {
    resolver: handle('resolver', validateRequested, async (m: SynthRequested) => {
      let manifest: Manifest | undefined;
      try {
        manifest = parseManifest(typeof m.manifest === 'string' ? m.manifest : JSON.stringify(m.manifest, null, 2), `manifest of ${m.synthesisId}`);
      } finally {
        await accepted(m, manifest);
      }
      const { lock, key } = await resolveManifest(ports, manifest, m.platform);
      const cached = deps.completedByKey ? await deps.completedByKey(key) : undefined;
      if (cached) {
        // Same key, same image: the earlier result is reused and the work stages are skipped.
        await provisional(m.synthesisId, key, imageBlobs(cached));
        await progress(m.synthesisId, 'resolved', `${lock.fragments.length} fragments, key ${key} (cached result)`, manifest.metadata.name, key);
        await bus.publish<SynthAssembled>(SUBJECTS.assembled, { v: 1, synthesisId: m.synthesisId, key, image: cached, layerPlan: [] }, headersFor(m.synthesisId, 'assembled', trace(m)));
        return;
      }
      await bus.publish<SynthResolved>(SUBJECTS.resolved, { v: 1, synthesisId: m.synthesisId, key, lock }, headersFor(m.synthesisId, 'resolved', trace(m)));
      await progress(m.synthesisId, 'resolved', `${lock.fragments.length} fragments, key ${key}`, manifest.metadata.name, key);
    }),
    fetcher: handle('fetcher', validateResolved, async (m: SynthResolved, log) => {
      const r = await fetchFragments(ports, m.lock);
      for (const why of r.refused) log.warn({ stage: 'resolved' }, `not cached, left to the verifier: ${why}`);
      await bus.publish<SynthResolved>(SUBJECTS.fetched, { v: 1, synthesisId: m.synthesisId, key: m.key, lock: m.lock }, headersFor(m.synthesisId, 'fetched', trace(m)));
      await progress(m.synthesisId, 'fetched', `${r.copied} blobs copied to the cache${r.refused.length ? `, ${r.refused.length} refused` : ''}`);
    }),
    verifier: handle('verifier', validateResolved, async (m: SynthResolved) => {
      const verifiedBy = await verifyFragments(ports, m.lock);
      await bus.publish<SynthVerified>(SUBJECTS.verified, { ...m, verifiedBy }, headersFor(m.synthesisId, 'verified', trace(m)));
      await progress(m.synthesisId, 'verified', `${Object.keys(verifiedBy).length} fragments verified`);
    }),
    assembler: handle('assembler', validateVerified, async (m: SynthVerified) => {
      // Before any blob is written, a provisional lease keeps the collector off what this
      // synthesis writes; once the image is known, it names the blobs (reused ones included).
      await provisional(m.synthesisId, m.key, []);
      let { image, layerPlan } = await assembleImage(ports, m.lock, opts);
      await provisional(m.synthesisId, m.key, imageBlobs(image));
      // A reused layer (layer record) may have been collected between the check and the lease
      // that now names it: assemble again, which rebuilds exactly what is missing.
      if (deps.leases && (await missingBlobs(ports.layers, imageBlobs(image))).length) {
        ({ image, layerPlan } = await assembleImage(ports, m.lock, opts));
        await provisional(m.synthesisId, m.key, imageBlobs(image));
      }
      await bus.publish<SynthAssembled>(SUBJECTS.assembled, { v: 1, synthesisId: m.synthesisId, key: m.key, image, layerPlan }, headersFor(m.synthesisId, 'assembled', trace(m)));
      await progress(m.synthesisId, 'assembled', image.manifestDigest);
    }),
    recorder: handle('recorder', validateAssembled, async (m: SynthAssembled) => {
      if (deps.record) await deps.record(m);
      else await bus.publish<SynthCompleted>(eventSubjects.completed(m.synthesisId), { ...m, completedAt: now() }, { ...headersFor(m.synthesisId, 'assembled', trace(m)), [HEADERS.msgId]: terminalMsgId(m.synthesisId) });
    }),
  };
  for (const s of stages) {
    stops.push(await bus.subscribe(SUBJECTS[STAGE_OF[s]], table[s], { durable: durableOf(s), concurrency: deps.concurrency ?? 1, onDeadLetter: deadLetter(s) }));
  }
  return async () => {
    for (const stop of stops) await stop();
  };
}

/**
 * The requested event of a request: its manifest's name (parsed here unless given; an invalid
 * manifest is named so, and fails at the resolver), platform and tenant.
 */
export function acceptedOf(m: SynthRequested, manifest?: Manifest, at = new Date().toISOString()): SynthAccepted {
  let name = manifest?.metadata.name;
  if (!name && typeof m.manifest === 'object' && m.manifest && typeof m.manifest.metadata?.name === 'string') name = m.manifest.metadata.name;
  if (!name && typeof m.manifest === 'string') {
    try {
      name = parseManifest(m.manifest, 'request').metadata.name;
    } catch {
      // named below
    }
  }
  return {
    v: 1, synthesisId: m.synthesisId, manifestName: name ?? '(invalid manifest)', requestedAt: m.requestedAt ?? at,
    ...(m.platform ? { platform: m.platform } : {}), ...(m.tenant ? { tenant: m.tenant } : {}),
  };
}

/**
 * Publishes a request and waits for its completed (resolves) or failed (rejects with an
 * LseError carrying the stage) event. Progress events go to `onProgress`.
 */
export async function runSynthesis(bus: Bus, req: SynthRequested, onProgress?: (p: SynthProgress) => void): Promise<SynthCompleted> {
  let settle!: { resolve: (c: SynthCompleted) => void; reject: (e: unknown) => void };
  const done = new Promise<SynthCompleted>((resolve, reject) => { settle = { resolve, reject }; });
  const unsubscribe = await bus.subscribe(eventSubjects.all(req.synthesisId), async (msg) => {
    if (msg.subject === eventSubjects.completed(req.synthesisId)) settle.resolve(msg.data as SynthCompleted);
    else if (msg.subject === eventSubjects.failed(req.synthesisId)) {
      const f = validateFailed(msg.data);
      const e = lseErrorFrom(f);
      settle.reject(new LseError(e.code, e.message, { ...e.details, stage: f.stage }));
    } else if (msg.subject === eventSubjects.progress(req.synthesisId)) onProgress?.(msg.data as SynthProgress);
  });
  try {
    await bus.publish(SUBJECTS.requested, req, headersFor(req.synthesisId, 'requested', req.synthesisId));
    return await done;
  } finally {
    void unsubscribe();
  }
}
