import type { BlobStore } from '@lse/core';
import { LiveCatalog, memoizeImmutableRecords, type EnginePorts, type Log } from '@lse/engine';
import { MongoStore } from '@lse/adapter-mongo';
import { NatsBus, NatsCatalogFeed, ensureStreams } from '@lse/adapter-nats';
import { jetstreamManager } from '@nats-io/jetstream';
import { S3BlobStore, ensureBucket, makeS3Client } from '@lse/adapter-s3';
import { DebianMirror } from '@lse/adapter-deb';
import type { ServiceConfig } from './config';

/** Everything a service talks to, connected; `close()` drains and disconnects in order. */
export interface Connected {
  bus: NatsBus;
  mongo: MongoStore;
  ports: EnginePorts;
  layers: BlobStore;
  s3: ReturnType<typeof makeS3Client>;
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export async function connectAll(config: ServiceConfig, name: string, log: Log): Promise<Connected> {
  const bus = await NatsBus.connect(config.natsUrl, { name, log, ...(config.ackWaitMs ? { ackWaitMs: config.ackWaitMs } : {}) });
  await ensureStreams(await jetstreamManager(bus.nc), config.streamReplicas ? { replicas: config.streamReplicas } : {});
  const mongo = await MongoStore.connect(config.mongoUrl, config.mongoDb);
  await mongo.ensureIndexes();
  const s3 = makeS3Client(config.s3);
  await ensureBucket(s3, config.s3.bucket);
  const cache = new S3BlobStore(s3, config.s3.bucket, 'fragments/');
  const layers = new S3BlobStore(s3, config.s3.bucket, 'layers/');
  // Fragment records, layer records and verdicts never change once written: each service keeps
  // the ones it has read (engine memo.ts), so syntheses sharing fragments skip those round trips.
  const { ports } = memoizeImmutableRecords({
    fragments: mongo.fragments, bases: mongo.bases, trust: mongo.trust, origin: mongo.blobs, cache, layers, debian: new DebianMirror(config.debianMirror),
    layerRecords: mongo.layerRecords, verdicts: mongo.verdicts,
  } satisfies EnginePorts);
  return {
    bus, mongo, ports, layers, s3,
    async ready() {
      if (bus.nc.isClosed()) return false;
      return (await mongo.db.command({ ping: 1 }))['ok'] === 1;
    },
    async close() {
      await bus.close();
      await mongo.close();
      s3.destroy();
    },
  };
}

/**
 * The catalog in memory for a service that resolves (the resolver; the gateway for /v1/negotiate):
 * loaded from the database once, then kept current from the LSE_CATALOG stream.
 */
export function startLiveCatalog(conn: Connected, log: Log): Promise<LiveCatalog> {
  return LiveCatalog.start({ fragments: conn.ports.fragments, bases: conn.ports.bases, feed: new NatsCatalogFeed(conn.bus.nc, log), log: log.child({ component: 'catalog' }) });
}
