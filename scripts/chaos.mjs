#!/usr/bin/env node
/**
 * A chaos run against the local stack (infra/local/stack.sh), on loopback only, bounded in time
 * and count: a stream of syntheses, half over REST and half published straight to NATS, a mix of
 * repeated manifests and new ones, while it kill -9s random service processes, nats-server and
 * MinIO, each followed by `stack.sh up`. When the load ends it waits for the system to go quiet,
 * then checks every synthesis it got accepted:
 *   - exactly one terminal state, and the record agrees with the events;
 *   - exactly one completed event per completed synthesis in LSE_EVENTS (none for failed ones);
 *   - every blob of every completed image present in the layer store;
 *   - nothing pending once quiet.
 * The last line is "chaos: N syntheses, L lost, D duplicated, S stuck"; exit 0 only if L, D and S
 * are 0. `--json` prints the report as JSON before that line.
 *
 * Needs the stack's environment: eval "$(bash infra/local/stack.sh env)" (LSE_SERVER, LSE_TOKEN,
 * NATS_URL, MONGO_URL, S3_*, LSE_STATE_DIR) and a build (npm run build).
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, appendFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatKey, generateKeyPair, publicKeyOf, writeTar } from '@lse/core';
import { HEADERS, SUBJECTS } from '@lse/contracts';
import { buildFragment } from '@lse/engine';
import { NatsBus } from '@lse/adapter-nats';
import { S3BlobStore, makeS3Client } from '@lse/adapter-s3';
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy } from '@nats-io/jetstream';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string' },
    minutes: { type: 'string' },
    rate: { type: 'string', default: '2' },
    'kill-every': { type: 'string', default: '15' },
    'drain-seconds': { type: 'string', default: '420' },
    targets: { type: 'string', default: 'service,nats,service,minio' },
    'down-seconds': { type: 'string' },
    'max-syntheses': { type: 'string', default: '20000' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout
    .write(`Usage: node scripts/chaos.mjs [--seconds N | --minutes N] [--rate R] [--kill-every S] [--drain-seconds S] [--max-syntheses N] [--json]

  --seconds/--minutes  how long the load runs (default 60 s)
  --rate               syntheses started per second (default 2), half REST, half NATS
  --kill-every         seconds between kills (default 15)
  --targets            what is killed, in turn (default service,nats,service,minio; also ferretdb)
  --down-seconds       how long a killed process stays down before stack.sh up (default 1-3 s)
  --drain-seconds      how long to wait for the backlog to finish after the load (default 420)
  --max-syntheses      stop starting syntheses after this many (default 20000)
Needs the local stack's environment: eval "$(bash infra/local/stack.sh env)".
`);
  process.exit(0);
}
const env = process.env;
for (const v of ['LSE_SERVER', 'LSE_TOKEN', 'NATS_URL', 'S3_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) {
  if (!env[v]) {
    process.stderr.write(`chaos: ${v} is not set; run eval "$(bash infra/local/stack.sh env)" first\n`);
    process.exit(2);
  }
}
const STATE = env.LSE_STATE_DIR ?? join(env.HOME ?? '/root', '.local/state/lse-local');
const seconds = args.seconds ? Number(args.seconds) : args.minutes ? Number(args.minutes) * 60 : 60;
const rate = Number(args.rate);
const killEvery = Number(args['kill-every']);
const drainSeconds = Number(args['drain-seconds']);
const maxSyntheses = Number(args['max-syntheses']);
const targets = args.targets
  .split(',')
  .map((t) => t.trim())
  .filter(Boolean);
const downSeconds = args['down-seconds'] !== undefined ? Number(args['down-seconds']) : undefined;
if (
  !targets.length ||
  targets.some((t) => !['service', 'nats', 'minio', 'ferretdb'].includes(t)) ||
  (downSeconds !== undefined && !(downSeconds >= 0))
) {
  process.stderr.write(
    'chaos: --targets is a comma-separated list of service, nats, minio, ferretdb; --down-seconds a number of seconds\n',
  );
  process.exit(2);
}
if (![seconds, rate, killEvery, drainSeconds, maxSyntheses].every((x) => Number.isFinite(x) && x > 0)) {
  process.stderr.write(
    'chaos: --seconds/--minutes, --rate, --kill-every, --drain-seconds and --max-syntheses must be positive numbers\n',
  );
  process.exit(2);
}
const run = Date.now().toString(36);
const n = (s) => `chaos${run}-${s}`;
const log = (s) => process.stderr.write(`[chaos ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();

async function api(method, path, body, headers = {}) {
  const res = await fetch(new URL(path, env.LSE_SERVER), {
    method,
    headers: {
      authorization: `Bearer ${env.LSE_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}

/** Retries a call while the stack is being restarted (network errors and 5xx), up to `ms`. */
async function persist(what, fn, ms = 90_000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const r = await fn();
      if (!(r && typeof r.status === 'number' && r.status >= 500)) return r;
      if (Date.now() > until) return r;
    } catch (e) {
      if (Date.now() > until) throw new Error(`${what}: ${e.message}`);
    }
    await sleep(500);
  }
}

const file = (path, content, mode = 0o644) => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: Buffer.byteLength(content),
  data: Buffer.from(content),
});

function stackUp() {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [join(repo, 'infra/local/stack.sh'), 'up'],
      { env, cwd: repo, timeout: 180_000 },
      (err, stdout, stderr) => {
        appendFileSync(join(STATE, 'logs', 'chaos-stack.log'), `${stdout}${stderr}`);
        resolve(!err);
      },
    );
  });
}

function pidOf(name) {
  try {
    const pid = Number(readFileSync(join(STATE, 'run', `${name}.pid`), 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const key = generateKeyPair(n('key')).secretKey;
const manifest = (name, require, motd) => ({
  apiVersion: 'lse.dev/v1',
  kind: 'DependencyManifest',
  metadata: { name },
  base: `${n('base')}:latest`,
  require: require.map((r) => ({ name: r })),
  entrypoint: ['/usr/local/bin/app'],
  ...(motd ? { files: [{ path: '/etc/motd', content: motd, mode: '0644' }] } : {}),
});

async function setup() {
  const ok = (r, what) => {
    if (r.status >= 300) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  };
  ok(
    await persist('trust', () =>
      api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`chaos${run}-*`] }),
    ),
    'trust the chaos key',
  );
  const rootfs = writeTar([
    { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    file('etc/os-release', 'ID=chaos\n'),
  ]);
  ok(
    await persist('base', () =>
      api('POST', '/v1/bases', { name: n('base'), tag: 'latest', rootfsTar: rootfs.toString('base64') }),
    ),
    'import the base',
  );
  const publish = async (name, version, entries, depends = []) => {
    const { fragment, blob } = buildFragment({
      entries,
      name,
      version,
      scheme: 'semver',
      depends,
      key,
      epoch: 0,
      source: { type: 'chaos' },
    });
    ok(
      await persist('publish', () => api('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') })),
      `publish ${name}`,
    );
  };
  await publish(n('data'), '1.0.0', [file('usr/share/chaos/data.txt', `data ${run}\n`)]);
  await publish(n('lib'), '1.2.0', [file('usr/lib/chaos/libchaos.so', 'ELF-ish\n')], [`${n('data')} ^1.0.0`]);
  for (const a of ['a', 'b', 'c'])
    await publish(
      n(`app-${a}`),
      '2.0.0',
      [file('usr/local/bin/app', `#!/bin/sh\necho ${a}\n`, 0o755)],
      [`${n('lib')} ^1.0.0`],
    );
}

const accepted = new Map(); // id -> { via }
let rejected = 0;
let notAccepted = 0;

async function startOne(i, bus) {
  const repeated = i % 2 === 0;
  const apps = ['a', 'b', 'c'];
  const m = repeated
    ? manifest(`rep-${i % 4}`, [n(`app-${apps[i % 3]}`)])
    : manifest(`new-${i}`, [n(`app-${apps[i % 3]}`)], `new ${run} ${i}\n`);
  if (i % 4 < 2) {
    try {
      const r = await persist('POST', () => api('POST', '/v1/syntheses', { manifest: m }), 60_000);
      if (r.status === 202 || r.status === 200) accepted.set(r.body.id, { via: 'rest' });
      else if (r.status >= 500) notAccepted++;
      else {
        rejected++;
        log(`POST answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
      }
    } catch {
      notAccepted++;
    }
    return;
  }
  const id = `chaos-${run}-${i}`;
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      await bus.publish(
        SUBJECTS.requested,
        { v: 1, synthesisId: id, manifest: m, requestedAt: new Date().toISOString() },
        { [HEADERS.synthesisId]: id, [HEADERS.msgId]: `requested:${id}` },
      );
      accepted.set(id, { via: 'nats' });
      return;
    } catch {
      if (Date.now() > until) {
        notAccepted++;
        return;
      }
      await sleep(500);
    }
  }
}

async function main() {
  log(`setting up (run ${run})`);
  await setup();
  const bus = await NatsBus.connect(env.NATS_URL, { name: `chaos-${run}` });
  const loadUntil = Date.now() + seconds * 1000;
  const kills = [];
  let killing = Promise.resolve();
  let k = 0;
  const killLoop = (async () => {
    while (Date.now() + killEvery * 1000 < loadUntil) {
      await sleep(killEvery * 1000);
      const services = readdirSync(join(STATE, 'run'))
        .filter((f) => f.startsWith('svc-') && f.endsWith('.pid'))
        .map((f) => f.slice(0, -4));
      const natsNodes = readdirSync(join(STATE, 'run'))
        .filter((f) => /^nats(-\d+)?\.pid$/.test(f))
        .map((f) => f.slice(0, -4));
      const kind = targets[k++ % targets.length];
      const pool = kind === 'service' ? services : kind === 'nats' ? natsNodes : [kind];
      const target = pool[Math.floor(Math.random() * pool.length)];
      const pid = target && pidOf(target);
      if (!pid) {
        log(`no pid for ${kind}`);
        continue;
      }
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue;
      }
      kills.push(target);
      log(`kill -9 ${target} (pid ${pid})`);
      await sleep(downSeconds !== undefined ? downSeconds * 1000 : 1000 + Math.random() * 2000);
      killing = stackUp();
      if (!(await killing)) log('stack.sh up failed once; the next kill round retries it');
    }
  })();
  let i = 0;
  const inflight = new Set();
  while (Date.now() < loadUntil && i < maxSyntheses) {
    const p = startOne(i++, bus).finally(() => inflight.delete(p));
    inflight.add(p);
    await sleep(1000 / rate);
  }
  await killLoop;
  await killing;
  await Promise.all(inflight);
  await stackUp(); // everything back up before the checks
  log(
    `load done: ${accepted.size} accepted (${notAccepted} not accepted while the stack was down, ${rejected} refused), ${kills.length} kills; draining`,
  );

  // Quiet: every accepted synthesis has left pending (or the drain time ran out).
  const records = new Map();
  const drainUntil = Date.now() + drainSeconds * 1000;
  let pending = [...accepted.keys()];
  while (pending.length && Date.now() < drainUntil) {
    const next = [];
    for (let j = 0; j < pending.length; j += 16) {
      await Promise.all(
        pending.slice(j, j + 16).map(async (id) => {
          const r = await api('GET', `/v1/syntheses/${id}`).catch(() => ({ status: 0 }));
          if (r.status === 200 && r.body.status !== 'pending') records.set(id, r.body);
          else next.push(id);
        }),
      );
    }
    pending = next;
    if (pending.length) await sleep(2000);
  }
  await sleep(3000); // let the projection apply the last events before reading records again
  for (const id of pending) {
    const r = await api('GET', `/v1/syntheses/${id}`).catch(() => ({ status: 0 }));
    if (r.status === 200) records.set(id, r.body);
  }

  // Terminal events per synthesis, counted in the stream itself.
  const jsm = await jetstreamManager(bus.nc);
  const js = jetstream(bus.nc);
  const counts = new Map();
  for (const kind of ['completed', 'failed']) {
    const ci = await jsm.consumers.add('LSE_EVENTS', {
      filter_subject: `lse.events.synthesis.${kind}.>`,
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: 60_000_000_000,
    });
    let left = ci.num_pending;
    const consumer = await js.consumers.get('LSE_EVENTS', ci.name);
    while (left > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(left, 1000), expires: 10_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        left--;
        const id = m.subject.split('.').pop();
        if (accepted.has(id)) {
          const c = counts.get(id) ?? { completed: 0, failed: 0 };
          c[kind]++;
          counts.set(id, c);
        }
        if (left <= 0) break;
      }
      if (!got) break;
    }
    await jsm.consumers.delete('LSE_EVENTS', ci.name).catch(() => undefined);
  }

  const s3 = makeS3Client({
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION ?? 'us-east-1',
    accessKeyId: env.S3_ACCESS_KEY_ID,
    secretAccessKey: env.S3_SECRET_ACCESS_KEY,
  });
  const layers = new S3BlobStore(s3, env.S3_BUCKET ?? 'lse', 'layers/');
  const problems = { lost: [], duplicated: [], stuck: [] };
  let completed = 0;
  let failed = 0;
  const failures = new Map();
  for (const id of accepted.keys()) {
    const rec = records.get(id);
    const c = counts.get(id) ?? { completed: 0, failed: 0 };
    if (c.completed > 1 || c.failed > 1 || (c.completed && c.failed)) {
      problems.duplicated.push({ id, ...c, status: rec?.status });
      continue;
    }
    if (!rec) {
      problems[c.completed || c.failed ? 'stuck' : 'lost'].push({ id, why: 'no record', ...c });
      continue;
    }
    if (rec.status === 'pending') {
      problems.stuck.push({ id, stage: rec.stage, ...c });
      continue;
    }
    if ((rec.status === 'completed') !== (c.completed === 1) || (rec.status === 'failed') !== (c.failed === 1)) {
      problems.duplicated.push({ id, why: 'record and events disagree', status: rec.status, ...c });
      continue;
    }
    if (rec.status === 'failed') {
      failed++;
      failures.set(rec.error?.code, (failures.get(rec.error?.code) ?? 0) + 1);
      continue;
    }
    completed++;
    const blobs = [rec.result.manifestDigest, rec.result.configDigest, ...rec.result.layers.map((l) => l.digest)];
    const missing = [];
    for (const b of blobs) if (!(await layers.has(b))) missing.push(b);
    if (missing.length) problems.lost.push({ id, why: 'completed, but blobs are gone', missing });
  }
  await bus.close();
  const report = {
    syntheses: accepted.size,
    completed,
    failed,
    failures: Object.fromEntries(failures),
    kills: kills.length,
    killed: kills,
    notAccepted,
    rejected,
    lost: problems.lost.length,
    duplicated: problems.duplicated.length,
    stuck: problems.stuck.length,
    examples: {
      lost: problems.lost.slice(0, 5),
      duplicated: problems.duplicated.slice(0, 5),
      stuck: problems.stuck.slice(0, 5),
    },
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  if (args.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else {
    process.stdout.write(
      `completed ${completed}, failed ${failed} ${JSON.stringify(report.failures)}, kills ${kills.length} (${kills.join(' ')}), not accepted while down ${notAccepted}, refused ${rejected}\n`,
    );
    for (const [k, list] of Object.entries(problems))
      for (const p of list.slice(0, 5)) process.stdout.write(`${k}: ${JSON.stringify(p)}\n`);
  }
  process.stdout.write(
    `chaos: ${accepted.size} syntheses, ${problems.lost.length} lost, ${problems.duplicated.length} duplicated, ${problems.stuck.length} stuck\n`,
  );
  process.exit(problems.lost.length || problems.duplicated.length || problems.stuck.length || rejected ? 1 : 0);
}

main().catch((e) => {
  process.stderr.write(`chaos: ${e.stack ?? e}\n`);
  process.exit(1);
});
