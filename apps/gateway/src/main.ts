/**
 * lse-gateway: the REST API, the recorder stage (lse.synth.assembled → result, lease, completed
 * event), the event recorder (progress and failures into the syntheses collection) and the
 * lease collector. Composition root: adapters are wired here and nowhere else.
 */
import { Collector, makeEventRecorder, makeRecorder, startPipeline } from '@lse/engine';
import { connectAll, describeConfig, loadServiceConfig, rootLogger, startLiveCatalog, type Connected } from '@lse/service';
import { LseError } from '@lse/core';
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Metrics } from './metrics';
import { buildServer } from './server';

async function main(): Promise<void> {
  const env = process.env;
  let config;
  try {
    config = loadServiceConfig(env);
    if (!config.gateway.tokens.size && env['LSE_AUTH'] !== 'off') {
      throw new LseError('CONFIG_INVALID', "LSE_TOKENS is empty: set tokens (NAME=TOKEN:SCOPE[,SCOPE];...) or LSE_AUTH=off to run without authentication (local experiments only)");
    }
  } catch (e) {
    process.stderr.write(`lse-gateway: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const log = rootLogger('gateway', config.logLevel);
  log.info({ config: describeConfig(config) }, 'lse-gateway starting');
  if (env['LSE_AUTH'] === 'off') log.warn({}, 'LSE_AUTH=off: authentication is disabled');
  const metrics = new Metrics();
  const now = () => new Date();
  let conn: Connected | undefined;
  let app: FastifyInstance | undefined;
  const stops: (() => Promise<void>)[] = [];
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    const t = setTimeout(() => process.exit(1), 30_000);
    if (timer) clearInterval(timer);
    await app?.close();
    for (const s of stops) await s();
    await conn?.close();
    clearTimeout(t);
    log.info({}, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    conn = await connectAll(config, 'lse-gateway', log);
    const { bus, mongo } = conn;
    // /v1/negotiate resolves from memory too (it waits for the catalog's first load); if the
    // catalog cannot be loaded, resolution reads the database as before.
    const live = startLiveCatalog(conn, log).catch((e: Error) => {
      log.error({ err: e.message }, 'in-memory catalog unavailable; resolving from the database');
      return undefined;
    });
    stops.push(async () => (await live)?.stop());
    const ports = { ...conn.ports, catalog: () => live };
    const recorderDeps = { bus, syntheses: mongo.syntheses, leases: mongo.leases, layers: conn.layers, leaseTtlSeconds: config.gateway.leaseTtlSeconds, now, log };
    const record = makeRecorder(recorderDeps);
    stops.push(await startPipeline({
      bus, ports, opts: { epoch: config.epoch }, log, concurrency: config.concurrency,
      record: async (m) => { await record(m); metrics.inc('lse_syntheses_finished_total', { status: 'completed' }); },
    }, ['recorder']));
    const recordEvent = makeEventRecorder(recorderDeps);
    stops.push(await bus.subscribe('lse.events.synthesis.>', async (m) => {
      await recordEvent(m.subject, m.data);
      if (m.subject.includes('.failed.')) metrics.inc('lse_syntheses_finished_total', { status: 'failed' });
    }, { durable: 'lse-gateway-events', concurrency: config.concurrency }));
    const collector = new Collector({ leases: mongo.leases, bases: ports.bases, layers: conn.layers, graceMs: config.gateway.collectGraceSeconds * 1000, now, log });
    if (config.gateway.collectIntervalSeconds > 0) {
      timer = setInterval(() => {
        collector.collect().then((r) => metrics.inc('lse_collector_deleted_total', {}, r.deleted.length), (e) => log.error({ err: (e as Error).message }, 'collector failed'));
      }, config.gateway.collectIntervalSeconds * 1000);
    }
    app = buildServer({
      bus, ports, syntheses: mongo.syntheses, leases: mongo.leases,
      auth: { tokens: config.gateway.tokens, disabled: env['LSE_AUTH'] === 'off' },
      leaseTtlSeconds: config.gateway.leaseTtlSeconds, waitMaxSeconds: config.gateway.waitMaxSeconds, epoch: config.epoch,
      now, metrics, ready: () => conn!.ready(),
      registry: {
        secret: config.gateway.registrySecret ? Buffer.from(config.gateway.registrySecret) : randomBytes(32), anonymousPull: config.gateway.anonymousPull,
        ...(config.gateway.publicUrl ? { publicUrl: config.gateway.publicUrl } : {}), pkgsBase: config.gateway.pkgsBase, pkgsPlatforms: config.gateway.pkgsPlatforms, tokenTtlSeconds: 300,
      },
    }, { logger: log as unknown as FastifyBaseLogger, bodyLimit: config.gateway.bodyLimitBytes });
    await app.listen({ host: config.gateway.host, port: config.gateway.port });
    log.info({ url: `http://${config.gateway.host}:${config.gateway.port}` }, 'lse-gateway ready');
  } catch (e) {
    log.error({ err: (e as Error).message }, 'lse-gateway could not start');
    await conn?.close().catch(() => undefined);
    process.exit(1);
  }
}

void main();
