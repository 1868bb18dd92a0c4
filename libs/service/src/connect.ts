import type { BlobStore } from '@lse/core';
import { LiveCatalog, TieredBlobStore, memoizeImmutableRecords, type EnginePorts, type Log } from '@lse/engine';
import { MongoStore } from '@lse/adapter-mongo';
import { NatsBus, NatsCatalogFeed, ensureStreams } from '@lse/adapter-nats';
import { jetstreamManager } from '@nats-io/jetstream';
import { S3BlobStore, ensureBucket, makeS3Client } from '@lse/adapter-s3';
import { DebianChainVerifier, DebianMirror } from '@lse/adapter-deb';
import type { ServiceConfig } from './config';

/** Everything a service talks to, connected; `close()` drains and disconnects in order. */
export interface Connected {
  bus: NatsBus;
  mongo: MongoStore;
  ports: EnginePorts;
  layers: BlobStore;
  s3: ReturnType<typeof makeS3Client>;
  /** With LSE_REGION: this region's fragment and layer caches over their peer tiers (counters). */
  tiers: TieredBlobStore[];
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export async function connectAll(config: ServiceConfig, name: string, log: Log): Promise<Connected> {
  const bus = await NatsBus.connect(config.natsUrl, {
    name,
    log,
    ...(config.ackWaitMs ? { ackWaitMs: config.ackWaitMs } : {}),
  });
  await ensureStreams(await jetstreamManager(bus.nc), config.streamReplicas ? { replicas: config.streamReplicas } : {});
  const mongo = await MongoStore.connect(config.mongoUrl, config.mongoDb);
  await mongo.ensureIndexes();
  const s3 = makeS3Client(config.s3);
  await ensureBucket(s3, config.s3.bucket);
  const { cache, layers, tiers, close: closePeers } = regionalCaches(config, s3, mongo.blobs, log);
  // Fragment records, layer records and verdicts never change once written: each service keeps
  // the ones it has read (engine memo.ts), so syntheses sharing fragments skip those round trips.
  const { ports } = memoizeImmutableRecords({
    fragments: mongo.fragments,
    bases: mongo.bases,
    trust: mongo.trust,
    origin: mongo.blobs,
    cache,
    layers,
    debian: new DebianMirror(config.debianMirror),
    // Debian's chain for fragments signed over their derivation only: the keyring read on first
    // use, the proof blobs (InRelease, Packages) from the fragment origin
    debianChain: new DebianChainVerifier(mongo.blobs, config.debianKeyring),
    layerRecords: mongo.layerRecords,
    verdicts: mongo.verdicts,
  } satisfies EnginePorts);
  return {
    bus,
    mongo,
    ports,
    layers,
    s3,
    tiers,
    async ready() {
      if (bus.nc.isClosed()) return false;
      return (await mongo.db.command({ ping: 1 }))['ok'] === 1;
    },
    async close() {
      await bus.close();
      await mongo.close();
      s3.destroy();
      closePeers();
    },
  };
}

/**
 * This service's fragment cache and layer store: its own bucket's `fragments/` and `layers/`, and
 * with LSE_REGION those over the peer regions' (in LSE_REGION_PEERS order; the fragment cache
 * then the origin). The node agent builds its stores with this too. `close` ends the peer clients.
 */
export function regionalCaches(
  config: Pick<ServiceConfig, 's3' | 'region'>,
  s3: ReturnType<typeof makeS3Client>,
  origin: BlobStore,
  log: Log,
): { cache: BlobStore; layers: BlobStore; tiers: TieredBlobStore[]; close(): void } {
  const localCache = new S3BlobStore(s3, config.s3.bucket, 'fragments/');
  const localLayers = new S3BlobStore(s3, config.s3.bucket, 'layers/');
  if (!config.region) return { cache: localCache, layers: localLayers, tiers: [], close() {} };
  // Peers are read with this service's credentials; their buckets are not created from here.
  const clients: ReturnType<typeof makeS3Client>[] = [];
  const peers = config.region.peers.map((p) => {
    const client = makeS3Client({ ...config.s3, endpoint: p.endpoint });
    clients.push(client);
    return {
      name: p.name,
      fragments: new S3BlobStore(client, p.bucket, 'fragments/'),
      layers: new S3BlobStore(client, p.bucket, 'layers/'),
    };
  });
  const region = config.region.name;
  const cache = new TieredBlobStore({
    region,
    name: 'fragments',
    local: localCache,
    log,
    tiers: [
      ...peers.map((p) => ({ kind: 'peer' as const, name: p.name, store: p.fragments })),
      { kind: 'origin', name: 'origin', store: origin },
    ],
  });
  const layers = new TieredBlobStore({
    region,
    name: 'layers',
    local: localLayers,
    log,
    tiers: peers.map((p) => ({ kind: 'peer' as const, name: p.name, store: p.layers })),
  });
  return { cache, layers, tiers: [cache, layers], close: () => clients.forEach((c) => c.destroy()) };
}

/**
 * The catalog in memory for a service that resolves (the resolver; the gateway for /v1/negotiate):
 * loaded from the database once, then kept current from the LSE_CATALOG stream.
 */
export function startLiveCatalog(conn: Connected, log: Log): Promise<LiveCatalog> {
  return LiveCatalog.start({
    fragments: conn.ports.fragments,
    bases: conn.ports.bases,
    feed: new NatsCatalogFeed(conn.bus.nc, log),
    log: log.child({ component: 'catalog' }),
  });
}

/**
 * Prometheus text for the regional cache tiers: lookups and bytes per store and tier
 * (`region` = served here, `peer` = copied from another region, `origin`, `miss`, `refused`).
 */
export function tierMetricsText(tiers: readonly TieredBlobStore[]): string {
  if (!tiers.length) return '';
  const lines = [
    "# HELP lse_cache_tier_lookups_total blob lookups by the tier that answered (region = this region's cache; peer/origin = copied in from there)",
    '# TYPE lse_cache_tier_lookups_total counter',
  ];
  const bytes = [
    "# HELP lse_cache_tier_bytes_total bytes served from this region's cache (tier region) or copied into it from a peer region or the origin",
    '# TYPE lse_cache_tier_bytes_total counter',
  ];
  for (const t of tiers) {
    for (const c of t.stats()) {
      const labels = `{store="${t.name}",region="${t.region}",tier="${c.tier}",source="${c.source}"}`;
      lines.push(`lse_cache_tier_lookups_total${labels} ${c.lookups}`);
      bytes.push(`lse_cache_tier_bytes_total${labels} ${c.bytes}`);
    }
  }
  return [...lines, ...bytes].join('\n') + '\n';
}
