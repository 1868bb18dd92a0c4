import { openFsStore, type FsStore } from '@lse/adapter-fs';
import type { EnginePorts } from '@lse/engine';
import { DebianChainVerifier, DebianMirror } from '@lse/adapter-deb';
import type { CliConfig } from './config';
import { makeOut, type Out } from './output';
import { GatewayClient } from './remote';
import { LseError } from '@lse/core';

export interface GlobalOpts {
  store?: string;
  server?: string;
  token?: string;
  json?: boolean;
  quiet?: boolean;
}

/** What every command gets: configuration, the embedded store, its ports, and output. */
export interface Ctx {
  config: CliConfig;
  store: FsStore;
  ports: EnginePorts;
  out: Out;
  /** Set with --server / LSE_SERVER: the command talks to a gateway. */
  remote?: GatewayClient;
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
      debian: new DebianMirror(config.debianMirror),
      // Debian's chain for fragments signed over their derivation only (the keyring read on first use)
      debianChain: new DebianChainVerifier(store.fragmentBlobs, config.debianKeyring),
      layerRecords: store.layerRecords,
      verdicts: store.verdicts,
    },
    out: makeOut(Boolean(g.json), Boolean(g.quiet)),
    ...remoteOf(g.server ?? config.server, g.token ?? config.token),
  };
}

function remoteOf(server: string | undefined, token: string | undefined): { remote?: GatewayClient } {
  if (!server) return {};
  if (!/^https?:\/\/[^/]+/.test(server))
    throw new LseError(
      'USAGE',
      `--server / LSE_SERVER must be an http(s) URL like http://127.0.0.1:8080, got '${server}'`,
    );
  return { remote: new GatewayClient(server, token) };
}
