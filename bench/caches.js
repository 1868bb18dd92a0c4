#!/usr/bin/env node
'use strict';
/**
 * New combinations of fragments already stored: the embedded `lse synth` (a CLI process on an fs
 * store) of a synthetic manifest of N fragments, first the cold synthesis, then new combinations
 * that share those fragments (a different inline file each time, and every other one without one
 * of the fragments). Stage times come from the CLI's progress lines (each prints the time since
 * the start). At the end the layer records and verdicts are removed and the last manifest is
 * synthesized again: its image digest must be the one made with the caches. See bench/README.md.
 *
 *   node bench/caches.js [--fragments 30] [--kb 256] [--runs 4] [--json] [--keep]
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { now, shell, median, machine, fmtMs, fmtRatio, table, progress, prng } = require('./lib');

function parseArgs(argv) {
  const o = { fragments: 30, kb: 256, runs: 4, json: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => Number(inline ?? argv[++i]);
    if (flag === '--fragments') o.fragments = value();
    else if (flag === '--kb') o.kb = value();
    else if (flag === '--runs') o.runs = value();
    else if (flag === '--json') o.json = true;
    else if (flag === '--keep') o.keep = true;
    else {
      process.stderr.write(
        `unknown option '${argv[i]}'\nusage: node bench/caches.js [--fragments N] [--kb K] [--runs R] [--json] [--keep]\n`,
      );
      process.exit(2);
    }
  }
  return o;
}

/** N fragments of about `kb` KiB each (a few files: text-like and random), signed, in the store. */
async function seedStore(storeDir, n, kb) {
  const { openFsStore } = require('@lse/adapter-fs');
  const { generateKeyPair, publicKeyOf } = require('@lse/core');
  const { buildFragment } = require('@lse/engine');
  const store = openFsStore(storeDir);
  const key = generateKeyPair('bench-caches').secretKey;
  await store.trust.add({
    name: key.name,
    publicKey: publicKeyOf(key).key.toString('base64'),
    scopes: ['cache-*'],
    revoked: false,
  });
  const rnd = prng(42);
  const names = [];
  for (let i = 0; i < n; i++) {
    const name = `cache-frag-${String(i).padStart(2, '0')}`;
    const entries = [];
    const files = 8;
    for (let j = 0; j < files; j++) {
      const size = Math.floor((kb * 1024) / files);
      const data =
        rnd() < 0.6
          ? Buffer.from(
              Array.from({ length: Math.ceil(size / 16) }, (_, k) => `line ${i}.${j}.${k} ${Math.floor(rnd() * 1e6)}\n`)
                .join('')
                .slice(0, size),
            )
          : crypto.randomBytes(size);
      entries.push({
        path: `usr/share/${name}/f${j}`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: 0,
        size: data.length,
        data,
      });
    }
    const { fragment, blob } = buildFragment({
      entries,
      name,
      version: '1.0.0',
      scheme: 'semver',
      key,
      epoch: 0,
      source: { type: 'bench' },
    });
    await store.fragmentBlobs.put(fragment.descriptor.blob.digest, blob, blob.length);
    await store.fragments.put(fragment);
    names.push(name);
  }
  return names;
}

function manifest(file, names, motd) {
  fs.writeFileSync(
    file,
    [
      'apiVersion: lse.dev/v1',
      'kind: DependencyManifest',
      'metadata: { name: bench-caches }',
      'base: scratch',
      'platform: { os: linux, arch: amd64 }',
      'require:',
      ...names.map((n) => `  - name: ${n}`),
      'files:',
      `  - path: /etc/motd`,
      `    content: ${JSON.stringify(motd)}`,
      '',
    ].join('\n'),
  );
}

const STAGES = ['resolved', 'fetched', 'verified', 'assembled'];

/** One `lse synth` process: wall clock, and each stage's share from the progress lines. */
function synth(cli, store, file, out) {
  const t = now();
  const r = shell(
    `node ${JSON.stringify(cli)} --store ${JSON.stringify(store)} synth ${JSON.stringify(file)} --out ${JSON.stringify(out)} --force`,
  );
  const wall = now() - t;
  const at = {};
  for (const line of r.stderr.split('\n')) {
    const m = /^\s+(resolved|fetched|verified|assembled)\s.*\((\d+) ms\)\s*$/.exec(line);
    if (m) at[m[1]] = Number(m[2]);
    const total = /^synthesized .* (\d+) ms$/.exec(line);
    if (total) at.total = Number(total[1]);
  }
  const stages = {};
  let prev = 0;
  for (const s of STAGES) {
    stages[s] = at[s] !== undefined ? at[s] - prev : undefined;
    if (at[s] !== undefined) prev = at[s];
  }
  stages.output = at.total !== undefined ? at.total - prev : undefined;
  return { wallMs: wall, inProcessMs: at.total, stages, digest: r.stdout.trim() };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const root = path.resolve(__dirname, '..');
  const cli = path.join(root, 'apps', 'cli', 'bin', 'lse.js');
  if (!fs.existsSync(path.join(root, 'apps', 'cli', 'dist', 'main.js'))) {
    process.stderr.write("apps/cli is not built; run 'npm run build' first\n");
    process.exit(1);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lse-bench-caches-'));
  const store = path.join(work, 'store');
  try {
    progress(`seeding ${o.fragments} fragments of ${o.kb} KiB into ${store}`);
    const names = await seedStore(store, o.fragments, o.kb);
    const startup = median([0, 1, 2].map(() => shell(`node ${JSON.stringify(cli)} -V`).ms));
    const runs = [];
    const file = path.join(work, 'm.yaml');
    for (let i = 0; i <= o.runs; i++) {
      // run 0: cold; odd runs: all fragments, new motd; even runs: one fragment left out, new motd
      const picked = i > 0 && i % 2 === 0 ? names.filter((_, k) => k !== i % names.length) : names;
      manifest(file, picked, `combination ${i}`);
      progress(`synth ${i === 0 ? 'first (cold)' : `new combination ${i}`} of ${picked.length} fragments`);
      runs.push({ run: i, fragments: picked.length, ...synth(cli, store, file, path.join(work, `image-${i}`)) });
    }
    // Without the caches: the same last manifest, layer records and verdicts removed.
    for (const d of ['layer-records', 'verdicts']) fs.rmSync(path.join(store, d), { recursive: true, force: true });
    progress('the last combination again with the layer records and verdicts removed');
    const uncached = synth(cli, store, file, path.join(work, 'image-uncached'));
    const result = {
      machine: machine(),
      fragments: o.fragments,
      kbPerFragment: o.kb,
      nodeStartupMs: startup,
      runs,
      uncached,
      sameDigestWithoutCaches: uncached.digest === runs[runs.length - 1].digest,
    };
    if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else print(result);
    if (!result.sameDigestWithoutCaches) process.exitCode = 1;
  } finally {
    if (o.keep) progress(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

function print(r) {
  const row = (label, x) => [
    label,
    x.fragments ?? '-',
    ...STAGES.map((s) => fmtMs(x.stages[s])),
    fmtMs(x.stages.output),
    fmtMs(x.inProcessMs),
    fmtMs(x.wallMs),
  ];
  const later = r.runs.slice(1);
  const med = (f) => median(later.map(f).filter((v) => v !== undefined));
  const summary = {
    fragments: '-',
    stages: Object.fromEntries([...STAGES, 'output'].map((s) => [s, med((x) => x.stages[s])])),
    inProcessMs: med((x) => x.inProcessMs),
    wallMs: med((x) => x.wallMs),
  };
  table(
    `lse synth (embedded), ${r.fragments} fragments of ${r.kbPerFragment} KiB, node startup ${fmtMs(r.nodeStartupMs)}; ${r.machine.cpus} cores, load ${r.machine.loadAverage.join(' ')}`,
    ['run', 'fragments', 'resolve', 'fetch', 'verify', 'assemble', 'output', 'in process', 'wall'],
    [
      ...r.runs.map((x) => row(x.run === 0 ? 'first (cold)' : `new combination ${x.run}`, x)),
      row('new combinations, median', summary),
      row('last again, caches removed', r.uncached),
    ],
  );
  const first = r.runs[0];
  process.stdout.write(
    `\nfirst / median new combination: assemble ${fmtRatio(first.stages.assembled / summary.stages.assembled)}, verify ${fmtRatio(first.stages.verified / summary.stages.verified)}, in process ${fmtRatio(first.inProcessMs / summary.inProcessMs)}\n`,
  );
  process.stdout.write(
    `image digest without the caches ${r.sameDigestWithoutCaches ? 'is the same' : 'DIFFERS'} (${r.uncached.digest})\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
