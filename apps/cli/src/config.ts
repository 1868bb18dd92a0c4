import { LseError } from '@lse/core';
import { defaultStoreDir } from '@lse/adapter-fs';

/**
 * Every environment variable the CLI reads, parsed once (docs/CONFIGURATION.md lists them all).
 * Nothing else in the CLI reads process.env.
 */
export interface CliConfig {
  /** LSE_HOME, else ~/.local/share/lse; `--store` overrides. */
  storeDir: string;
  /** SOURCE_DATE_EPOCH: seconds since the epoch stamped on every tar entry and image timestamp; default 0. */
  epoch: number;
  /** LSE_LOG_LEVEL: pino level for the structured log on stderr (default: no structured log). */
  logLevel?: string;
  /** NO_COLOR / not a TTY: plain progress output. */
  color: boolean;
  /** LSE_SERVER: a gateway URL; commands then work against it instead of the embedded store. */
  server?: string;
  /** LSE_TOKEN: bearer token for the gateway. */
  token?: string;
  /** LSE_DEBIAN_MIRROR: archive for .deb files of indexed packages (default: the one each index came from). */
  debianMirror?: string;
  /**
   * LSE_DEBIAN_KEYRING: the OpenPGP keyring Debian archives' InRelease files are checked against
   * (`import debian-index --release`, `import apt`, `verify`); `--keyring` overrides.
   */
  debianKeyring: string;
  /** LSE_NODE_CONTROL_SOCKET: the lse-node agent's control socket (`lse node`), default /var/lib/lse-node/control.sock. */
  nodeControlSocket: string;
  /** CONTAINERD_ADDRESS: containerd's socket for `lse node run` (default /run/containerd/containerd.sock). */
  containerdAddress: string;
  /** CONTAINERD_NAMESPACE: containerd namespace of `lse node` images and containers (default `default`). */
  containerdNamespace: string;
  /** LSE_NODE_SNAPSHOTTER: the agent's proxy plugin name in containerd (default `lse`). */
  snapshotter: string;
}

export function loadConfig(env: NodeJS.ProcessEnv, isTty: boolean): CliConfig {
  const rawEpoch = env['SOURCE_DATE_EPOCH'];
  let epoch = 0;
  if (rawEpoch !== undefined && rawEpoch !== '') {
    if (!/^\d{1,12}$/.test(rawEpoch)) {
      throw new LseError(
        'CONFIG_INVALID',
        `SOURCE_DATE_EPOCH must be a whole number of seconds since 1970 (the timestamp stamped into fragments and images), got '${rawEpoch}'`,
      );
    }
    epoch = Number(rawEpoch);
  }
  const logLevel = env['LSE_LOG_LEVEL'] || undefined;
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (logLevel && !levels.includes(logLevel)) {
    throw new LseError('CONFIG_INVALID', `LSE_LOG_LEVEL must be one of ${levels.join(', ')}, got '${logLevel}'`);
  }
  const mirror = env['LSE_DEBIAN_MIRROR'] || undefined;
  if (mirror && !/^https?:\/\/[^/]+/.test(mirror)) {
    throw new LseError(
      'CONFIG_INVALID',
      `LSE_DEBIAN_MIRROR must be an http(s) URL of a Debian archive like http://deb.debian.org/debian, got '${mirror}'`,
    );
  }
  return {
    ...(mirror ? { debianMirror: mirror } : {}),
    debianKeyring: env['LSE_DEBIAN_KEYRING'] || '/usr/share/keyrings/debian-archive-keyring.gpg',
    storeDir: defaultStoreDir(env),
    epoch,
    ...(logLevel ? { logLevel } : {}),
    color: isTty && !env['NO_COLOR'],
    ...(env['LSE_SERVER'] ? { server: env['LSE_SERVER'] } : {}),
    ...(env['LSE_TOKEN'] ? { token: env['LSE_TOKEN'] } : {}),
    nodeControlSocket: env['LSE_NODE_CONTROL_SOCKET'] || '/var/lib/lse-node/control.sock',
    containerdAddress: env['CONTAINERD_ADDRESS'] || '/run/containerd/containerd.sock',
    containerdNamespace: env['CONTAINERD_NAMESPACE'] || 'default',
    snapshotter: env['LSE_NODE_SNAPSHOTTER'] || 'lse',
  };
}
