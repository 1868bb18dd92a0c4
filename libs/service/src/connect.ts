import type { BlobStore } from '@lse/core';
import type { EnginePorts, Log } from '@lse/engine';
import { MongoStore } from '@lse/adapter-mongo';
import { NatsBus, ensureStreams } from '@lse/adapter-nats';
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
  const ports: EnginePorts = {
    fragments: mongo.fragments, bases: mongo.bases, trust: mongo.trust, origin: mongo.blobs, cache, layers, debian: new DebianMirror(config.debianMirror),
    layerRecords: mongo.layerRecords, verdicts: mongo.verdicts,
  };
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
