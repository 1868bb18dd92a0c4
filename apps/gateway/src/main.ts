/**
 * lse-gateway: the REST API, the recorder stage (lse.synth.assembled → lease, completed event),
 * the record projection (events → the syntheses collection) and the lease collector, composed by
 * compose.ts. Adapters are wired here and nowhere else.
 */
import {
  connectAll,
  describeConfig,
  loadServiceConfig,
  rootLogger,
  startLiveCatalog,
  tierMetricsText,
  type Connected,
} from '@lse/service';
import { LseError, imageSigningKeyFromPem, type ImageSigningKey } from '@lse/core';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { readDebianKeyring, type DebianKeyring } from '@lse/adapter-deb';
import { Metrics } from './metrics';
import { startGateway } from './compose';

/** The image key at LSE_IMAGE_SIGNING_KEY (a PEM file), or none; CONFIG_INVALID when it cannot be read. */
function loadImageSigningKey(path: string | undefined): ImageSigningKey | undefined {
  if (!path) return undefined;
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LseError(
      'CONFIG_INVALID',
      `LSE_IMAGE_SIGNING_KEY: cannot read '${path}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); point it at the PEM P-256 key images are signed with`,
      { variable: 'LSE_IMAGE_SIGNING_KEY' },
    );
  }
  return imageSigningKeyFromPem(pem, `LSE_IMAGE_SIGNING_KEY ('${path}')`);
}

/**
 * The Debian archive keyring (LSE_DEBIAN_KEYRING), parsed once. Set but unreadable: the start
 * fails (CONFIG_INVALID). The default path absent: none, and Debian proofs are refused.
 */
async function loadDebianKeyring(k: { file: string; explicit: boolean }): Promise<DebianKeyring | undefined> {
  if (!k.explicit && !existsSync(k.file)) return undefined;
  return readDebianKeyring(k.file);
}

async function main(): Promise<void> {
  const env = process.env;
  let config;
  try {
    config = loadServiceConfig(env);
    if (!config.gateway.tokens.size && env['LSE_AUTH'] !== 'off') {
      throw new LseError(
        'CONFIG_INVALID',
        'LSE_TOKENS is empty: set tokens (NAME=TOKEN:SCOPE[,SCOPE];...) or LSE_AUTH=off to run without authentication (local experiments only)',
      );
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
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    const t = setTimeout(() => process.exit(1), 30_000);
    for (const s of stops) await s();
    await conn?.close();
    clearTimeout(t);
    log.info({}, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    const signingKey = loadImageSigningKey(config.gateway.imageSigningKeyPath);
    if (signingKey) log.info({ keyId: signingKey.keyId }, 'images are signed (LSE_IMAGE_SIGNING_KEY)');
    else log.warn({}, 'LSE_IMAGE_SIGNING_KEY is not set: images get SBOMs but no signature or provenance');
    const debianKeyring = await loadDebianKeyring(config.gateway.debianKeyring);
    if (debianKeyring)
      log.info(
        { keyring: debianKeyring.file, keys: debianKeyring.keys.length },
        'Debian proofs are checked with this keyring',
      );
    else
      log.warn(
        { keyring: config.gateway.debianKeyring.file },
        'no Debian archive keyring (LSE_DEBIAN_KEYRING): Debian proofs and fragments carrying them are refused',
      );
    conn = await connectAll(config, 'lse-gateway', log);
    const { bus, mongo, tiers } = conn;
    metrics.addSource(() => tierMetricsText(tiers));
    // /v1/negotiate resolves from memory too (it waits for the catalog's first load); if the
    // catalog cannot be loaded, resolution reads the database as before.
    const live = startLiveCatalog(conn, log).catch((e: Error) => {
      log.error({ err: e.message }, 'in-memory catalog unavailable; resolving from the database');
      return undefined;
    });
    stops.push(async () => (await live)?.stop());
    const ports = { ...conn.ports, catalog: () => live };
    const gw = await startGateway({
      bus,
      ports,
      syntheses: mongo.syntheses,
      leases: mongo.leases,
      log,
      metrics,
      now,
      auth: { tokens: config.gateway.tokens, disabled: env['LSE_AUTH'] === 'off' },
      leaseTtlSeconds: config.gateway.leaseTtlSeconds,
      waitMaxSeconds: config.gateway.waitMaxSeconds,
      epoch: config.epoch,
      concurrency: config.concurrency,
      collectIntervalSeconds: config.gateway.collectIntervalSeconds,
      collectGraceSeconds: config.gateway.collectGraceSeconds,
      bodyLimitBytes: config.gateway.bodyLimitBytes,
      debian: {
        ...(debianKeyring ? { keyring: debianKeyring } : {}),
        releases: mongo.debianReleases,
        blobLimitBytes: config.gateway.debianProofLimitBytes,
      },
      ready: () => conn!.ready(),
      httpLogger: log as unknown as FastifyBaseLogger,
      registry: {
        secret: config.gateway.registrySecret ? Buffer.from(config.gateway.registrySecret) : randomBytes(32),
        anonymousPull: config.gateway.anonymousPull,
        ...(config.gateway.publicUrl ? { publicUrl: config.gateway.publicUrl } : {}),
        pkgsBase: config.gateway.pkgsBase,
        pkgsPlatforms: config.gateway.pkgsPlatforms,
        tokenTtlSeconds: 300,
        ...(signingKey ? { signingKey } : {}),
      },
    });
    app = gw.app;
    stops.push(() => gw.stop());
    await app.listen({ host: config.gateway.host, port: config.gateway.port });
    log.info({ url: `http://${config.gateway.host}:${config.gateway.port}` }, 'lse-gateway ready');
  } catch (e) {
    log.error({ err: (e as Error).message }, 'lse-gateway could not start');
    await conn?.close().catch(() => undefined);
    process.exit(1);
  }
}

void main();
