import { openFsStore, type FsStore } from '@lse/adapter-fs';
import type { EnginePorts } from '@lse/engine';
import type { CliConfig } from './config';
import { makeOut, type Out } from './output';

export interface GlobalOpts {
  store?: string;
  json?: boolean;
  quiet?: boolean;
}

/** What every command gets: configuration, the embedded store, its ports, and output. */
export interface Ctx {
  config: CliConfig;
  store: FsStore;
  ports: EnginePorts;
  out: Out;
}

export function makeCtx(config: CliConfig, g: GlobalOpts): Ctx {
  const store = openFsStore(g.store ?? config.storeDir);
  return {
    config,
    store,
    ports: {
      fragments: store.fragments,
      bases: store.bases,
      trust: store.trust,
      origin: store.fragmentBlobs,
      cache: store.fragmentBlobs,
      layers: store.layerBlobs,
    },
    out: makeOut(Boolean(g.json), Boolean(g.quiet)),
  };
}
