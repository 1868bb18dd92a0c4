import { LseError, isLseError, isRetryable, lseErrorFrom, parseManifest, type Bus, type BusMessage } from '@lse/core';
import {
  HEADERS,
  NEXT_STAGE_OF,
  STAGE_NAMES,
  STAGE_OF,
  SUBJECTS,
  acceptedMsgId,
  durableOf,
  eventSubjects,
  terminalMsgId,
  validateAssembled,
  validateFailed,
  validateRequested,
  validateResolved,
  validateVerified,
  type Stage,
  type StageName,
  type SynthAccepted,
  type SynthAssembled,
  type SynthCompleted,
  type SynthFailed,
  type SynthProgress,
  type SynthRequested,
  type SynthResolved,
  type SynthVerified,
} from '@lse/contracts';
import type { LeaseRepository, Manifest } from '@lse/core';
import { imageBlobs } from './image-blobs';
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
export async function startPipeline(
  deps: PipelineDeps,
  stages: readonly StageName[] = STAGE_NAMES,
): Promise<() => Promise<void>> {
  const ctx = stageContext(deps);
  const handlers: Record<StageName, (msg: BusMessage<unknown>) => Promise<void>> = {
    resolver: handle(ctx, 'resolver', validateRequested, resolveStep),
    fetcher: handle(ctx, 'fetcher', validateResolved, fetchStep),
    verifier: handle(ctx, 'verifier', validateResolved, verifyStep),
    assembler: handle(ctx, 'assembler', validateVerified, assembleStep),
    recorder: handle(ctx, 'recorder', validateAssembled, recordStep),
  };
  const stops: (() => Promise<void>)[] = [];
  for (const s of stages) {
    stops.push(
      await deps.bus.subscribe(SUBJECTS[STAGE_OF[s]], handlers[s], {
        durable: durableOf(s),
        concurrency: deps.concurrency ?? 1,
        onDeadLetter: deadLetter(ctx, s),
      }),
    );
  }
  return async () => {
    for (const stop of stops) await stop();
  };
}

/** What every stage step shares: the dependencies and the events it publishes. */
interface StageContext {
  deps: PipelineDeps;
  now: () => string;
  isTransient: (err: unknown) => boolean;
}

type Step<T> = (ctx: StageContext, m: T, log: Log) => Promise<void>;

function stageContext(deps: PipelineDeps): StageContext {
  return { deps, now: deps.now ?? (() => new Date().toISOString()), isTransient: deps.isTransient ?? isRetryable };
}

function progress(ctx: StageContext, id: string, stage: Stage, detail?: string, manifestName?: string, key?: string) {
  return ctx.deps.bus.publish<SynthProgress>(
    eventSubjects.progress(id),
    {
      v: 1,
      synthesisId: id,
      stage,
      at: ctx.now(),
      ...(detail ? { detail } : {}),
      ...(manifestName ? { manifestName } : {}),
      ...(key ? { key } : {}),
    },
    { [HEADERS.synthesisId]: id, [HEADERS.msgId]: `progress-${stage}:${id}` },
  );
}

function publishFailed(ctx: StageContext, id: string, name: StageName, err: LseError, stage = STAGE_OF[name]) {
  return ctx.deps.bus.publish<SynthFailed>(
    eventSubjects.failed(id),
    {
      v: 1,
      synthesisId: id,
      stage: name,
      code: err.code,
      message: err.message,
      details: { ...err.details, subject: stage },
      failedAt: ctx.now(),
    },
    { ...headersFor(id, stage), [HEADERS.msgId]: terminalMsgId(id) },
  );
}

/** Publishes a stage's work message for the stage after it (from the stage table). */
function forward<T extends { synthesisId: string }>(ctx: StageContext, from: StageName, data: T) {
  const next = NEXT_STAGE_OF[from];
  if (!next) throw new LseError('INTERNAL', `${from} has no next stage to publish to`);
  return ctx.deps.bus.publish<T>(SUBJECTS[next], data, headersFor(data.synthesisId, next, data.synthesisId));
}

/** The requested event (deduplicated with the gateway's own by its message id): the record starts here. */
function accepted(ctx: StageContext, m: SynthRequested, manifest: Manifest | undefined) {
  return ctx.deps.bus.publish<SynthAccepted>(
    eventSubjects.requested(m.synthesisId),
    acceptedOf(m, manifest, ctx.now()),
    {
      [HEADERS.synthesisId]: m.synthesisId,
      [HEADERS.msgId]: acceptedMsgId(m.synthesisId),
    },
  );
}

async function provisional(ctx: StageContext, id: string, key: string, blobs: string[]): Promise<void> {
  const { leases } = ctx.deps;
  if (!leases) return;
  // A redelivered message of a synthesis that was recorded meanwhile must not turn its real
  // lease back into a provisional one.
  const have = await leases.get(id);
  if (have && !have.provisional) return;
  const at = Date.now();
  await leases.put({
    synthesisId: id,
    key,
    blobs,
    provisional: true,
    createdAt: new Date(at).toISOString(),
    expiresAt: new Date(at + (ctx.deps.provisionalLeaseSeconds ?? PROVISIONAL_LEASE_SECONDS) * 1000).toISOString(),
  });
}

/**
 * A stage's message handler: validates the message (an invalid one is dropped and logged), runs
 * the step, and turns a permanent failure into the synthesis' failed event; a transient one is
 * thrown so the bus redelivers the message.
 */
function handle<T extends { synthesisId: string }>(
  ctx: StageContext,
  name: StageName,
  validate: (v: unknown) => T,
  step: Step<T>,
) {
  const stage = STAGE_OF[name];
  return async (msg: BusMessage<unknown>) => {
    const started = Date.now();
    let m: T;
    try {
      m = validate(msg.data);
    } catch (e) {
      ctx.deps.log.error(
        { handler: name, subject: msg.subject, err: (e as Error).message },
        'dropping invalid message',
      );
      return;
    }
    const log = ctx.deps.log.child({
      handler: name,
      synthesisId: m.synthesisId,
      traceId: msg.headers[HEADERS.traceId],
    });
    try {
      await step(ctx, m, log);
      log.info({ stage, ms: Date.now() - started }, `${name} done`);
    } catch (e) {
      if (ctx.isTransient(e)) {
        log.warn({ stage, err: (e as Error).message }, `${name} failed transiently; the message will be redelivered`);
        throw e;
      }
      const err = isLseError(e) ? e : new LseError('INTERNAL', (e as Error).message ?? String(e), {}, { cause: e });
      log.error({ stage, code: err.code, err: err.message }, `${name} failed`);
      await publishFailed(ctx, m.synthesisId, name, err);
    }
  };
}

/** After the last redelivery of a transient failure: the synthesis fails at that stage. */
function deadLetter(ctx: StageContext, name: StageName) {
  return async (msg: BusMessage, err: unknown) => {
    const id = (msg.data as { synthesisId?: string })?.synthesisId;
    if (typeof id !== 'string') return;
    const cause = isLseError(err) ? err : undefined;
    const e = new LseError(
      cause?.code ?? 'INTERNAL',
      `${name} gave up after retrying for several minutes: ${(err as Error)?.message ?? String(err)}; the message is in the dead letters (lse.synth.dead)`,
      { ...(cause?.details ?? {}), retried: true },
    );
    await publishFailed(ctx, id, name, e);
  };
}

/** resolver: manifest → lock and key; a key with a completed result skips the work stages. */
async function resolveStep(ctx: StageContext, m: SynthRequested): Promise<void> {
  const { deps } = ctx;
  let manifest: Manifest | undefined;
  try {
    manifest = parseManifest(
      typeof m.manifest === 'string' ? m.manifest : JSON.stringify(m.manifest, null, 2),
      `manifest of ${m.synthesisId}`,
    );
  } finally {
    await accepted(ctx, m, manifest);
  }
  const { lock, key } = await resolveManifest(deps.ports, manifest, m.platform);
  const cached = deps.completedByKey ? await deps.completedByKey(key) : undefined;
  if (cached) {
    // Same key, same image: the earlier result is reused and the work stages are skipped.
    await provisional(ctx, m.synthesisId, key, imageBlobs(cached));
    await progress(
      ctx,
      m.synthesisId,
      'resolved',
      `${lock.fragments.length} fragments, key ${key} (cached result)`,
      manifest.metadata.name,
      key,
    );
    await deps.bus.publish<SynthAssembled>(
      SUBJECTS.assembled,
      { v: 1, synthesisId: m.synthesisId, key, image: cached, layerPlan: [] },
      headersFor(m.synthesisId, 'assembled', m.synthesisId),
    );
    return;
  }
  await forward<SynthResolved>(ctx, 'resolver', { v: 1, synthesisId: m.synthesisId, key, lock });
  await progress(
    ctx,
    m.synthesisId,
    'resolved',
    `${lock.fragments.length} fragments, key ${key}`,
    manifest.metadata.name,
    key,
  );
}

/** fetcher: every blob of the lock into the cache (refused ones are left to the verifier). */
async function fetchStep(ctx: StageContext, m: SynthResolved, log: Log): Promise<void> {
  const r = await fetchFragments(ctx.deps.ports, m.lock);
  for (const why of r.refused) log.warn({ stage: 'resolved' }, `not cached, left to the verifier: ${why}`);
  await forward<SynthResolved>(ctx, 'fetcher', { v: 1, synthesisId: m.synthesisId, key: m.key, lock: m.lock });
  await progress(
    ctx,
    m.synthesisId,
    'fetched',
    `${r.copied} blobs copied to the cache${r.refused.length ? `, ${r.refused.length} refused` : ''}`,
  );
}

/** verifier: signatures, digests, policy and file indexes of every fragment. */
async function verifyStep(ctx: StageContext, m: SynthResolved): Promise<void> {
  const verifiedBy = await verifyFragments(ctx.deps.ports, m.lock);
  await forward<SynthVerified>(ctx, 'verifier', { ...m, verifiedBy });
  await progress(ctx, m.synthesisId, 'verified', `${Object.keys(verifiedBy).length} fragments verified`);
}

/** assembler: the image, under provisional leases that keep the collector off its blobs. */
async function assembleStep(ctx: StageContext, m: SynthVerified): Promise<void> {
  const { ports, opts } = ctx.deps;
  // Before any blob is written, a provisional lease keeps the collector off what this
  // synthesis writes; once the image is known, it names the blobs (reused ones included).
  // The provisional lease names the layers the image will reuse before they are checked
  // (AssemblyHooks.holding), so a layer found present stays present; once the image is known,
  // the lease names all its blobs. The recorder checks them all once more.
  const { image, layerPlan } = await assembleImage(ports, m.lock, opts, {
    holding: (reused) => provisional(ctx, m.synthesisId, m.key, reused),
  });
  await provisional(ctx, m.synthesisId, m.key, imageBlobs(image));
  await forward<SynthAssembled>(ctx, 'assembler', { v: 1, synthesisId: m.synthesisId, key: m.key, image, layerPlan });
  await progress(ctx, m.synthesisId, 'assembled', image.manifestDigest);
}

/** recorder: the deps' record function, or the completed event. */
async function recordStep(ctx: StageContext, m: SynthAssembled): Promise<void> {
  if (ctx.deps.record) await ctx.deps.record(m);
  else
    await ctx.deps.bus.publish<SynthCompleted>(
      eventSubjects.completed(m.synthesisId),
      { ...m, completedAt: ctx.now() },
      { ...headersFor(m.synthesisId, 'assembled', m.synthesisId), [HEADERS.msgId]: terminalMsgId(m.synthesisId) },
    );
}

/**
 * The requested event of a request: its manifest's name (parsed here unless given; an invalid
 * manifest is named so, and fails at the resolver), platform and tenant.
 */
export function acceptedOf(m: SynthRequested, manifest?: Manifest, at = new Date().toISOString()): SynthAccepted {
  let name = manifest?.metadata.name;
  if (!name && typeof m.manifest === 'object' && m.manifest && typeof m.manifest.metadata?.name === 'string')
    name = m.manifest.metadata.name;
  if (!name && typeof m.manifest === 'string') {
    try {
      name = parseManifest(m.manifest, 'request').metadata.name;
    } catch {
      // named below
    }
  }
  return {
    v: 1,
    synthesisId: m.synthesisId,
    manifestName: name ?? '(invalid manifest)',
    requestedAt: m.requestedAt ?? at,
    ...(m.platform ? { platform: m.platform } : {}),
    ...(m.tenant ? { tenant: m.tenant } : {}),
  };
}

/**
 * Publishes a request and waits for its completed (resolves) or failed (rejects with an
 * LseError carrying the stage) event. Progress events go to `onProgress`.
 */
export async function runSynthesis(
  bus: Bus,
  req: SynthRequested,
  onProgress?: (p: SynthProgress) => void,
): Promise<SynthCompleted> {
  let settle!: { resolve: (c: SynthCompleted) => void; reject: (e: unknown) => void };
  const done = new Promise<SynthCompleted>((resolve, reject) => {
    settle = { resolve, reject };
  });
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
