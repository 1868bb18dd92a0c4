#!/usr/bin/env node
'use strict';
/**
 * What the image attachments (SBOM, signature, provenance) and the registry corrections cost, against
 * a running stack (infra/local/stack.sh up; eval "$(bash infra/local/stack.sh env)"). Every number is
 * measured in this run; ratios compare numbers of this run. See bench/README.md, "Attachments".
 *
 *  Through the gateway, one request at a time, interleaved in the same rounds: GET /readyz (the
 *  floor: one round trip and a ping), a repeated manifest GET by tag (OCI), the same with an Accept of
 *  Docker schema 2 only (the Docker form, already made), the manifest by digest (the pkgs/ ownership
 *  check, remembered), and the referrers list (remembered).
 *  First request for the attachments of a new image (made, stored, leased), for a fragment published
 *  by this run: one sample per run of this script.
 *  In process: buildAttachments (SBOM + signature + provenance) for a synthetic image of N fragments.
 */
const { now, stats, fmtMs, fmtRatio, table, progress } = require('./lib');
const core = require('@lse/core');
const { buildFragment } = require('@lse/engine');

const USAGE = `usage: node bench/attachments.js [--name pkgs/NAME[:TAG]] [--rounds N] [--fragments N]
  --name       image to read (default pkgs/curl:latest; must be pullable)
  --rounds     timed rounds (default 100)
  --fragments  fragments of the in-process image (default 200)`;

const o = { name: 'pkgs/curl:latest', rounds: 100, fragments: 200 };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--name') o.name = process.argv[++i];
  else if (a === '--rounds') o.rounds = Number(process.argv[++i]);
  else if (a === '--fragments') o.fragments = Number(process.argv[++i]);
  else {
    process.stderr.write(`${USAGE}\n`);
    process.exit(a === '--help' || a === '-h' ? 0 : 2);
  }
}
const env = process.env;
if (!env.LSE_SERVER || !env.LSE_TOKEN) {
  process.stderr.write(`LSE_SERVER and LSE_TOKEN are not set\n${USAGE}\n`);
  process.exit(2);
}
const [repo, tag = 'latest'] = o.name.split(':');
const auth = { authorization: `Basic ${Buffer.from(`lse:${env.LSE_TOKEN}`).toString('base64')}` };
const DOCKER = 'application/vnd.docker.distribution.manifest.v2+json';

async function get(p, headers = {}) {
  const res = await fetch(new URL(p, env.LSE_SERVER), { headers: { ...auth, ...headers } });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`GET ${p}: ${res.status} ${body.toString().slice(0, 200)}`);
  return { res, body };
}

async function timed(fn) {
  const t = now();
  await fn();
  return now() - t;
}

/** Synchronous, timed one call at a time: SBOM (SPDX), provenance, two P-256 signatures (pure JS). */
function inProcess(n) {
  const key = core.imageSigningKeyFromPem(core.generateImageSigningKeyPem());
  const hex = (i) => core.sha256Digest(Buffer.from(String(i)));
  const fragments = Array.from({ length: n }, (_, i) => ({
    id: hex(`f${i}`),
    signatures: [],
    descriptor: {
      schemaVersion: 1,
      name: `pkg${i}`,
      version: `1.${i}-1`,
      scheme: 'debian',
      attributes: { arch: 'amd64' },
      depends: [],
      preDepends: [],
      provides: [],
      conflicts: [],
      breaks: [],
      files: [],
      blob: { mediaType: 'application/vnd.debian.binary-package', digest: hex(`b${i}`), size: 1000 + i },
      source: {
        type: 'debian-index',
        repo: 'http://deb.debian.org/debian',
        filename: `pool/main/p/pkg${i}/pkg${i}_1.${i}-1_amd64.deb`,
      },
      metadata: {},
    },
  }));
  const input = {
    subject: { mediaType: core.MEDIA_TYPE_OCI_MANIFEST, digest: hex('image'), size: 5000 },
    facts: {
      fragmentIds: fragments.map((f) => f.id),
      base: { name: 'minimal', digest: hex('base') },
      synthesisKey: hex('lock'),
    },
    fragments,
    basePackages: [],
    created: '1970-01-01T00:00:00Z',
  };
  const samples = [];
  for (let i = 0; i < 30; i++) {
    const t = now();
    core.buildAttachments(input, key);
    samples.push(now() - t);
  }
  return stats(samples);
}

async function firstReferrers() {
  const name = `attbench${Date.now().toString(36)}`;
  const key = core.generateKeyPair(name).secretKey;
  const post = (p, body) =>
    fetch(new URL(p, env.LSE_SERVER), {
      method: 'POST',
      headers: { authorization: `Bearer ${env.LSE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((r) => r.text().then(() => r.status));
  if ((await post('/v1/keys', { publicKey: core.formatKey(core.publicKeyOf(key)), scopes: [`${name}*`] })) !== 201)
    throw new Error('POST /v1/keys failed (an admin token is needed)');
  const data = Buffer.from(`bench ${name}\n`);
  const { fragment, blob } = buildFragment({
    entries: [
      { path: `usr/share/${name}/data`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: data.length, data },
    ],
    name,
    version: '1.0.0',
    scheme: 'semver',
    key,
    epoch: 0,
    source: { type: 'bench' },
  });
  if ((await post('/v1/fragments', { fragment, blob: blob.toString('base64') })) !== 201)
    throw new Error('POST /v1/fragments failed');
  const m = await get(`/v2/pkgs/${name}/manifests/scratch`);
  const digest = m.res.headers.get('docker-content-digest');
  const first = await timed(() => get(`/v2/pkgs/${name}/referrers/${digest}`));
  const again = await timed(() => get(`/v2/pkgs/${name}/referrers/${digest}`));
  return { first, again };
}

async function main() {
  progress(`reading ${repo}:${tag}`);
  const m = await get(`/v2/${repo}/manifests/${tag}`);
  const digest = m.res.headers.get('docker-content-digest');
  const steps = {
    readyz: () => fetch(new URL('/readyz', env.LSE_SERVER)).then((r) => r.arrayBuffer()),
    'manifest by tag (OCI)': () => get(`/v2/${repo}/manifests/${tag}`),
    'manifest by tag (Docker only)': () => get(`/v2/${repo}/manifests/${tag}`, { accept: DOCKER }),
    'manifest by digest': () => get(`/v2/${repo}/manifests/${digest}`),
    referrers: () => get(`/v2/${repo}/referrers/${digest}`),
  };
  for (const f of Object.values(steps)) await f(); // warm: Docker form, ownership, attachments made
  const samples = Object.fromEntries(Object.keys(steps).map((k) => [k, []]));
  progress(`${o.rounds} interleaved rounds`);
  for (let i = 0; i < o.rounds; i++) for (const [k, f] of Object.entries(steps)) samples[k].push(await timed(f));
  const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)]));
  const tagP50 = s['manifest by tag (OCI)'].p50;
  table(
    `Gateway, ${repo}:${tag} (${digest.slice(0, 19)}…), ${o.rounds} rounds`,
    ['request', 'p50', 'p99', 'vs readyz', 'vs by tag'],
    Object.entries(s).map(([k, v]) => [
      k,
      fmtMs(v.p50),
      fmtMs(v.p99),
      fmtRatio(v.p50 / s.readyz.p50),
      fmtRatio(v.p50 / tagP50),
    ]),
  );
  progress('first referrers request of a new image');
  const fr = await firstReferrers();
  table(
    'Attachments of a new one-fragment image (one sample)',
    ['request', 'ms', 'vs by tag p50'],
    [
      ['first referrers (made, stored, leased)', fmtMs(fr.first), fmtRatio(fr.first / tagP50)],
      ['second (remembered)', fmtMs(fr.again), fmtRatio(fr.again / tagP50)],
    ],
  );
  progress(`buildAttachments, ${o.fragments} fragments`);
  const ip = inProcess(o.fragments);
  table(
    `In process: SBOM + signature + provenance of a ${o.fragments}-fragment image (30 runs)`,
    ['what', 'p50', 'p99'],
    [['buildAttachments', fmtMs(ip.p50), fmtMs(ip.p99)]],
  );
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
