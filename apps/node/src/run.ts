import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MongoStore } from '@lse/adapter-mongo';
import { DebianChainVerifier, DebianMirror } from '@lse/adapter-deb';
import { makeS3Client } from '@lse/adapter-s3';
import { regionalCaches, tierMetricsText } from '@lse/service';
import type { Log } from '@lse/engine';
import { NodeAgent } from './agent';
import { FragmentCache } from './cache';
import { loadNodeConfig } from './config';
import { serveControl } from './control';
import { Containerd, serveSnapshots } from './grpc';
import { RegistryProxy } from './registry';
import { Snapshotter } from './snapshotter';
import { StateFile } from './state';

export interface RunningAgent {
  close(): Promise<void>;
}

/** Connects the fragment database and layer cache, then serves the Snapshots API and the control API. */
export async function startNodeAgent(env: Record<string, string | undefined>, log: Log): Promise<RunningAgent> {
  const config = loadNodeConfig(env);
  for (const d of ['s', 'f', 'tmp']) await mkdir(join(config.root, d), { recursive: true, mode: 0o700 });
  const mongo = await MongoStore.connect(config.service.mongoUrl, config.service.mongoDb);
  const s3 = makeS3Client(config.service.s3);
  // The node reads its region's layer cache (and, with LSE_REGION_PEERS, copies a missing blob
  // once from a peer region, verified), as the services do (docs/REGIONS.md).
  const {
    cache: fragmentCache,
    layers,
    tiers,
    close: closePeers,
  } = regionalCaches(config.service, s3, mongo.blobs, log);
  const ports = {
    fragments: mongo.fragments,
    bases: mongo.bases,
    trust: mongo.trust,
    origin: mongo.blobs,
    cache: fragmentCache,
    layers,
    debian: new DebianMirror(config.service.debianMirror),
    // the node checks Debian's chain itself, from the proof blobs in the fragment origin
    debianChain: new DebianChainVerifier(mongo.blobs, config.service.debianKeyring),
  };
  const st = await StateFile.open(config.root);
  const cache = new FragmentCache(config.root, st, { ports, layers }, log);
  const snapshotter = new Snapshotter(config.root, st);
  await snapshotter.cleanup();
  const grpcServer = await serveSnapshots(snapshotter, config.socket, log);
  const ctrd = config.containerdAddress ? new Containerd(config.containerdAddress, config.namespace) : undefined;
  const agent = ctrd
    ? new NodeAgent(st, cache, snapshotter, { ports, layers }, ctrd, config.snapshotter, log, config.gateway)
    : undefined;
  if (agent) snapshotter.hooks.onExtract = (key, parent, chain) => agent.prepareAhead(key, parent, chain);
  const registry = config.registry
    ? new RegistryProxy({
        upstream: config.registry.upstream,
        log,
        ...(agent ? { onManifest: (m) => agent.prepareFromManifest(m.digest, m.bytes) } : {}),
      })
    : undefined;
  const registryServer = registry ? await registry.listen(config.registry!.host, config.registry!.port) : undefined;
  const control = await serveControl(
    {
      st,
      cache,
      ...(agent ? { agent } : {}),
      budgetBytes: config.budgetBytes,
      log,
      ...(config.service.region ? { region: config.service.region.name } : {}),
      tierMetrics: () => tierMetricsText(tiers),
    },
    config.controlSocket,
  );
  const timer =
    config.collectSeconds > 0
      ? setInterval(
          () =>
            void cache
              .collect(config.budgetBytes)
              .catch((e: Error) => log.warn({ err: e.message }, 'collector run failed')),
          config.collectSeconds * 1000,
        )
      : undefined;
  timer?.unref();
  log.info(
    {
      root: config.root,
      socket: config.socket,
      control: config.controlSocket,
      containerd: config.containerdAddress ?? 'none',
      registry: registryServer ? RegistryProxy.address(registryServer) : 'none',
    },
    'lse-node serving',
  );
  return {
    async close() {
      if (timer) clearInterval(timer);
      if (registryServer) {
        registryServer.closeAllConnections();
        await new Promise<void>((r) => registryServer.close(() => r()));
      }
      registry?.close();
      agent?.close();
      ctrd?.close();
      // containerd keeps its connection open: give calls in flight a moment, then close it.
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          grpcServer.forceShutdown();
          r();
        }, 2000);
        grpcServer.tryShutdown(() => {
          clearTimeout(t);
          r();
        });
      });
      await new Promise<void>((r) => control.close(() => r()));
      await mongo.close();
      closePeers();
      s3.destroy();
    },
  };
}
