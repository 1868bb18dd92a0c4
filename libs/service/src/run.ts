import type { Server } from 'node:http';
import type { StageName } from '@lse/contracts';
import { makeResultCache, startPipeline, type LiveCatalog } from '@lse/engine';
import { describeConfig, loadServiceConfig, type ServiceConfig } from './config';
import { connectAll, startLiveCatalog, tierMetricsText, type Connected } from './connect';
import { startHealthServer } from './health';
import { rootLogger } from './logger';

/**
 * Runs one pipeline stage as a service: connect, subscribe the stage's durable consumer, serve
 * health, and on SIGTERM/SIGINT drain: stop fetching, finish (and ack) in-flight messages,
 * disconnect, exit 0. Several copies of a service share its consumer, which is how a stage scales.
 */
export async function runStageService(
  svc: StageName,
  env: Record<string, string | undefined> = process.env,
): Promise<void> {
  let config: ServiceConfig;
  try {
    config = loadServiceConfig(env);
  } catch (e) {
    process.stderr.write(`lse-${svc}: ${(e as Error).message}\n`);
    process.exit(2);
  }
  const log = rootLogger(svc, config.logLevel);
  log.info({ config: describeConfig(config) }, `lse-${svc} starting`);
  let conn: Connected | undefined;
  let health: Server | undefined;
  let stop: (() => Promise<void>) | undefined;
  let live: LiveCatalog | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    const timer = setTimeout(() => {
      log.error({}, 'drain took too long; exiting');
      process.exit(1);
    }, 30_000);
    try {
      await stop?.();
      await live?.stop();
      await conn?.close();
      health?.close();
    } finally {
      clearTimeout(timer);
    }
    log.info({}, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  try {
    conn = await connectAll(config, `lse-${svc}`, log);
    // The resolver resolves from memory: no database round trip per manifest (live-catalog.ts).
    if (svc === 'resolver') live = await startLiveCatalog(conn, log);
    const catalog = live;
    stop = await startPipeline(
      {
        bus: conn.bus,
        ports: catalog ? { ...conn.ports, catalog: async () => catalog } : conn.ports,
        opts: { epoch: config.epoch },
        log,
        concurrency: config.concurrency,
        leases: conn.mongo.leases,
        completedByKey: makeResultCache({ syntheses: conn.mongo.syntheses, layers: conn.layers }),
      },
      [svc],
    );
    const tiers = conn.tiers;
    health = await startHealthServer(
      config.healthPort,
      '127.0.0.1',
      () => conn!.ready(),
      () => tierMetricsText(tiers),
    );
    log.info({ concurrency: config.concurrency, healthPort: config.healthPort || undefined }, `lse-${svc} ready`);
  } catch (e) {
    log.error({ err: (e as Error).message }, `lse-${svc} could not start`);
    await conn?.close().catch(() => undefined);
    process.exit(1);
  }
}
