import { LseError, parsePlatform, regionProblem, type Platform } from '@lse/core';
import { DEFAULT_DEBIAN_KEYRING } from '@lse/adapter-deb';

/**
 * Configuration of the five services, parsed once from the environment (docs/CONFIGURATION.md
 * is the table of every variable). Fails fast naming the variable and what it is for. Secrets
 * (S3 secret key, tokens) are kept out of `describe()` so they never reach a log.
 */
export interface ServiceConfig {
  /** NATS_URL: one server, or a cluster's servers comma-separated. */
  natsUrl: string;
  /**
   * LSE_STREAM_REPLICAS: replicas of LSE_WORK and LSE_EVENTS (3 in a three-node cluster). Unset:
   * new streams get 1 and an existing stream keeps its count.
   */
  streamReplicas?: number;
  mongoUrl: string;
  mongoDb: string;
  s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string };
  /**
   * LSE_REGION / LSE_REGION_PEERS: the region this service runs in (its S3 store is `s3`) and the
   * other regions' stores, in the order a blob missing here is looked for. Absent: one region.
   */
  region?: RegionConfig;
  /** LSE_DEBIAN_MIRROR: where .deb files of packages imported from an index are fetched (default: the archive each index came from). */
  debianMirror?: string;
  /**
   * LSE_DEBIAN_KEYRING: the OpenPGP keyring Debian's InRelease files are checked against when a
   * fragment signed over its derivation only is verified (read on first use; default
   * /usr/share/keyrings/debian-archive-keyring.gpg).
   */
  debianKeyring: string;
  concurrency: number;
  /** LSE_ACK_WAIT_SECONDS: how long a taken message may go without ack or progress before redelivery (0 = adapter default, 30 s). */
  ackWaitMs: number;
  logLevel: string;
  /** HTTP port for /healthz and /readyz of worker services; 0 = none. */
  healthPort: number;
  epoch: number;
  gateway: {
    host: string;
    port: number;
    /** token → scopes; empty means no tokens configured. */
    tokens: Map<string, { name: string; scopes: Set<string> }>;
    anonymousPull: boolean;
    leaseTtlSeconds: number;
    collectIntervalSeconds: number;
    collectGraceSeconds: number;
    waitMaxSeconds: number;
    bodyLimitBytes: number;
    publicUrl?: string;
    /** LSE_REGISTRY_SECRET: HMAC key of /v2 registry tokens; absent = random per start. */
    registrySecret?: string;
    /** LSE_PKGS_BASE: base of `pkgs/...:latest` pulls. */
    pkgsBase: string;
    /** LSE_PKGS_PLATFORMS: platforms of `pkgs/...` pulls; several → an image index. */
    pkgsPlatforms: Platform[];
    /** LSE_IMAGE_SIGNING_KEY: path of the PEM ECDSA P-256 key images are signed with; absent = unsigned (SBOMs only). */
    imageSigningKeyPath?: string;
    /**
     * LSE_DEBIAN_KEYRING: the OpenPGP keyring Debian releases given to the gateway must be signed
     * with (read once at start); `explicit` when the variable was set (then an unreadable file
     * stops the start; the default path missing only disables Debian proofs).
     */
    debianKeyring: { file: string; explicit: boolean };
    /** LSE_DEBIAN_PROOF_LIMIT_BYTES: largest Debian proof blob (InRelease, Packages file) uploaded. */
    debianProofLimitBytes: number;
  };
}

/** This service's region and its peers (each another region's S3 endpoint and bucket). */
export interface RegionConfig {
  name: string;
  peers: { name: string; endpoint: string; bucket: string }[];
}

type Env = Record<string, string | undefined>;

/**
 * `LSE_REGION_PEERS="us-east=http://10.0.0.5:9000/lse,ap-south=https://s3.ap-south.example/lse-cache"`:
 * region name = S3 endpoint URL whose path is the bucket; the order is the order peers are asked.
 */
export function parseRegionPeers(raw: string | undefined, self: string): RegionConfig['peers'] {
  const peers: RegionConfig['peers'] = [];
  const fail = (why: string): never => {
    throw new LseError(
      'CONFIG_INVALID',
      `LSE_REGION_PEERS: ${why} (write NAME=ENDPOINT/BUCKET,..., e.g. us-east=http://10.0.0.5:9000/lse)`,
      { variable: 'LSE_REGION_PEERS' },
    );
  };
  for (const part of (raw ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 1) fail(`entry '${part}' has no NAME=`);
    const name = part.slice(0, eq);
    const problem = regionProblem(name);
    if (problem) fail(problem);
    if (name === self) fail(`region ${name} is this service's own region (LSE_REGION); list only the others`);
    if (peers.some((p) => p.name === name)) fail(`region ${name} is listed twice`);
    let u: URL;
    try {
      u = new URL(part.slice(eq + 1));
    } catch {
      return fail(`'${part.slice(eq + 1)}' (region ${name}) is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      fail(`the endpoint of region ${name} must start with http:// or https://`);
    if (u.username || u.password)
      fail(`the endpoint of region ${name} must not carry credentials (peers are read with S3_ACCESS_KEY_ID)`);
    const bucket = u.pathname.replace(/^\/+|\/+$/g, '');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
      fail(`the endpoint of region ${name} must end in /BUCKET (an S3 bucket name), got '${u.pathname}'`);
    peers.push({ name, endpoint: u.origin, bucket });
  }
  return peers;
}

function regionConfig(env: Env): RegionConfig | undefined {
  const name = env['LSE_REGION'];
  if (!name) {
    if (env['LSE_REGION_PEERS'])
      throw new LseError(
        'CONFIG_INVALID',
        'LSE_REGION_PEERS is set but LSE_REGION is not: name the region this service runs in (e.g. LSE_REGION=eu-west)',
        { variable: 'LSE_REGION' },
      );
    return undefined;
  }
  const problem = regionProblem(name);
  if (problem) throw new LseError('CONFIG_INVALID', `LSE_REGION: ${problem}`, { variable: 'LSE_REGION' });
  return { name, peers: parseRegionPeers(env['LSE_REGION_PEERS'], name) };
}

function int(env: Env, name: string, def: number, what: string, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new LseError('CONFIG_INVALID', `${name} must be a whole number >= ${min} (${what}), got '${raw}'`, {
      variable: name,
    });
  return Number(raw);
}

function url(env: Env, name: string, def: string, schemes: string[], what: string): string {
  const raw = env[name] || def;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new LseError('CONFIG_INVALID', `${name} must be a URL (${what}), got '${raw}'`, { variable: name });
  }
  if (!schemes.includes(u.protocol.replace(/:$/, '')))
    throw new LseError(
      'CONFIG_INVALID',
      `${name} must start with ${schemes.map((s) => s + '://').join(' or ')} (${what}), got '${raw}'`,
      { variable: name },
    );
  return raw;
}

/** A comma-separated list of URLs (a NATS cluster), each checked like `url`. */
function urls(env: Env, name: string, def: string, schemes: string[], what: string): string {
  const raw = env[name] || def;
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.some((p) => !p))
    throw new LseError(
      'CONFIG_INVALID',
      `${name} has an empty entry (${what}; comma-separated for a cluster), got '${raw}'`,
      { variable: name },
    );
  for (const p of parts) url({ [name]: p }, name, def, schemes, what);
  return parts.join(',');
}

function required(env: Env, name: string, what: string): string {
  const v = env[name];
  if (!v)
    throw new LseError(
      'CONFIG_INVALID',
      `${name} is not set: it is ${what} (local servers: eval "$(bash infra/local/stack.sh env)")`,
      { variable: name },
    );
  return v;
}

function secret(env: Env, name: string): string {
  const v = env[name]!;
  if (v.length < 16)
    throw new LseError('CONFIG_INVALID', `${name} must be at least 16 characters (it signs registry tokens)`, {
      variable: name,
    });
  return v;
}

function platforms(env: Env, name: string, def: string): Platform[] {
  const raw = env[name] || def;
  try {
    return raw
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)
      .map(parsePlatform);
  } catch (e) {
    throw new LseError(
      'CONFIG_INVALID',
      `${name}: ${(e as Error).message} (comma-separated, e.g. linux/amd64,linux/amd64/v3)`,
      { variable: name },
    );
  }
}

function replicas(env: Env, name: string): number {
  const n = int(env, name, 1, 'replicas of the LSE streams: 1 for one server, 3 for a three-node cluster', 1);
  if (n > 5)
    throw new LseError(
      'CONFIG_INVALID',
      `${name} must be 1 to 5 (JetStream keeps at most 5 replicas of a stream), got '${n}'`,
      { variable: name },
    );
  return n;
}

/** `LSE_TOKENS="ci=tok1:synth,publish;ops=tok2:admin"`: name=token:scope[,scope]... */
export function parseTokens(raw: string | undefined): ServiceConfig['gateway']['tokens'] {
  const out = new Map<string, { name: string; scopes: Set<string> }>();
  if (!raw) return out;
  for (const part of raw
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9_.-]+)=([A-Za-z0-9_.~+/-]{16,}):([a-z,]+)$/.exec(part);
    if (!m)
      throw new LseError(
        'CONFIG_INVALID',
        `LSE_TOKENS entry '${part.replace(/=.*/, '=…')}' must look like NAME=TOKEN:SCOPE[,SCOPE] with a token of at least 16 characters`,
        { variable: 'LSE_TOKENS' },
      );
    const scopes = new Set(m[3]!.split(','));
    for (const s of scopes)
      if (!['synth', 'publish', 'admin', 'pull'].includes(s))
        throw new LseError(
          'CONFIG_INVALID',
          `LSE_TOKENS: unknown scope '${s}' for ${m[1]} (scopes: synth, publish, pull, admin)`,
          { variable: 'LSE_TOKENS' },
        );
    out.set(m[2]!, { name: m[1]!, scopes });
  }
  return out;
}

export function loadServiceConfig(env: Env): ServiceConfig {
  const publicUrl = env['LSE_PUBLIC_URL'] || undefined;
  const region = regionConfig(env);
  return {
    natsUrl: urls(env, 'NATS_URL', 'nats://127.0.0.1:4222', ['nats', 'tls'], 'where NATS JetStream listens'),
    ...(env['LSE_STREAM_REPLICAS'] ? { streamReplicas: replicas(env, 'LSE_STREAM_REPLICAS') } : {}),
    mongoUrl: url(env, 'MONGO_URL', 'mongodb://127.0.0.1:27017/', ['mongodb', 'mongodb+srv'], 'the fragment database'),
    mongoDb: env['MONGO_DB'] || 'lse',
    s3: {
      endpoint: url(env, 'S3_ENDPOINT', 'http://127.0.0.1:9000', ['http', 'https'], 'the S3 layer cache'),
      bucket: env['S3_BUCKET'] || 'lse',
      region: env['S3_REGION'] || 'us-east-1',
      accessKeyId: required(env, 'S3_ACCESS_KEY_ID', 'the access key of the S3 layer cache'),
      secretAccessKey: required(env, 'S3_SECRET_ACCESS_KEY', 'the secret key of the S3 layer cache'),
    },
    ...(region ? { region } : {}),
    ...(env['LSE_DEBIAN_MIRROR']
      ? {
          debianMirror: url(
            env,
            'LSE_DEBIAN_MIRROR',
            '',
            ['http', 'https'],
            'the Debian archive .deb files of indexed packages are fetched from',
          ),
        }
      : {}),
    debianKeyring: env['LSE_DEBIAN_KEYRING'] || DEFAULT_DEBIAN_KEYRING,
    concurrency: int(env, 'LSE_CONCURRENCY', 2, 'messages a service handles at once', 1),
    ackWaitMs: int(env, 'LSE_ACK_WAIT_SECONDS', 0, 'seconds before an unacknowledged message is redelivered') * 1000,
    logLevel: env['LSE_LOG_LEVEL'] || 'info',
    healthPort: int(env, 'LSE_HEALTH_PORT', 0, 'port for /healthz of worker services, 0 = off'),
    epoch: int(env, 'SOURCE_DATE_EPOCH', 0, 'timestamp stamped into images'),
    gateway: {
      host: env['LSE_GATEWAY_HOST'] || '127.0.0.1',
      port: int(env, 'LSE_GATEWAY_PORT', 8080, 'the gateway HTTP port'),
      tokens: parseTokens(env['LSE_TOKENS']),
      anonymousPull: (env['LSE_ANONYMOUS_PULL'] ?? 'false') === 'true',
      leaseTtlSeconds: int(
        env,
        'LSE_LEASE_TTL_SECONDS',
        3600,
        'how long a synthesized image is kept without renewal',
        1,
      ),
      collectIntervalSeconds: int(
        env,
        'LSE_COLLECT_INTERVAL_SECONDS',
        60,
        'how often the collector runs; 0 = never',
        0,
      ),
      collectGraceSeconds: int(env, 'LSE_COLLECT_GRACE_SECONDS', 300, 'how long an unreferenced blob survives'),
      waitMaxSeconds: int(env, 'LSE_WAIT_MAX_SECONDS', 300, 'longest Prefer: wait=N honoured', 1),
      bodyLimitBytes: int(
        env,
        'LSE_BODY_LIMIT_BYTES',
        512 * 1024 * 1024,
        'largest request body (fragment and base uploads)',
        1024,
      ),
      ...(publicUrl ? { publicUrl } : {}),
      ...(env['LSE_REGISTRY_SECRET'] ? { registrySecret: secret(env, 'LSE_REGISTRY_SECRET') } : {}),
      pkgsBase: env['LSE_PKGS_BASE'] || 'minimal',
      pkgsPlatforms: platforms(env, 'LSE_PKGS_PLATFORMS', 'linux/amd64'),
      ...(env['LSE_IMAGE_SIGNING_KEY'] ? { imageSigningKeyPath: env['LSE_IMAGE_SIGNING_KEY'] } : {}),
      debianKeyring: env['LSE_DEBIAN_KEYRING']
        ? { file: env['LSE_DEBIAN_KEYRING'], explicit: true }
        : { file: '/usr/share/keyrings/debian-archive-keyring.gpg', explicit: false },
      debianProofLimitBytes: int(
        env,
        'LSE_DEBIAN_PROOF_LIMIT_BYTES',
        128 * 1024 * 1024,
        'largest Debian proof blob (InRelease, uncompressed Packages file) the gateway takes',
        1024,
      ),
    },
  };
}

/** The configuration without secrets, for the startup log line. */
export function describeConfig(c: ServiceConfig): Record<string, unknown> {
  return {
    natsUrl: c.natsUrl,
    ...(c.streamReplicas ? { streamReplicas: c.streamReplicas } : {}),
    mongoUrl: c.mongoUrl.replace(/\/\/[^@/]*@/, '//***@'),
    mongoDb: c.mongoDb,
    s3: { endpoint: c.s3.endpoint, bucket: c.s3.bucket, region: c.s3.region },
    ...(c.region
      ? { region: c.region.name, regionPeers: c.region.peers.map((p) => `${p.name}=${p.endpoint}/${p.bucket}`) }
      : {}),
    ...(c.debianMirror ? { debianMirror: c.debianMirror } : {}),
    debianKeyring: c.debianKeyring,
    concurrency: c.concurrency,
    healthPort: c.healthPort,
    gateway: {
      host: c.gateway.host,
      port: c.gateway.port,
      tokens: [...c.gateway.tokens.values()].map((t) => t.name),
      anonymousPull: c.gateway.anonymousPull,
      leaseTtlSeconds: c.gateway.leaseTtlSeconds,
      pkgsBase: c.gateway.pkgsBase,
      pkgsPlatforms: c.gateway.pkgsPlatforms,
      debianKeyring: c.gateway.debianKeyring.file,
    },
  };
}
