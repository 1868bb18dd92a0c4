#!/usr/bin/env node
'use strict';
/**
 * The hot paths of issue "Synthesis in milliseconds", against a running stack (infra/local/stack.sh
 * up; services from the BUILT packages). Every number is measured in this run, every ratio
 * compares two numbers of this run. See bench/README.md, section "Hot paths".
 *
 *  P1  a repeated manifest through POST /v1/syntheses (Prefer: wait), one at a time, next to
 *      GET /readyz in the same rounds (the gateway's own floor: one HTTP round trip + a ping).
 *  P2  a new combination of cached fragments (a synthetic 30-fragment closure; a new inline file
 *      each time, so a new key) through the gateway, next to the conventional build of the same
 *      closure in the same rounds: extract each fragment's tar into one directory, then
 *      `tar -c | gzip | sha256sum` of it (what building and pushing a one-layer image costs).
 *  Flatness: P1 and P2 again after filling the record collections to --fill stored syntheses
 *      (repeats, which each store a record, a lease and their events), with FerretDB's CPU time
 *      per synthesis (from /proc/<pid>/stat) before and after.
 *  Stage timings: the `ms` each stage logs for this run's syntheses (p50 per stage).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { now, stats, machine, fmtMs, fmtRatio, table, progress } = require('./lib');

const USAGE = `usage: node bench/hotpath.js [--rounds N] [--fill N] [--debian] [--json]
  needs the stack's client env: eval "$(bash infra/local/stack.sh env)" (and the LSE_STATE_DIR that started it)
  --rounds N  timed rounds per measurement (default 100 for P1, N/4 for P2)
  --fill N    stored syntheses for the flatness check (default 10000; 0 skips it)
  --debian    also P2 for curl's closure of real Debian packages (root, the host's apt lists; imports them over the gateway)
  --json      one JSON document on stdout`;

function parseArgs(argv) {
  const o = { rounds: 100, fill: 10000, json: false, debian: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--fill') o.fill = Number(argv[++i]);
    else if (a === '--json') o.json = true;
    else if (a === '--debian') o.debian = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      process.stderr.write(`unknown option '${a}'\n${USAGE}\n`);
      process.exit(2);
    }
  }
  if (!(o.rounds > 0) || !(o.fill >= 0)) {
    process.stderr.write(`--rounds must be > 0 and --fill >= 0\n${USAGE}\n`);
    process.exit(2);
  }
  return o;
}

const env = process.env;
const STATE = env.LSE_STATE_DIR || path.join(os.homedir(), '.local/state/lse-local');
const RUN = Date.now().toString(36);
const P = `hot${RUN}-`;

async function api(method, p, body, headers = {}) {
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
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const file = (p, content, mode = 0o644) => ({
  path: p,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: Buffer.byteLength(content),
  data: Buffer.from(content),
});

function cpuMsOf(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return undefined;
  }
}
const pidOf = (name) => {
  try {
    return Number(fs.readFileSync(path.join(STATE, 'run', `${name}.pid`), 'utf8').trim());
  } catch {
    return undefined;
  }
};

/** Parsed JSON log lines of the services whose log file starts with `prefix`, that `keep` keeps. */
function logLines(prefix, keep) {
  const out = [];
  for (const f of fs.readdirSync(path.join(STATE, 'logs')).filter((x) => x.startsWith(prefix))) {
    for (const line of fs.readFileSync(path.join(STATE, 'logs', f), 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const j = JSON.parse(line);
        if (keep(j)) out.push(j);
      } catch {
        /* not a log line */
      }
    }
  }
  return out;
}

/** FerretDB CPU milliseconds spent while `fn(db)` runs (a read through the driver). */
async function ferretCpuOf(pid, fn) {
  const { MongoClient } = require('mongodb');
  const mongo = await MongoClient.connect(env.MONGO_URL ?? 'mongodb://127.0.0.1:27017/');
  try {
    const db = mongo.db(env.MONGO_DB || 'lse');
    await db.command({ ping: 1 });
    const a = cpuMsOf(pid);
    await fn(db);
    const b = cpuMsOf(pid);
    return a === undefined || b === undefined ? undefined : b - a;
  } finally {
    await mongo.close();
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!env.LSE_SERVER || !env.LSE_TOKEN) {
    process.stderr.write(`${USAGE}\n`);
    process.exit(2);
  }
  const { generateKeyPair, publicKeyOf, formatKey, writeTar } = require('@lse/core');
  const { buildFragment } = require('@lse/engine');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lse-hot-'));

  progress('publishing a synthetic 30-fragment closure');
  const key = generateKeyPair(`${P}key`).secretKey;
  const ok = (r, what) => {
    if (r.status >= 300) throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r;
  };
  ok(await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`${P}*`] }), 'trust');
  const rootfs = writeTar([
    { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    file('etc/os-release', 'ID=hot\n'),
  ]);
  ok(await api('POST', '/v1/bases', { name: `${P}base`, tag: 'latest', rootfsTar: rootfs.toString('base64') }), 'base');
  const tars = [];
  for (let i = 0; i < 30; i++) {
    // ~60 KB of text per fragment, a few files each: small libraries and tools.
    const entries = [0, 1, 2].map((j) => file(`usr/lib/${P}${i}/part${j}.txt`, `${P}${i}-${j}\n`.repeat(2400)));
    const depends = i < 29 ? [`${P}lib${i + 1}`] : [];
    const { fragment, blob } = buildFragment({
      entries,
      name: `${P}lib${i}`,
      version: '1.0.0',
      scheme: 'semver',
      depends,
      key,
      epoch: 0,
      source: { type: 'bench' },
    });
    ok(await api('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') }), 'publish');
    const t = path.join(work, `f${i}.tar`);
    fs.writeFileSync(t, blob);
    tars.push(t);
  }
  const manifest = (name, motd) => ({
    apiVersion: 'lse.dev/v1',
    kind: 'DependencyManifest',
    metadata: { name },
    base: `${P}base:latest`,
    require: [{ name: `${P}lib0` }],
    ...(motd ? { files: [{ path: '/etc/motd', content: motd, mode: '0644' }] } : {}),
  });
  const synth = async (m) => {
    const t = now();
    const r = await api('POST', '/v1/syntheses', { manifest: m }, { prefer: 'wait=120' });
    const ms = now() - t;
    if (r.body?.status !== 'completed')
      throw new Error(`synthesis did not complete: ${JSON.stringify(r.body).slice(0, 400)}`);
    return { ms, id: r.body.id };
  };
  const readyz = async () => {
    const t = now();
    await fetch(new URL('/readyz', env.LSE_SERVER)).then((r) => r.text());
    return now() - t;
  };
  const conventional = () => {
    const root = fs.mkdtempSync(path.join(work, 'root-'));
    const t = now();
    const r = spawnSync('bash', [
      '-c',
      `set -e; for f in "$@"; do tar -xf "$f" -C "${root}"; done; tar -C "${root}" -c . | gzip -6 | sha256sum >/dev/null`,
      '_',
      ...tars,
    ]);
    const ms = now() - t;
    if (r.status !== 0) throw new Error(`conventional build failed: ${r.stderr}`);
    fs.rmSync(root, { recursive: true, force: true });
    return ms;
  };

  const ids = [];
  const measure = async (label) => {
    progress(`${label}: P1 repeat (${o.rounds} rounds, each next to a /readyz)`);
    const repeatM = manifest(`${P}repeat`);
    ids.push((await synth(repeatM)).id); // first time: through the stages
    const p1 = [];
    const rz = [];
    for (let i = 0; i < o.rounds; i++) {
      const r = await synth(repeatM);
      p1.push(r.ms);
      ids.push(r.id);
      rz.push(await readyz());
    }
    const rounds2 = Math.max(5, Math.round(o.rounds / 4));
    progress(`${label}: P2 new combination of cached fragments (${rounds2} rounds, each next to a conventional build)`);
    ids.push((await synth(manifest(`${P}warm`, `warm ${label}\n`))).id); // fragment layers built once
    const p2 = [];
    const conv = [];
    const ferret = pidOf('ferretdb');
    const cpu0 = cpuMsOf(ferret);
    const from = Date.now();
    for (let i = 0; i < rounds2; i++) {
      const r = await synth(manifest(`${P}new`, `new ${label} ${i} ${Math.random()}\n`));
      p2.push(r.ms);
      ids.push(r.id);
      conv.push(conventional());
    }
    const cpu1 = cpuMsOf(ferret);
    // The lease collector runs on its own timer and reads every lease (a cost per run that grows
    // with the live leases, not per synthesis): count its runs in this window, and measure what one
    // full read of the leases costs FerretDB now, to show the syntheses' own share.
    const collectorRuns = logLines(
      'svc-gateway-',
      (j) => (j.msg === 'collector ran' || j.msg === 'collected') && Date.parse(j.time) >= from,
    ).length;
    const leaseRead = await ferretCpuOf(ferret, async (db) => db.collection('leases').find({}).toArray());
    const total = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined;
    return {
      p1: stats(p1),
      readyz: stats(rz),
      p2: stats(p2),
      conventional: stats(conv),
      ferretCpuMsPerNew: total === undefined ? undefined : total / rounds2,
      collectorRuns,
      leaseReadCpuMs: leaseRead,
      ferretCpuMsPerNewLessCollector:
        total === undefined || leaseRead === undefined
          ? undefined
          : Math.max(0, total - collectorRuns * leaseRead) / rounds2,
    };
  };

  const results = {};
  if (o.debian) results.debian = await debianP2(o, work, synth);
  results.small = await measure('start');
  if (o.fill > 0) {
    progress(`filling to ${o.fill} stored syntheses (repeats: a record, a lease and events each)`);
    const fillM = manifest(`${P}fill`);
    await synth(fillM);
    let done = 0;
    const t = now();
    const filled = [];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (done < o.fill) {
          const n = ++done;
          const r = await api('POST', '/v1/syntheses', { manifest: fillM });
          if (r.status >= 300) throw new Error(`fill: HTTP ${r.status}`);
          filled.push(r.body.id);
          if (n % 2000 === 0) progress(`  ${n} posted (${((now() - t) / 1000).toFixed(0)} s)`);
        }
      }),
    );
    results.fillSeconds = (now() - t) / 1000;
    // Let the record projection apply the fill's events first: measure stored data, not a backlog.
    // Done when every fill synthesis has its completed record in the database (point lookups by
    // _id through the driver, read-only), then the database is quiet (FerretDB CPU < 5% over 2 s).
    progress(`waiting until the record projection has stored all ${filled.length} records`);
    const { MongoClient } = require('mongodb');
    const mongo = await MongoClient.connect(env.MONGO_URL ?? 'mongodb://127.0.0.1:27017/');
    const records = mongo.db(env.MONGO_DB || 'lse').collection('syntheses');
    const quietFrom = now();
    let pending = filled;
    while (pending.length && now() - quietFrom < 1_800_000) {
      // In posting order, up to the first one not recorded yet (the rest are checked next time).
      let i = 0;
      while (
        i < pending.length &&
        (await records.findOne({ _id: pending[i] }, { projection: { status: 1 } }))?.status === 'completed'
      )
        i++;
      pending = pending.slice(i);
      if (pending.length) {
        progress(
          `  ${filled.length - pending.length} of ${filled.length} recorded (${((now() - quietFrom) / 1000).toFixed(0)} s)`,
        );
        await new Promise((r) => setTimeout(r, 5000));
      }
    }
    await mongo.close();
    if (pending.length) throw new Error(`${pending.length} fill syntheses were not recorded within 30 min`);
    results.recordedSeconds = (now() - quietFrom) / 1000;
    const ferret = pidOf('ferretdb');
    for (let last = cpuMsOf(ferret), n = 0; n < 60; n++) {
      await new Promise((r) => setTimeout(r, 2000));
      const cur = cpuMsOf(ferret);
      if (cur === undefined || last === undefined || cur - last < 100) break;
      last = cur;
    }
    results.quietSeconds = (now() - quietFrom) / 1000;
    results.large = await measure(`after ${o.fill}`);
  }

  // Stage timings of this run's syntheses, from the services' logs.
  const stage = {};
  const wanted = new Set(ids);
  for (const f of fs.readdirSync(path.join(STATE, 'logs')).filter((x) => x.startsWith('svc-'))) {
    for (const line of fs.readFileSync(path.join(STATE, 'logs', f), 'utf8').split('\n')) {
      if (!line.includes('"ms"')) continue;
      try {
        const j = JSON.parse(line);
        if (wanted.has(j.synthesisId) && typeof j.ms === 'number' && j.handler) (stage[j.handler] ??= []).push(j.ms);
      } catch {
        /* not a log line */
      }
    }
  }
  results.stages = Object.fromEntries(Object.entries(stage).map(([k, v]) => [k, stats(v)]));
  results.machine = machine();
  fs.rmSync(work, { recursive: true, force: true });

  if (o.json) {
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
    return;
  }
  if (results.debian) {
    const d = results.debian;
    table(
      `P2 for curl's closure of Debian packages (${d.packages} packages shipped above a base of base-files, base-passwd, dash, coreutils; ${d.debs} .debs in the conventional build)`,
      ['measurement', 'p50', 'p99', 'ratio'],
      [
        [
          'LSE: new combination of cached fragments',
          fmtMs(d.lse.p50),
          fmtMs(d.lse.p99),
          `${fmtRatio(d.conventional.p50 / d.lse.p50)} faster than the conventional build`,
        ],
        [
          'conventional: dpkg-deb -x each .deb + umoci repack',
          fmtMs(d.conventional.p50),
          fmtMs(d.conventional.p99),
          '',
        ],
      ],
    );
  }
  const row = (label, r) => [
    [
      `P1 repeat, ${label}`,
      fmtMs(r.p1.p50),
      fmtMs(r.p1.p99),
      `readyz p99 ${fmtMs(r.readyz.p99)}`,
      `p99/readyz p99 ${fmtRatio(r.p1.p99 / r.readyz.p99)}`,
    ],
    [
      `P2 new combination, ${label}`,
      fmtMs(r.p2.p50),
      fmtMs(r.p2.p99),
      `conventional p50 ${fmtMs(r.conventional.p50)}`,
      `${fmtRatio(r.conventional.p50 / r.p2.p50)} faster`,
    ],
    [
      `FerretDB CPU per new synthesis, ${label}`,
      r.ferretCpuMsPerNew === undefined ? '-' : fmtMs(r.ferretCpuMsPerNew),
      '',
      `${r.collectorRuns} collector run(s) in the window`,
      '',
    ],
    [
      `  less the collector's lease reads, ${label}`,
      r.ferretCpuMsPerNewLessCollector === undefined ? '-' : fmtMs(r.ferretCpuMsPerNewLessCollector),
      '',
      `one lease read ${r.leaseReadCpuMs === undefined ? '-' : fmtMs(r.leaseReadCpuMs)}`,
      '',
    ],
  ];
  table(
    'Hot paths through the gateway (goals: P1 p99 <= 10 ms and <= 3x readyz p99; P2 p50 <= 150 ms and >= 10x the conventional build)',
    ['measurement', 'p50', 'p99', 'baseline (same rounds)', 'ratio'],
    [...row('100s stored', results.small), ...(results.large ? row(`${o.fill} more stored`, results.large) : [])],
  );
  if (results.large) {
    process.stdout.write(
      `flatness: P1 p50 ${fmtRatio(results.large.p1.p50 / results.small.p1.p50)}, P2 p50 ${fmtRatio(results.large.p2.p50 / results.small.p2.p50)}, FerretDB CPU per new synthesis ${fmtRatio(results.large.ferretCpuMsPerNew / results.small.ferretCpuMsPerNew)} (less the collector's lease reads ${fmtRatio(results.large.ferretCpuMsPerNewLessCollector / results.small.ferretCpuMsPerNewLessCollector)}) after ${o.fill} more stored syntheses (posted in ${results.fillSeconds.toFixed(0)} s, all recorded ${results.recordedSeconds.toFixed(0)} s later)\n`,
    );
  }
  table(
    'Stage timings of this run (ms logged per message)',
    ['stage', 'n', 'p50', 'p99'],
    Object.entries(results.stages).map(([k, s]) => [k, String(s.n), fmtMs(s.p50), fmtMs(s.p99)]),
  );
  process.stdout.write(`machine: ${JSON.stringify(results.machine)}\n`);
}

/**
 * P2 with real Debian packages: a base of base-files, base-passwd, dash and coreutils and curl's
 * closure imported over the gateway (`lse base build` / `lse import apt --server`), then new
 * combinations (curl + a new inline file) through the gateway, next to the conventional build of
 * the same closure in the same rounds: `dpkg-deb -x` of each .deb apt downloaded for curl into one
 * rootfs, then `umoci repack` into an OCI layout (umoci computes and gzips the layer).
 */
async function debianP2(o, work, synth) {
  const LSE = path.join(__dirname, '..', 'apps/cli/bin/lse.js');
  const keyFile = path.join(work, 'deb.key');
  const run = (args) => {
    const r = spawnSync('node', [LSE, '--server', env.LSE_SERVER, '--token', env.LSE_TOKEN, '-q', ...args], {
      encoding: 'utf8',
      env,
      timeout: 900_000,
    });
    if (r.status !== 0) throw new Error(`lse ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const gen = spawnSync('node', [LSE, 'keys', 'generate', '--name', `${P}deb`, '--out', work], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(gen.stderr);
  fs.renameSync(path.join(work, `${P}deb.key`), keyFile);
  const pub = fs.readFileSync(path.join(work, `${P}deb.pub`), 'utf8').trim();
  const ok = await api('POST', '/v1/keys', { publicKey: pub, scopes: ['*'] });
  if (ok.status >= 300) throw new Error(`trust: ${JSON.stringify(ok.body)}`);
  const cacheBase = path.join(work, 'apt-base');
  const cacheCurl = path.join(work, 'apt-curl');
  progress('Debian P2: building the base and importing curl over the gateway (apt-get download)');
  run([
    'base',
    'build',
    '--name',
    `${P}debian`,
    'base-files',
    'base-passwd',
    'dash',
    'coreutils',
    '--key',
    keyFile,
    '--cache',
    cacheBase,
  ]);
  run(['import', 'apt', 'curl', 'ca-certificates', '--key', keyFile, '--cache', cacheCurl]);
  const debs = fs
    .readdirSync(cacheCurl)
    .filter((f) => f.endsWith('.deb'))
    .map((f) => path.join(cacheCurl, f));
  const manifest = (i) => ({
    apiVersion: 'lse.dev/v1',
    kind: 'DependencyManifest',
    metadata: { name: `${P}curl` },
    base: `${P}debian:latest`,
    require: [{ name: 'curl' }, { name: 'ca-certificates' }],
    files: [{ path: '/etc/motd', content: `curl ${i} ${Math.random()}\n`, mode: '0644' }],
  });
  const neg = await api('POST', '/v1/negotiate', { manifest: manifest(0) });
  const packages = neg.body?.fragments?.length ?? 0;
  await synth(manifest('warm')); // fragments fetched, verified and their layers built once
  const conventional = () => {
    const dir = fs.mkdtempSync(path.join(work, 'conv-'));
    const t = now();
    const r = spawnSync('bash', [
      '-c',
      `set -e; cd "$1"; shift; umoci init --layout oci >/dev/null; umoci new --image oci:img >/dev/null; umoci unpack --rootless --image oci:img bundle >/dev/null 2>&1; for d in "$@"; do dpkg-deb -x "$d" bundle/rootfs; done; umoci repack --image oci:img bundle >/dev/null`,
      '_',
      dir,
      ...debs,
    ]);
    const ms = now() - t;
    if (r.status !== 0) throw new Error(`conventional build failed: ${r.stderr}`);
    fs.rmSync(dir, { recursive: true, force: true });
    return ms;
  };
  const rounds = Math.max(5, Math.round(o.rounds / 10));
  progress(`Debian P2: ${rounds} rounds, each next to a conventional build`);
  const l = [];
  const c = [];
  for (let i = 0; i < rounds; i++) {
    l.push((await synth(manifest(i))).ms);
    c.push(conventional());
  }
  return { packages, debs: debs.length, lse: stats(l), conventional: stats(c) };
}

main().catch((e) => {
  process.stderr.write(`${e.stack ?? e}\n`);
  process.exit(1);
});
