import { join } from 'node:path';
import { LseError } from '@lse/core';
import { loadServiceConfig, type ServiceConfig } from '@lse/service';

/**
 * Configuration of the node agent, parsed once from the environment (docs/NODE.md has the
 * table). The fragment database, trust store and S3 layer cache are the services' own settings
 * (MONGO_URL, S3_*), since the node verifies and reads fragments itself.
 */
export interface NodeConfig {
  service: ServiceConfig;
  /** LSE_NODE_ROOT: the agent's directory (state, snapshots, fragment directories). */
  root: string;
  /** LSE_NODE_SOCKET: where the Snapshots API listens (containerd's proxy_plugins address). */
  socket: string;
  /** LSE_NODE_CONTROL_SOCKET: the control API for `lse node` (root only). */
  controlSocket: string;
  /** CONTAINERD_ADDRESS: containerd's socket, for seeding images; unset = Snapshots API only. */
  containerdAddress?: string;
  /** CONTAINERD_NAMESPACE [default]. */
  namespace: string;
  /** LSE_NODE_SNAPSHOTTER [lse]: the proxy plugin's name in containerd's config. */
  snapshotter: string;
  /** LSE_NODE_CACHE_BYTES: disk budget of fragment directories [10 GiB]. */
  budgetBytes: number;
  /** LSE_NODE_COLLECT_SECONDS: how often the collector runs [60]; 0 = only on request. */
  collectSeconds: number;
  /** LSE_SERVER + LSE_TOKEN: the gateway, for renewing and releasing synthesis leases (optional). */
  gateway?: { url: string; token: string; leaseTtlSeconds: number };
  /**
   * LSE_NODE_REGISTRY_PORT (+ LSE_NODE_REGISTRY_ADDRESS [127.0.0.1]): the node's registry
   * endpoint, relaying /v2 to the gateway LSE_SERVER (registry.ts); unset = none.
   */
  registry?: { host: string; port: number; upstream: string };
}

type Env = Record<string, string | undefined>;

function whole(env: Env, name: string, def: number, what: string): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw))
    throw new LseError('CONFIG_INVALID', `${name} must be a whole number (${what}), got '${raw}'`, { variable: name });
  return Number(raw);
}

export function loadNodeConfig(env: Env): NodeConfig {
  const root = env['LSE_NODE_ROOT'] || '/var/lib/lse-node';
  if (!root.startsWith('/'))
    throw new LseError(
      'CONFIG_INVALID',
      `LSE_NODE_ROOT must be an absolute path (the agent's directory), got '${root}'`,
      { variable: 'LSE_NODE_ROOT' },
    );
  const server = env['LSE_SERVER'];
  const token = env['LSE_TOKEN'];
  const registryPort = env['LSE_NODE_REGISTRY_PORT']
    ? whole(env, 'LSE_NODE_REGISTRY_PORT', 0, "port of the node's registry endpoint")
    : undefined;
  if (registryPort !== undefined && (registryPort < 1 || registryPort > 65535))
    throw new LseError('CONFIG_INVALID', `LSE_NODE_REGISTRY_PORT must be a TCP port (1-65535), got ${registryPort}`, {
      variable: 'LSE_NODE_REGISTRY_PORT',
    });
  if (registryPort !== undefined && !server)
    throw new LseError(
      'CONFIG_INVALID',
      "LSE_NODE_REGISTRY_PORT is set but LSE_SERVER is not: the node's registry endpoint relays to the gateway, set LSE_SERVER to its URL",
      { variable: 'LSE_SERVER' },
    );
  return {
    service: loadServiceConfig(env),
    root,
    socket: env['LSE_NODE_SOCKET'] || join(root, 'snapshotter.sock'),
    controlSocket: env['LSE_NODE_CONTROL_SOCKET'] || join(root, 'control.sock'),
    ...(env['CONTAINERD_ADDRESS'] ? { containerdAddress: env['CONTAINERD_ADDRESS'] } : {}),
    namespace: env['CONTAINERD_NAMESPACE'] || 'default',
    snapshotter: env['LSE_NODE_SNAPSHOTTER'] || 'lse',
    budgetBytes: whole(env, 'LSE_NODE_CACHE_BYTES', 10 * 1024 ** 3, 'disk budget of the fragment cache in bytes'),
    collectSeconds: whole(env, 'LSE_NODE_COLLECT_SECONDS', 60, 'seconds between collector runs, 0 = on request only'),
    ...(server && token
      ? {
          gateway: {
            url: server,
            token,
            leaseTtlSeconds: whole(env, 'LSE_LEASE_TTL_SECONDS', 3600, 'synthesis lease TTL the node renews with'),
          },
        }
      : {}),
    ...(registryPort !== undefined && server
      ? { registry: { host: env['LSE_NODE_REGISTRY_ADDRESS'] || '127.0.0.1', port: registryPort, upstream: server } }
      : {}),
  };
}
