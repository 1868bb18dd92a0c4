#!/usr/bin/env node
'use strict';
/**
 * P5 (issue 9): the whole bookworm main index imported over the gateway, then `POST /v1/negotiate`
 * for ten popular packages at 3k, 10k and all (63k) stored fragments. Needs the local stack
 * (infra/local/stack.sh up; eval "$(bash infra/local/stack.sh env)") and the built CLI.
 *
 *   node bench/negotiate.js [--rounds N] [--db-rounds N] [--stages 3000,10000,all] [--from N] [--json]
 *
 * The index (the host's apt lists, as bench/debian.js reads them) is split into cumulative
 * stages: the first holds the closures of the ten packages (so they resolve at every stage) and
 * filler up to 3,000 packages, the next grows it to 10,000, the last adds the rest. Each stage
 * is imported by `lse import debian-index --server` (a process of the built CLI: parse, sign,
 * POST /v1/fragments/batch; timed as wall clock). After each stage:
 *  - negotiate: each package `rounds` times over HTTP (the gateway resolves from its in-memory
 *    catalog, which the catalog events keep current; no database round trip);
 *  - baseline in the same run: the same resolution in this process over the same index held in
 *    memory (DebianIndexCatalog), i.e. the solver alone;
 *  - database-backed, as the resolver did before: `loadCatalog` over MongoFragmentRepository
 *    (FerretDB; one long-lived store, so its record cache is warm after the first round;
 *    `--db-rounds` rounds after one warm-up round, default 1: it takes seconds per package);
 *  - every negotiated closure is compared with `apt-get -s install --no-install-recommends` on an
 *    empty status (the manifests use `base: scratch`), printing the symmetric difference size.
 * Then freshness, 10 times: a new fragment (depending on curl) is published with `POST
 * /v1/fragments` and negotiated right after the 201: *publish → resolved* is the wall clock from
 * sending the publish to the negotiate answer naming it (the first negotiate always does: a
 * failed resolution waits for the catalog events stored so far, live-catalog.ts).
 * Fragments an earlier run of this bench stored stay stored (a stage then imports nothing new, but
 * the gateway still checks each one: slow on FerretDB); `--from N` continues an earlier run that
 * stored the first N packages of the same order (stages are then counted from N).
 */
const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const core = require('../libs/core/dist');
const { buildFragment, loadCatalog } = require('../libs/engine/dist');
const { MongoStore } = require('../libs/adapters/mongo/dist');
const { now, stats, fmt, fmtMs, fmtRatio, table, progress, machine } = require('./lib');

const PACKAGES = ['curl', 'python3', 'jq', 'git', 'openssh-client', 'nginx', 'perl', 'openssl', 'wget', 'sqlite3'];
const PLATFORM = { os: 'linux', arch: 'amd64' };
const REPO = join(__dirname, '..');

function args() {
  const a = process.argv.slice(2);
  const get = (k, d) => (a.includes(k) ? a[a.indexOf(k) + 1] : d);
  return {
    from: Number(get('--from', '0')),
    rounds: Number(get('--rounds', '5')),
    dbRounds: Number(get('--db-rounds', '1')),
    stages: get('--stages', '3000,10000,all').split(','),
    json: a.includes('--json'),
  };
}

function readIndex() {
  const t = spawnSync('apt-get', ['indextargets', '--format', '$(FILENAME)', 'Identifier: Packages'], {
    encoding: 'utf8',
  });
  const f = (t.stdout || '').split('\n').find((l) => /_dists_bookworm_main_binary-amd64_Packages/.test(l));
  if (!f) throw new Error('no bookworm main Packages list from apt; run apt-get update');
  return spawnSync('/usr/lib/apt/apt-helper', ['cat-file', f], { maxBuffer: 1 << 30 }).stdout.toString('utf8');
}

function aptClosure(name) {
  const r = spawnSync(
    'apt-get',
    ['install', '-s', '--no-install-recommends', '-o', 'Dir::State::status=/dev/null', name],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) return undefined;
  return new Set(
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith('Inst '))
      .map((l) => l.split(' ')[1].replace(/:.*$/, '')),
  );
}

function lse(...argv) {
  const r = spawnSync(
    'node',
    [
      join(REPO, 'apps/cli/bin/lse.js'),
      '--server',
      process.env.LSE_SERVER,
      '--token',
      process.env.LSE_TOKEN,
      '-q',
      ...argv,
    ],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  if (r.status !== 0) throw new Error(`lse ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

async function negotiate(name, attempt = 1) {
  let res;
  try {
    res = await fetch(new URL('/v1/negotiate', process.env.LSE_SERVER), {
      method: 'POST',
      headers: { authorization: `Bearer ${process.env.LSE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        manifest: {
          apiVersion: 'lse.dev/v1',
          kind: 'DependencyManifest',
          metadata: { name: `p5-${name}` },
          base: 'scratch',
          platform: PLATFORM,
          require: [{ name }],
        },
      }),
    });
  } catch (e) {
    // A kept-alive connection the server closed during a long import stage fails the first
    // request after it ("fetch failed"); one new connection is tried, and a second failure stops the run.
    if (attempt > 1) throw e;
    process.stderr.write(
      `  .. negotiate ${name}: ${e.message} (${e.cause?.code ?? e.cause?.message ?? 'no cause'}); trying once more\n`,
    );
    return negotiate(name, attempt + 1);
  }
  const body = await res.json();
  if (res.status !== 200) throw new Error(`negotiate ${name}: ${res.status} ${JSON.stringify(body).slice(0, 400)}`);
  return body.fragments.map((f) => f.name);
}

function diff(a, b) {
  let n = 0;
  for (const x of a) if (!b.has(x)) n++;
  for (const x of b) if (!a.has(x)) n++;
  return n;
}

async function main() {
  const o = args();
  if (!process.env.LSE_SERVER || !process.env.LSE_TOKEN || !process.env.MONGO_URL)
    throw new Error('needs the stack: eval "$(bash infra/local/stack.sh env)"');
  const text = readIndex();
  const paragraphs = core.parseControlFile(text, 'Packages');
  const memCatalog = new core.DebianIndexCatalog(paragraphs, ['amd64', 'all']);
  // Stage 1 first holds the closures of the ten packages.
  const first = new Set();
  for (const name of PACKAGES)
    for (const f of core.resolve({ requirements: [{ name }], platform: PLATFORM, catalog: memCatalog }).fragments)
      first.add(f.descriptor.name);
  const order = [...paragraphs.filter((p) => first.has(p.Package)), ...paragraphs.filter((p) => !first.has(p.Package))];
  const dir = mkdtempSync(join(tmpdir(), 'lse-p5-'));
  const rows = [];
  const mongo = await MongoStore.connect(process.env.MONGO_URL, process.env.MONGO_DB || 'lse');
  try {
    const keyName = `p5-${Date.now().toString(36)}`; // trusted keys keep their name forever
    lse('keys', 'generate', '--name', keyName, '--out', dir);
    lse('trust', 'add', join(dir, `${keyName}.pub`));
    const apt = new Map(PACKAGES.map((n) => [n, aptClosure(n)]));
    let done = o.from;
    let importSeconds = 0;
    for (const stage of o.stages) {
      const upto = stage === 'all' ? order.length : Math.min(Number(stage), order.length);
      if (upto <= done) continue;
      const file = join(dir, `stage-${upto}.Packages`);
      writeFileSync(file, order.slice(done, upto).map(core.formatParagraph).join('\n'));
      progress(`importing packages ${done + 1}..${upto} over the gateway`);
      const t0 = now();
      // a stage is a cut of the index, which no InRelease lists (and a gateway takes no Debian proof yet)
      lse(
        'import',
        'debian-index',
        file,
        '--allow-unsigned',
        '--key',
        join(dir, `${keyName}.key`),
        '--mirror',
        'http://deb.debian.org/debian',
      );
      const imp = (now() - t0) / 1000;
      importSeconds += imp;
      done = upto;
      progress(`stage ${upto}: imported in ${fmt(imp)} s; negotiating`);
      const closures = new Map();
      for (const name of PACKAGES) closures.set(name, await negotiate(name)); // warm-up, and the closure
      const http = [];
      const solver = [];
      const db = [];
      for (let r = 0; r < o.rounds; r++) {
        for (const name of PACKAGES) {
          let t = now();
          await negotiate(name);
          http.push(now() - t);
          t = now();
          core.resolve({ requirements: [{ name }], platform: PLATFORM, catalog: memCatalog });
          solver.push(now() - t);
        }
      }
      for (let r = 0; r <= o.dbRounds; r++) {
        for (const name of PACKAGES) {
          const t = now();
          const cat = await loadCatalog(mongo.fragments, [name]);
          core.resolve({ requirements: [{ name }], platform: PLATFORM, catalog: cat });
          if (r > 0) db.push(now() - t); // round 0 warms the record cache
        }
      }
      const diffs = PACKAGES.map((n) => (apt.get(n) ? diff(new Set(closures.get(n)), apt.get(n)) : undefined));
      const h = stats(http);
      const s = stats(solver);
      const d = stats(db);
      rows.push({
        stored: upto,
        importSeconds: imp,
        negotiate: h,
        solver: s,
        database: d,
        aptDiffs: diffs,
        closureSizes: PACKAGES.map((n) => closures.get(n).length),
      });
    }
    const key = core.parseSecretKey(readFileSync(join(dir, `${keyName}.key`), 'utf8'));
    const fresh = [];
    const after = [];
    for (let i = 0; i < 10; i++) {
      const name = `p5-fresh-${keyName}-${i}`;
      const data = Buffer.from(`${name}\n`);
      const { fragment, blob } = buildFragment({
        entries: [
          { path: `usr/share/${name}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: data.length, data },
        ],
        name,
        version: '1.0.0',
        scheme: 'semver',
        depends: ['curl'],
        key,
        epoch: 0,
        source: { type: 'bench' },
      });
      const t = now();
      const res = await fetch(new URL('/v1/fragments', process.env.LSE_SERVER), {
        method: 'POST',
        headers: { authorization: `Bearer ${process.env.LSE_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ fragment, blob: blob.toString('base64') }),
      });
      if (res.status !== 201) throw new Error(`publish ${name}: ${res.status} ${await res.text()}`);
      const t1 = now();
      const names = await negotiate(name);
      if (!names.includes(name)) throw new Error(`negotiate ${name} did not name it`);
      fresh.push(now() - t);
      after.push(now() - t1);
    }
    const rss = (svc) => {
      const r = spawnSync(
        'sh',
        [
          '-c',
          `grep VmRSS /proc/$(cat ${process.env.LSE_STATE_DIR || `${process.env.HOME}/.local/state/lse-local`}/run/svc-${svc}-1.pid)/status`,
        ],
        { encoding: 'utf8' },
      );
      return r.stdout.trim().replace(/^VmRSS:\s*/, '');
    };
    const out = {
      machine: machine(),
      packages: PACKAGES,
      rounds: o.rounds,
      totalImportSeconds: importSeconds,
      stages: rows,
      freshness: { publishToResolved: stats(fresh), negotiateAfterPublish: stats(after) },
      rss: { resolver: rss('resolver'), gateway: rss('gateway') },
    };
    if (o.json) return void process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    table(
      `P5: POST /v1/negotiate for ${PACKAGES.length} packages x ${o.rounds} rounds, by fragments stored (import: lse import debian-index --server)`,
      [
        'stored',
        'import',
        'negotiate p50',
        'p99',
        'solver alone p50',
        'vs solver',
        'database-backed p50',
        'db vs negotiate',
        'apt diff (sum)',
      ],
      rows.map((r) => [
        r.stored,
        `${fmt(r.importSeconds)} s`,
        fmtMs(r.negotiate.p50),
        fmtMs(r.negotiate.p99),
        fmtMs(r.solver.p50),
        fmtRatio(r.negotiate.p50 / r.solver.p50),
        fmtMs(r.database.p50),
        fmtRatio(r.database.p50 / r.negotiate.p50),
        r.aptDiffs.reduce((a, b) => a + (b ?? 0), 0),
      ]),
    );
    process.stdout.write(
      `\npublish -> resolved: p50 ${fmtMs(out.freshness.publishToResolved.p50)}, max ${fmtMs(out.freshness.publishToResolved.max)} (the negotiate after the 201: p50 ${fmtMs(out.freshness.negotiateAfterPublish.p50)}, max ${fmtMs(out.freshness.negotiateAfterPublish.max)}; 10 fragments)\n`,
    );
    process.stdout.write(
      `\ntotal import ${fmt(importSeconds)} s; closure sizes ${rows.at(-1)?.closureSizes.join(' ')}; RSS resolver ${out.rss.resolver}, gateway ${out.rss.gateway}\n`,
    );
  } finally {
    await mongo.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
