/**
 * Where integration tests find their servers: the environment that `infra/local/servers.sh env`
 * (or `stack.sh env`) prints. Without it, tests fail with a message saying how to start them.
 */
export interface TestServers {
  natsUrl: string;
  mongoUrl: string;
  s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string };
}

const HOW =
  'start the local servers and load their settings first:\n  bash infra/local/servers.sh up && eval "$(bash infra/local/servers.sh env)"\n(or run the whole suite with `npm test`, which does that)';

export function testServers(env: NodeJS.ProcessEnv = process.env): TestServers {
  const missing = ['NATS_URL', 'MONGO_URL', 'S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'].filter(
    (k) => !env[k],
  );
  if (missing.length) throw new Error(`integration tests need ${missing.join(', ')}; ${HOW}`);
  return {
    natsUrl: env['NATS_URL']!,
    mongoUrl: env['MONGO_URL']!,
    s3: {
      endpoint: env['S3_ENDPOINT']!,
      bucket: env['S3_BUCKET'] ?? 'lse',
      region: env['S3_REGION'] ?? 'us-east-1',
      accessKeyId: env['S3_ACCESS_KEY_ID']!,
      secretAccessKey: env['S3_SECRET_ACCESS_KEY']!,
    },
  };
}

/** A unique name per test run (database names, key prefixes, stream names). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
