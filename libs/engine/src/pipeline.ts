import { LseError, isLseError, isRetryable, lseErrorFrom, parseManifest, type Bus, type BusMessage } from '@lse/core';
import {
  HEADERS, SUBJECTS, eventSubjects, validateAssembled, validateFailed, validateRequested, validateResolved, validateVerified,
  type Stage, type SynthAssembled, type SynthCompleted, type SynthFailed, type SynthProgress, type SynthRequested, type SynthResolved,
  type SynthVerified,
} from '@lse/contracts';
import { assembleImage } from './assemble-stage';
import { fetchFragments } from './fetch-stage';
import type { Log } from './log';
import type { EngineOptions, EnginePorts } from './ports';
import { resolveManifest } from './resolve-stage';
import { verifyFragments } from './verify-stage';

export type StageName = 'resolver' | 'fetcher' | 'verifier' | 'assembler' | 'recorder';
export const ALL_STAGES: StageName[] = ['resolver', 'fetcher', 'verifier', 'assembler', 'recorder'];

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
export async function startPipeline(deps: PipelineDeps, stages: StageName[] = ALL_STAGES): Promise<() => Promise<void>> {
  const { bus, ports, opts } = deps;
  const now = deps.now ?? (() => new Date().toISOString());
  const isTransient = deps.isTransient ?? isRetryable;
  const stops: (() => Promise<void>)[] = [];

  const progress = (id: string, stage: Stage, detail?: string, manifestName?: string) =>
    bus.publish<SynthProgress>(eventSubjects.progress(id), { v: 1, synthesisId: id, stage, at: now(), ...(detail ? { detail } : {}), ...(manifestName ? { manifestName } : {}) }, { [HEADERS.synthesisId]: id, [HEADERS.msgId]: `progress-${stage}:${id}` });

  const publishFailed = (id: string, name: StageName, stage: Stage, err: LseError) =>
    bus.publish<SynthFailed>(eventSubjects.failed(id), {
      v: 1, synthesisId: id, stage: name, code: err.code, message: err.message, details: { ...err.details, subject: stage }, failedAt: now(),
    }, { ...headersFor(id, stage), [HEADERS.msgId]: `failed:${id}` });

  function handle<T extends { synthesisId: string }>(name: StageName, stage: Stage, validate: (v: unknown) => T, step: (m: T, log: Log) => Promise<void>) {
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
        await publishFailed(m.synthesisId, name, stage, err);
      }
    };
  }

  /** After the last redelivery of a transient failure: the synthesis fails at that stage. */
  const deadLetter = (name: StageName, stage: Stage) => async (msg: BusMessage, err: unknown) => {
    const id = (msg.data as { synthesisId?: string })?.synthesisId;
    if (typeof id !== 'string') return;
    const cause = isLseError(err) ? err : undefined;
    const e = new LseError(cause?.code ?? 'INTERNAL', `${name} gave up after retrying for several minutes: ${(err as Error)?.message ?? String(err)}; the message is in the dead letters (lse.synth.dead)`, { ...(cause?.details ?? {}), retried: true });
    await publishFailed(id, name, stage, e);
  };

  const trace = (m: { synthesisId: string }) => m.synthesisId;
  const table: Record<StageName, [string, (msg: BusMessage<unknown>) => Promise<void>]> = {
    resolver: [SUBJECTS.requested, handle('resolver', 'requested', validateRequested, async (m: SynthRequested) => {
      const manifest = parseManifest(typeof m.manifest === 'string' ? m.manifest : JSON.stringify(m.manifest, null, 2), `manifest of ${m.synthesisId}`);
      const { lock, key } = await resolveManifest(ports, manifest, m.platform);
      const cached = deps.completedByKey ? await deps.completedByKey(key) : undefined;
      if (cached) {
        // Same key, same image: the earlier result is reused and the work stages are skipped.
        await bus.publish<SynthAssembled>(SUBJECTS.assembled, { v: 1, synthesisId: m.synthesisId, key, image: cached, layerPlan: [] }, headersFor(m.synthesisId, 'assembled', trace(m)));
        await progress(m.synthesisId, 'resolved', `${lock.fragments.length} fragments, key ${key} (cached result)`, manifest.metadata.name);
        return;
      }
      await bus.publish<SynthResolved>(SUBJECTS.resolved, { v: 1, synthesisId: m.synthesisId, key, lock }, headersFor(m.synthesisId, 'resolved', trace(m)));
      await progress(m.synthesisId, 'resolved', `${lock.fragments.length} fragments, key ${key}`, manifest.metadata.name);
    })],
    fetcher: [SUBJECTS.resolved, handle('fetcher', 'resolved', validateResolved, async (m: SynthResolved, log) => {
      const r = await fetchFragments(ports, m.lock);
      for (const why of r.refused) log.warn({ stage: 'resolved' }, `not cached, left to the verifier: ${why}`);
      await bus.publish<SynthResolved>(SUBJECTS.fetched, { v: 1, synthesisId: m.synthesisId, key: m.key, lock: m.lock }, headersFor(m.synthesisId, 'fetched', trace(m)));
      await progress(m.synthesisId, 'fetched', `${r.copied} blobs copied to the cache${r.refused.length ? `, ${r.refused.length} refused` : ''}`);
    })],
    verifier: [SUBJECTS.fetched, handle('verifier', 'fetched', validateResolved, async (m: SynthResolved) => {
      const verifiedBy = await verifyFragments(ports, m.lock);
      await bus.publish<SynthVerified>(SUBJECTS.verified, { ...m, verifiedBy }, headersFor(m.synthesisId, 'verified', trace(m)));
      await progress(m.synthesisId, 'verified', `${Object.keys(verifiedBy).length} fragments verified`);
    })],
    assembler: [SUBJECTS.verified, handle('assembler', 'verified', validateVerified, async (m: SynthVerified) => {
      const { image, layerPlan } = await assembleImage(ports, m.lock, opts);
      await bus.publish<SynthAssembled>(SUBJECTS.assembled, { v: 1, synthesisId: m.synthesisId, key: m.key, image, layerPlan }, headersFor(m.synthesisId, 'assembled', trace(m)));
      await progress(m.synthesisId, 'assembled', image.manifestDigest);
    })],
    recorder: [SUBJECTS.assembled, handle('recorder', 'assembled', validateAssembled, async (m: SynthAssembled) => {
      if (deps.record) await deps.record(m);
      else await bus.publish<SynthCompleted>(eventSubjects.completed(m.synthesisId), { ...m, completedAt: now() }, { ...headersFor(m.synthesisId, 'assembled', trace(m)), [HEADERS.msgId]: `completed:${m.synthesisId}` });
    })],
  };
  const STAGE_OF: Record<StageName, Stage> = { resolver: 'requested', fetcher: 'resolved', verifier: 'fetched', assembler: 'verified', recorder: 'assembled' };
  for (const s of stages) {
    const [subject, handler] = table[s];
    stops.push(await bus.subscribe(subject, handler, { durable: `lse-${s}`, concurrency: deps.concurrency ?? 1, onDeadLetter: deadLetter(s, STAGE_OF[s]) }));
  }
  return async () => {
    for (const stop of stops) await stop();
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
    } else onProgress?.(msg.data as SynthProgress);
  });
  try {
    await bus.publish(SUBJECTS.requested, req, headersFor(req.synthesisId, 'requested', req.synthesisId));
    return await done;
  } finally {
    void unsubscribe();
  }
}
