/**
 * The gateway's composition, used by main.ts (real adapters) and by the tests (memory adapters,
 * in-process bus): the recorder stage, the record projection, the watch, the repeat cache, the
 * lease collector and the HTTP server. Nothing here reads the environment.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Bus, LeaseRepository, SynthesisRepository } from '@lse/core';
import {
  CATALOG_CHANGES,
  HEADERS,
  SUBJECTS,
  acceptedMsgId,
  eventKindOf,
  eventSubjects,
  validateRequested,
  type SynthCompleted,
} from '@lse/contracts';
import {
  Collector,
  acceptedOf,
  makeRecordProjection,
  makeRecorder,
  startPipeline,
  type EnginePorts,
  type Log,
} from '@lse/engine';
import type { AuthConfig } from './auth';
import type { DebianProofSettings } from './debian-proofs';
import type { GatewayDeps, RegistrySettings } from './deps';
import { Metrics } from './metrics';
import { RepeatCache } from './repeat-cache';
import { buildServer } from './server';
import { SynthesisWatch } from './watch';

export interface GatewayParts {
  bus: Bus;
  ports: EnginePorts;
  syntheses: SynthesisRepository;
  leases: LeaseRepository;
  auth: AuthConfig;
  log: Log;
  leaseTtlSeconds: number;
  waitMaxSeconds: number;
  epoch: number;
  /** Messages the recorder stage and the projection handle at once. */
  concurrency: number;
  /** How often the collector runs (0 = never) and how long a blob must stay unreferenced first. */
  collectIntervalSeconds: number;
  collectGraceSeconds: number;
  bodyLimitBytes: number;
  /** How long a result is answered from memory for a repeat (default 60 s). */
  repeatTtlSeconds?: number;
  registry?: RegistrySettings;
  /** Debian proofs: the keyring and the release log (absent: refused). */
  debian?: DebianProofSettings;
  uploadParseBudgetMs?: number;
  ready?: () => Promise<boolean>;
  now?: () => Date;
  metrics?: Metrics;
  /** Pino logger for Fastify (main.ts); tests run without one. */
  httpLogger?: FastifyBaseLogger;
}

export interface Gateway {
  app: FastifyInstance;
  deps: GatewayDeps;
  collector: Collector;
  stop(): Promise<void>;
}

export async function startGateway(p: GatewayParts): Promise<Gateway> {
  const now = p.now ?? (() => new Date());
  const metrics = p.metrics ?? new Metrics();
  const { bus, log } = p;
  const stops: (() => Promise<void>)[] = [];

  const watch = new SynthesisWatch(bus);
  await watch.start();
  stops.push(() => watch.close());
  const graceMs = p.collectGraceSeconds * 1000;
  // A remembered result must be younger than half the collector's grace (its blobs were leased then).
  const repeatTtlMs = Math.min((p.repeatTtlSeconds ?? 60) * 1000, graceMs > 0 ? graceMs / 2 : 0);
  const repeats = new RepeatCache(() => now().getTime(), repeatTtlMs);

  // Results of syntheses this gateway admitted fill the repeat cache; catalog changes empty it.
  stops.push(
    await bus.subscribe(eventSubjects.any, async (m) => {
      const kind = eventKindOf(m.subject);
      if (kind === 'completed') repeats.finished((m.data as SynthCompleted).synthesisId, m.data as SynthCompleted);
      if (kind === 'failed') repeats.finished((m.data as { synthesisId: string }).synthesisId, undefined);
    }),
  );
  for (const subject of [CATALOG_CHANGES.changed, CATALOG_CHANGES.any])
    stops.push(await bus.subscribe(subject, async () => repeats.invalidate()));

  // Requests published straight to NATS get their record from the request on: every gateway sees
  // the work message (a core subscription; the stream keeps it for the resolver) and publishes its
  // requested event (one event, whoever publishes it: same message id as the resolver's).
  stops.push(
    await bus.subscribe(SUBJECTS.requested, async (m) => {
      let req;
      try {
        req = validateRequested(m.data);
      } catch {
        return; // the resolver drops it with a log line
      }
      if (watch.state(req.synthesisId)) return; // admitted here, or seen already
      await bus
        .publish(eventSubjects.requested(req.synthesisId), acceptedOf(req), {
          [HEADERS.synthesisId]: req.synthesisId,
          [HEADERS.msgId]: acceptedMsgId(req.synthesisId),
        })
        .catch((e: unknown) =>
          log.warn(
            { synthesisId: req.synthesisId, err: (e as Error).message },
            'could not publish the requested event; the resolver will',
          ),
        );
    }),
  );

  const recorderDeps = {
    bus,
    syntheses: p.syntheses,
    leases: p.leases,
    layers: p.ports.layers,
    leaseTtlSeconds: p.leaseTtlSeconds,
    now,
    log,
  };
  const record = makeRecorder(recorderDeps);
  stops.push(
    await startPipeline(
      {
        bus,
        ports: p.ports,
        opts: { epoch: p.epoch },
        log,
        concurrency: p.concurrency,
        record: async (m) => {
          await record(m);
          metrics.inc('lse_syntheses_finished_total', { status: 'completed' });
        },
      },
      ['recorder'],
    ),
  );
  const project = makeRecordProjection(recorderDeps);
  stops.push(
    await bus.subscribe(
      eventSubjects.any,
      async (m) => {
        await project(m.subject, m.data);
        if (eventKindOf(m.subject) === 'failed') metrics.inc('lse_syntheses_finished_total', { status: 'failed' });
      },
      { durable: 'lse-gateway-events', concurrency: p.concurrency },
    ),
  );

  const collector = new Collector({
    leases: p.leases,
    bases: p.ports.bases,
    layers: p.ports.layers,
    graceMs,
    now,
    log,
  });
  let timer: NodeJS.Timeout | undefined;
  if (p.collectIntervalSeconds > 0) {
    timer = setInterval(() => {
      collector.collect().then(
        (r) => metrics.inc('lse_collector_deleted_total', {}, r.deleted.length),
        (e) => log.error({ err: (e as Error).message }, 'collector failed'),
      );
    }, p.collectIntervalSeconds * 1000);
  }

  const deps: GatewayDeps = {
    bus,
    ports: p.ports,
    syntheses: p.syntheses,
    leases: p.leases,
    auth: p.auth,
    leaseTtlSeconds: p.leaseTtlSeconds,
    waitMaxSeconds: p.waitMaxSeconds,
    epoch: p.epoch,
    now,
    metrics,
    ready: p.ready ?? (async () => true),
    watch,
    repeats,
    ...(p.registry ? { registry: p.registry } : {}),
    ...(p.debian ? { debian: p.debian } : {}),
    ...(p.uploadParseBudgetMs ? { uploadParseBudgetMs: p.uploadParseBudgetMs } : {}),
  };
  const app = buildServer(deps, { ...(p.httpLogger ? { logger: p.httpLogger } : {}), bodyLimit: p.bodyLimitBytes });
  return {
    app,
    deps,
    collector,
    async stop() {
      if (timer) clearInterval(timer);
      await app.close();
      for (const s of stops.reverse()) await s();
    },
  };
}
