#!/usr/bin/env node
'use strict';
/**
 * Two regions (infra/local/regions.sh up, with LSE_HEALTH_PORT_BASE so every worker serves
 * /metrics): 20 images are built in region A, then synthesized in region B, twice, and then 20 new
 * images of the same fragments are made in B. Measured in this run (bench/README.md, "Regions"):
 *
 *  - bytes copied into B from A per store (fragments, layers) against the bytes of the distinct
 *    blobs involved, and how often one blob was copied (goal: each at most once; from the
 *    services' "copied into this region" log lines, every process of region B);
 *  - tier hit ratios in B (lookups answered by B's own cache vs copied in), from /metrics of
 *    B's gateway and workers;
 *  - latency per synthesis (client-side, Prefer: wait): in A, B's first and B's later ones.
 *
 * Region B's resolver is restarted after the fragments are published in A, since the catalog
 * stream is per region (docs/REGIONS.md).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { now, stats, machine, prng, fmt, fmtMs, fmtRatio, table, progress } = require('./lib');

const USAGE = `usage: node bench/regions.js [--json]
  run with the same LSE_* variables that started infra/local/regions.sh (LSE_STATE_DIR, ports,
  LSE_HEALTH_PORT_BASE, LSE_REGION_PORT_OFFSET); it reads each region's client env itself`;

const REPO = path.resolve(__dirname, '..');
const REGIONS = path.join(REPO, 'infra/local/regions.sh');
const RUN = Date.now().toString(36);
const P = `reg${RUN}-`;
const IMAGES = 20;
const POOL = 8;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function regionEnv(r) {
  const out = spawnSync('bash', [REGIONS, 'env', r], { cwd: REPO, env: process.env, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`regions.sh env ${r}: ${out.stderr.trim()}`);
  const env = {};
  for (const line of out.stdout.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  return env;
}

function client(env) {
  return async (method, p, body, headers = {}) => {
    const res = await fetch(new URL(p, env.LSE_SERVER), {
      method,
      headers: {
        authorization: `Bearer ${env.LSE_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
    };
  };
}

async function expectStatus(what, promise, ...ok) {
  const r = await promise;
  if (!ok.includes(r.status)) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
  return r.body;
}

const file = (p, data, mode = 0o644) => ({
  path: p,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: data.length,
  data,
});

/** About 64 KiB: 48 KiB of code-like text and 16 KiB of random bytes. */
function content(seed) {
  const rand = prng(seed);
  const words = ['return', 'const', 'if', 'for', 'buffer', 'length', 'index', 'value', '=', '{', '}', ';', '0', '1'];
  let s = '';
  while (s.length < 48 * 1024)
    s += `${Array.from({ length: 8 }, () => words[Math.floor(rand() * words.length)]).join(' ')}\n`;
  return Buffer.concat([Buffer.from(s.slice(0, 48 * 1024)), randomBytes(16 * 1024)]);
}

/** Image i: three fragments of the shared pool (overlapping between images) and one of its own. */
const requireOf = (i) => [
  `${P}pool${i % POOL}`,
  `${P}pool${(i + 1) % POOL}`,
  `${P}pool${(i + 3) % POOL}`,
  `${P}own${i}`,
];
const manifest = (i, motd) => ({
  apiVersion: 'lse.dev/v1',
  kind: 'DependencyManifest',
  metadata: { name: `regions-${i}` },
  base: 'scratch',
  require: requireOf(i).map((name) => ({ name })),
  files: [{ path: '/etc/motd', content: motd, mode: '0644' }],
});

async function synthWait(api, m) {
  const t = now();
  const body = await expectStatus(
    `synthesis ${m.metadata.name}`,
    api('POST', '/v1/syntheses', { manifest: m }, { prefer: 'wait=120' }),
    200,
    422,
  );
  const ms = now() - t;
  if (body.status !== 'completed')
    throw new Error(`synthesis ${body.id} ended '${body.status}': ${JSON.stringify(body.error ?? body).slice(0, 400)}`);
  return { id: body.id, ms, image: body.result };
}

/** Sums `lse_cache_tier_*_total` over region B's processes: {store|tier|source: {lookups, bytes}}. */
async function tierCounters(urls) {
  const sum = {};
  for (const u of urls) {
    const text = await fetch(u).then(
      (r) => (r.ok ? r.text() : ''),
      () => '',
    );
    for (const line of text.split('\n')) {
      const m =
        /^lse_cache_tier_(lookups|bytes)_total\{store="([^"]+)",region="[^"]+",tier="([^"]+)",source="([^"]+)"\} (\d+)$/.exec(
          line,
        );
      if (!m) continue;
      const k = `${m[2]}|${m[3]}|${m[4]}`;
      sum[k] ??= { lookups: 0, bytes: 0 };
      sum[k][m[1]] += Number(m[5]);
    }
  }
  return sum;
}

const diff = (after, before) =>
  Object.fromEntries(
    Object.entries(after).map(([k, v]) => [
      k,
      { lookups: v.lookups - (before[k]?.lookups ?? 0), bytes: v.bytes - (before[k]?.bytes ?? 0) },
    ]),
  );

/** Copies logged by region B's services since `since` (ISO time): digest → count and bytes. */
function copiesLogged(stateDir, since) {
  const out = new Map();
  const logs = path.join(stateDir, 'logs');
  for (const f of fs.readdirSync(logs).filter((n) => n.startsWith('svc-'))) {
    for (const line of fs.readFileSync(path.join(logs, f), 'utf8').split('\n')) {
      if (!line.includes('copied into this region')) continue;
      const j = JSON.parse(line);
      if (new Date(j.time).toISOString() < since) continue;
      const k = `${j.store}|${j.digest}`;
      const c = out.get(k) ?? { count: 0, bytes: 0, store: j.store, source: j.source };
      c.count += 1;
      c.bytes += j.bytes;
      out.set(k, c);
    }
  }
  return out;
}

function restartResolver(stateDir) {
  const pidFile = path.join(stateDir, 'run', 'svc-resolver-1.pid');
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('apps/resolver/dist/main.js'))
    throw new Error(`${pidFile}: pid ${pid} is not a resolver`);
  process.kill(pid, 'SIGTERM');
  return (async () => {
    const deadline = now() + 30_000;
    while (fs.existsSync(`/proc/${pid}`) && now() < deadline) await sleep(100);
    const r = spawnSync('bash', [REGIONS, 'up', 'b'], { cwd: REPO, env: process.env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`regions.sh up b: ${r.stderr.trim().split('\n').slice(-5).join('\n')}`);
  })();
}

async function main() {
  const json = process.argv.includes('--json');
  if (process.argv.includes('--help')) return void process.stdout.write(`${USAGE}\n`);
  const core = require('@lse/core');
  const engine = require('@lse/engine');
  const A = regionEnv('a');
  const B = regionEnv('b');
  const apiA = client(A);
  const apiB = client(B);
  const base = process.env.LSE_HEALTH_PORT_BASE;
  const offset = Number(process.env.LSE_REGION_PORT_OFFSET || 100);
  if (!base) throw new Error('LSE_HEALTH_PORT_BASE is not set: start regions.sh with it so the workers serve /metrics');
  const stateB = path.join(process.env.LSE_STATE_DIR || path.join(os.homedir(), '.local/state/lse-local'), 'region-b');
  const metricsB = [
    `${B.LSE_SERVER}/metrics`,
    ...[0, 1, 2, 3].map((i) => `http://127.0.0.1:${Number(base) + offset + i}/metrics`),
  ];
  const doc = {
    date: new Date().toISOString(),
    machine: machine(),
    regions: { a: A.LSE_REGION, b: B.LSE_REGION },
    images: IMAGES,
    pool: POOL,
  };

  progress(`setup in region ${A.LSE_REGION}: key, ${POOL} shared and ${IMAGES} own fragments (about 64 KiB each)`);
  const key = core.generateKeyPair(`${P}key`).secretKey;
  await expectStatus(
    'trust key',
    apiA('POST', '/v1/keys', { publicKey: core.formatKey(core.publicKeyOf(key)), scopes: [`${P}*`] }),
    201,
  );
  const put = async (name, seed) => {
    const { fragment, blob } = engine.buildFragment({
      entries: [file(`usr/lib/${name}.so`, content(seed))],
      name,
      version: '1.0.0',
      scheme: 'semver',
      key,
      epoch: 0,
      source: { type: 'bench' },
    });
    await expectStatus(
      `publish ${name}`,
      apiA('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') }),
      201,
    );
    return fragment.descriptor.blob.size;
  };
  let fragmentBytes = 0;
  for (let i = 0; i < POOL; i++) fragmentBytes += await put(`${P}pool${i}`, 1000 + i);
  for (let i = 0; i < IMAGES; i++) fragmentBytes += await put(`${P}own${i}`, 2000 + i);
  const restarted = restartResolver(stateB);

  progress(`${IMAGES} syntheses in region ${A.LSE_REGION}`);
  const inA = [];
  for (let i = 0; i < IMAGES; i++) inA.push(await synthWait(apiA, manifest(i, `built in A ${RUN}\n`)));
  await restarted;

  const since = new Date().toISOString();
  const m0 = await tierCounters(metricsB);
  progress(`the same ${IMAGES} in region ${B.LSE_REGION} (first time there)`);
  const first = [];
  for (let i = 0; i < IMAGES; i++) first.push(await synthWait(apiB, manifest(i, `built in A ${RUN}\n`)));
  const m1 = await tierCounters(metricsB);
  progress(`the same ${IMAGES} in region ${B.LSE_REGION} again`);
  const later = [];
  for (let i = 0; i < IMAGES; i++) later.push(await synthWait(apiB, manifest(i, `built in A ${RUN}\n`)));
  const m2 = await tierCounters(metricsB);
  progress(`${IMAGES} new images in region ${B.LSE_REGION} from the same fragments (new inline file)`);
  const fresh = [];
  for (let i = 0; i < IMAGES; i++) fresh.push(await synthWait(apiB, manifest(i, `new in B ${RUN}\n`)));
  const m3 = await tierCounters(metricsB);
  await sleep(500); // log lines are flushed asynchronously
  const copies = copiesLogged(stateB, since);

  for (let i = 0; i < IMAGES; i++)
    if (first[i].image.manifestDigest !== inA[i].image.manifestDigest)
      throw new Error(`image ${i}: B made ${first[i].image.manifestDigest}, A ${inA[i].image.manifestDigest}`);
  const imageBlobs = new Map();
  for (const s of inA) {
    const img = s.image;
    imageBlobs.set(img.manifestDigest, img.manifestSize ?? 0);
    const config = await fetch(new URL(`/v1/blobs/${img.configDigest}`, A.LSE_SERVER), {
      headers: { authorization: `Bearer ${A.LSE_TOKEN}` },
    });
    if (!config.ok) throw new Error(`config ${img.configDigest}: HTTP ${config.status}`);
    imageBlobs.set(img.configDigest, (await config.arrayBuffer()).byteLength);
    for (const l of img.layers) imageBlobs.set(l.digest, l.size);
  }
  const copied = [...copies.values()];
  doc.copies = {
    blobs: copied.length,
    maxPerBlob: Math.max(0, ...copied.map((c) => c.count)),
    layersBytes: copied.filter((c) => c.store === 'layers').reduce((n, c) => n + c.bytes, 0),
    fragmentsBytes: copied.filter((c) => c.store === 'fragments').reduce((n, c) => n + c.bytes, 0),
    distinctImageBytes: [...imageBlobs.values()].reduce((a, b) => a + b, 0),
    distinctFragmentBytes: fragmentBytes,
  };
  doc.tiers = { first: diff(m1, m0), later: diff(m2, m1), fresh: diff(m3, m2) };
  doc.latency = {
    a: stats(inA.map((s) => s.ms)),
    bFirst: stats(first.map((s) => s.ms)),
    bLater: stats(later.map((s) => s.ms)),
    bFresh: stats(fresh.map((s) => s.ms)),
  };

  if (json) return void process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  const out = process.stdout;
  out.write(
    `regions bench ${doc.date} on ${doc.machine.cpus} x ${doc.machine.cpuModel}; ${IMAGES} images of 4 fragments (${POOL} shared, one own each), scratch base\n`,
  );
  const c = doc.copies;
  table(
    "bytes copied into region B from A (all of B's processes, from their logs)",
    ['', 'value'],
    [
      ['distinct blobs copied', String(c.blobs)],
      ['most copies of one blob', String(c.maxPerBlob)],
      ['layer-store bytes copied', `${fmt(c.layersBytes / 1024)} KiB`],
      ['distinct image blob bytes (layers, configs, manifests)', `${fmt(c.distinctImageBytes / 1024)} KiB`],
      ['fragment bytes copied', `${fmt(c.fragmentsBytes / 1024)} KiB`],
      ['distinct fragment bytes', `${fmt(c.distinctFragmentBytes / 1024)} KiB`],
    ],
    out,
  );
  const tierRows = [];
  for (const [phase, t] of Object.entries(doc.tiers)) {
    for (const store of ['fragments', 'layers']) {
      const rows = Object.entries(t).filter(([k]) => k.startsWith(`${store}|`));
      const total = rows.reduce((n, [, v]) => n + v.lookups, 0);
      if (!total) continue;
      const part = (tier) => rows.filter(([k]) => k.split('|')[1] === tier).reduce((n, [, v]) => n + v.lookups, 0);
      const bytes = (tier) => rows.filter(([k]) => k.split('|')[1] === tier).reduce((n, [, v]) => n + v.bytes, 0);
      tierRows.push([
        phase,
        store,
        String(total),
        `${fmt((100 * part('region')) / total)} %`,
        `${fmt((100 * part('peer')) / total)} %`,
        `${fmt((100 * part('origin')) / total)} %`,
        `${fmt((100 * part('miss')) / total)} %`,
        `${fmt(bytes('peer') / 1024)} KiB`,
      ]);
    }
  }
  table(
    "tier hit ratios in region B (lookups answered by: B's cache, peer A, origin, nobody)",
    ['phase', 'store', 'lookups', 'region', 'peer', 'origin', 'miss', 'copied from peer'],
    tierRows,
    out,
  );
  const l = doc.latency;
  table(
    'latency per synthesis (client, Prefer: wait)',
    ['', 'p50', 'mean', 'max', 'vs B later (p50)'],
    [
      ['A, first build', fmtMs(l.a.p50), fmtMs(l.a.mean), fmtMs(l.a.max), fmtRatio(l.a.p50 / l.bLater.p50)],
      [
        'B, first (copies from A)',
        fmtMs(l.bFirst.p50),
        fmtMs(l.bFirst.mean),
        fmtMs(l.bFirst.max),
        fmtRatio(l.bFirst.p50 / l.bLater.p50),
      ],
      ['B, later (all local)', fmtMs(l.bLater.p50), fmtMs(l.bLater.mean), fmtMs(l.bLater.max), fmtRatio(1)],
      [
        'B, new images of the same fragments',
        fmtMs(l.bFresh.p50),
        fmtMs(l.bFresh.mean),
        fmtMs(l.bFresh.max),
        fmtRatio(l.bFresh.p50 / l.bLater.p50),
      ],
    ],
    out,
  );
}

main().catch((e) => {
  process.stderr.write(`regions bench failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
