#!/usr/bin/env node
'use strict';
/**
 * Benchmarks of the distributed system against a running stack (infra/local/stack.sh up; the
 * services run from the BUILT packages). Every number is measured in this run; every ratio
 * compares two numbers from this run. See bench/README.md, section "Distributed".
 *
 *  1. Latency of one synthesis at a time through the gateway (POST /v1/syntheses with
 *     `Prefer: wait=60`, timed by this client) for a repeated manifest (result cache by key), a
 *     new combination of fragments already in S3 (new inline file each time) and fragments not
 *     yet in S3 (a fresh set published before each synthesis, outside the timing).
 *  2. Syntheses per second for a burst of new combinations posted at once (no wait; done when
 *     every `lse.events.synthesis.completed.<id>` has arrived), with two assemblers, then with
 *     assembler-2 stopped (SIGTERM), then with two again after `stack.sh up`.
 *  3. Raw NATS on the same server: JetStream publish with awaited PubAck (one at a time and 64 in
 *     flight) to a scratch stream, pull-consumer rates (batched with ack; one at a time with
 *     ackAck, as the services pull), and core NATS publish/subscribe.
 *  4. Where the time goes: the `"ms"` each stage logs per message, for this run's syntheses.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { now, stats, machine, prng, fmt, fmtMs, fmtRatio, table, progress } = require('./lib');

const USAGE = `usage: node bench/distributed.js [--quick] [--json] [--no-scale]
  needs the stack's client env: eval "$(bash infra/local/stack.sh env)", and the same LSE_* variables
  (LSE_STATE_DIR, ports) that started the stack, since it stops and restarts assembler-2
  --quick     fewer syntheses, 1 s NATS windows (about 1 minute instead of about 3)
  --json      one JSON document on stdout (progress stays on stderr)
  --no-scale  skip stopping assembler-2 (only the two-assembler burst runs)`;

function parseArgs(argv) {
  const o = { quick: false, json: false, scale: true };
  for (const a of argv) {
    if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = true;
    else if (a === '--no-scale') o.scale = false;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      process.stderr.write(`unknown option '${a}'\n${USAGE}\n`);
      process.exit(2);
    }
  }
  return o;
}

const env = process.env;
const REPO = path.resolve(__dirname, '..');
const STATE = env.LSE_STATE_DIR || path.join(os.homedir(), '.local/state/lse-local');
const RUN = Date.now().toString(36);
const P = `bench${RUN}-`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function loadBuilt() {
  try {
    return {
      core: require('@lse/core'),
      engine: require('@lse/engine'),
      nats: require('@nats-io/transport-node'),
      js: require('@nats-io/jetstream'),
    };
  } catch (e) {
    process.stderr.write(`the packages are not built (${e.message.split('\n')[0]}); run 'npm run build'\n`);
    process.exit(1);
  }
}

// ---- the gateway ---------------------------------------------------------------------------

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

/** About 64 KiB per fragment: 48 KiB of code-like text (gzip ~4:1) and 16 KiB of random bytes. */
function content(seed) {
  const rand = prng(seed);
  const words = [
    'return',
    'const',
    'if',
    'for',
    'buffer',
    'length',
    'index',
    'value',
    '=',
    '{',
    '}',
    '(',
    ')',
    ';',
    '0',
    '1',
  ];
  let s = '';
  while (s.length < 48 * 1024)
    s += `${Array.from({ length: 8 }, () => words[Math.floor(rand() * words.length)]).join(' ')}\n`;
  return Buffer.concat([Buffer.from(s.slice(0, 48 * 1024)), randomBytes(16 * 1024)]);
}

/** A chain app -> lib -> data plus a tool: four fragments, four layers above the base. */
async function publishSet(core, engine, key, suffix, seed) {
  const put = async (name, entries, depends = []) => {
    const { fragment, blob } = engine.buildFragment({
      entries,
      name,
      version: '1.0.0',
      scheme: 'semver',
      depends,
      key,
      epoch: 0,
      source: { type: 'bench' },
    });
    await expectStatus(
      `publish ${name}`,
      api('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') }),
      201,
    );
  };
  const n = (s) => `${P}${s}${suffix}`;
  await put(n('data'), [file('usr/share/bench/data.bin', content(seed))]);
  await put(n('lib'), [file('usr/lib/bench/libbench.so', content(seed + 1))], [`${n('data')} ^1.0.0`]);
  await put(n('app'), [file('usr/local/bin/app', content(seed + 2), 0o755)], [`${n('lib')} ^1.0.0`]);
  await put(n('tool'), [file('usr/bin/tool', content(seed + 3), 0o755)]);
  return [n('app'), n('tool')];
}

const manifest = (name, require, motd) => ({
  apiVersion: 'lse.dev/v1',
  kind: 'DependencyManifest',
  metadata: { name },
  base: `${P}base:latest`,
  require: require.map((r) => ({ name: r })),
  env: { APP: name },
  entrypoint: ['/usr/local/bin/app'],
  files: [{ path: '/etc/motd', content: motd, mode: '0644' }],
});

/** One synthesis, waited for by the gateway; returns its id and the client-side ms. */
async function synthWait(m) {
  const t = now();
  const body = await expectStatus(
    `synthesis ${m.metadata.name}`,
    api('POST', '/v1/syntheses', { manifest: m }, { prefer: 'wait=60' }),
    200,
    422,
  );
  const ms = now() - t;
  if (body.status !== 'completed')
    throw new Error(`synthesis ${body.id} ended '${body.status}': ${JSON.stringify(body.error ?? body).slice(0, 400)}`);
  return { id: body.id, ms };
}

// ---- throughput ----------------------------------------------------------------------------

/** Posts `count` syntheses at once and waits for every completed event; rate from first POST to last event. */
async function burst(events, count, label) {
  const cpu0 = cpuSnapshot();
  const t0 = now();
  const started = new Map();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const t = now();
      const body = await expectStatus(
        'burst POST',
        api('POST', '/v1/syntheses', { manifest: manifest(`burst-${i}`, events.set, `${label} ${RUN} ${i}\n`) }),
        202,
        200,
      );
      started.set(body.id, t);
    }),
  );
  const postMs = now() - t0;
  const ids = [...started.keys()];
  const deadline = now() + 180_000;
  while (!ids.every((id) => events.done.has(id)) && now() < deadline) await sleep(20);
  const failed = ids.filter((id) => events.done.get(id)?.failed);
  const missing = ids.filter((id) => !events.done.has(id));
  if (failed.length || missing.length)
    throw new Error(
      `burst '${label}': ${failed.length} failed, ${missing.length} not finished after 180 s (e.g. ${failed[0] ?? missing[0]})`,
    );
  const last = Math.max(...ids.map((id) => events.done.get(id).at));
  const seconds = (last - t0) / 1000;
  const cpu = cpuPerSynthesis(cpu0, cpuSnapshot(), count);
  return {
    count,
    seconds,
    perSecond: count / seconds,
    postMs,
    latency: stats(ids.map((id) => events.done.get(id).at - started.get(id))),
    cpu,
    ids,
  };
}

/** The running assembler-2 of THIS stack (its pid file, its main.js, its NATS_URL), or undefined. */
function assembler2() {
  const pidFile = path.join(STATE, 'run', 'svc-assembler-2.pid');
  if (!fs.existsSync(pidFile)) return undefined;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const natsUrl = fs
      .readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .find((l) => l.startsWith('NATS_URL='));
    if (!cmd.includes('apps/assembler/dist/main.js')) return undefined;
    if (natsUrl !== `NATS_URL=${env.NATS_URL}`)
      throw new Error(
        `${pidFile} names pid ${pid}, an assembler on ${natsUrl}, not on ${env.NATS_URL}: set LSE_STATE_DIR to the stack's state dir`,
      );
    return pid;
  } catch (e) {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  }
}

async function stopAssembler2() {
  const pid = assembler2();
  if (!pid)
    throw new Error(`no assembler-2 running under ${STATE}; start the stack with two assemblers or pass --no-scale`);
  process.kill(pid, 'SIGTERM');
  const deadline = now() + 30_000;
  while (fs.existsSync(`/proc/${pid}`) && now() < deadline) await sleep(100);
  if (fs.existsSync(`/proc/${pid}`)) throw new Error(`assembler-2 (pid ${pid}) still running 30 s after SIGTERM`);
  return pid;
}

function stackUp() {
  const r = spawnSync('bash', [path.join(REPO, 'infra/local/stack.sh'), 'up'], { cwd: REPO, env, encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`stack.sh up failed: ${(r.stderr || '').trim().split('\n').slice(-5).join('\n')}`);
}

// ---- raw NATS ------------------------------------------------------------------------------

/** Calls async `fn` for `seconds` (after a tenth of that untimed); returns ops and the rate. */
async function rateAsync(fn, seconds) {
  const loop = async (limitMs) => {
    let ops = 0;
    const t0 = now();
    while (now() - t0 < limitMs) ops += await fn();
    return { ops, seconds: (now() - t0) / 1000 };
  };
  await loop(seconds * 100);
  const r = await loop(seconds * 1000);
  return { ...r, perSecond: r.ops / r.seconds };
}

async function natsRates(lib, seconds, coreCount) {
  const { connect } = lib.nats;
  const { jetstream, jetstreamManager, AckPolicy, StorageType } = lib.js;
  const nc = await connect({ servers: env.NATS_URL.split(','), name: 'lse-bench' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const stream = `BENCH_${RUN.toUpperCase()}`;
  const subject = `bench.${RUN}.js`;
  const payload = new TextEncoder().encode(
    JSON.stringify({ v: 1, synthesisId: 'syn-AbCdEfGhIjKl', stage: 'bench', detail: '4 fragments verified' }),
  );
  const out = { payloadBytes: payload.length };
  await jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File });
  try {
    progress(`JetStream publish, one at a time (${seconds} s)`);
    out.jsPublish = await rateAsync(async () => {
      await js.publish(subject, payload);
      return 1;
    }, seconds);
    progress(`JetStream publish, 64 in flight (${seconds} s)`);
    out.jsPublish64 = await rateAsync(async () => {
      await Promise.all(Array.from({ length: 64 }, () => js.publish(subject, payload)));
      return 64;
    }, seconds);
    out.stored = (await jsm.streams.info(stream)).state.messages;

    progress(`JetStream pull consumer, batched, ack each (${seconds} s)`);
    await jsm.consumers.add(stream, { durable_name: 'batched', ack_policy: AckPolicy.Explicit });
    const batched = await js.consumers.get(stream, 'batched');
    const iter = await batched.consume({ max_messages: 1000 });
    let got = 0;
    const t0 = now();
    for await (const m of iter) {
      m.ack();
      if (++got >= out.stored || (got % 256 === 0 && now() - t0 > seconds * 1000)) break;
    }
    const ms = now() - t0;
    await iter.close();
    out.jsConsume = { ops: got, seconds: ms / 1000, perSecond: got / (ms / 1000) };

    progress(`JetStream pull consumer, one at a time with ackAck, as the services pull (${seconds} s)`);
    await jsm.consumers.add(stream, { durable_name: 'single', ack_policy: AckPolicy.Explicit });
    const single = await js.consumers.get(stream, 'single');
    out.jsConsumeOne = await rateAsync(async () => {
      const batch = await single.fetch({ max_messages: 1, expires: 5000 });
      let n = 0;
      for await (const m of batch) {
        await m.ackAck();
        n++;
      }
      return n;
    }, seconds);
  } finally {
    await jsm.streams.delete(stream).catch(() => undefined);
  }

  progress(`core NATS publish/subscribe, ${coreCount} messages`);
  const sub = await connect({ servers: env.NATS_URL.split(','), name: 'lse-bench-sub' });
  const coreSubject = `bench.${RUN}.core`;
  let received = 0;
  let done;
  const all = new Promise((r) => {
    done = r;
  });
  sub.subscribe(coreSubject, {
    callback: () => {
      if (++received === coreCount) done();
    },
  });
  await sub.flush();
  const t0 = now();
  for (let i = 0; i < coreCount; i++) nc.publish(coreSubject, payload);
  await nc.flush();
  const pubMs = now() - t0;
  let timer;
  await Promise.race([
    all,
    new Promise((r) => {
      timer = setTimeout(r, 30_000);
    }),
  ]);
  clearTimeout(timer);
  const ms = now() - t0;
  out.corePublish = { ops: coreCount, seconds: pubMs / 1000, perSecond: coreCount / (pubMs / 1000) };
  out.corePubSub = { ops: received, lost: coreCount - received, seconds: ms / 1000, perSecond: received / (ms / 1000) };
  await sub.close();
  await nc.close();
  return out;
}

// ---- where the time goes: the services' logs ------------------------------------------------

/** Per phase and handler: the `ms` the stage logged for this run's syntheses (undefined if no logs). */
function stageTimes(phases) {
  const dir = path.join(STATE, 'logs');
  if (!fs.existsSync(dir)) return undefined;
  const phaseOf = new Map();
  for (const [phase, ids] of Object.entries(phases)) for (const id of ids) phaseOf.set(id, phase);
  const ms = {};
  for (const f of fs.readdirSync(dir).filter((x) => /^svc-.*\.log$/.test(x))) {
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (!line.includes('"ms"') || !line.includes('"synthesisId"')) continue;
      let o;
      try {
        o = JSON.parse(line);
      } catch {
        continue;
      }
      const phase = phaseOf.get(o.synthesisId);
      if (!phase || typeof o.ms !== 'number' || !o.handler) continue;
      ((ms[phase] ??= {})[o.handler] ??= []).push(o.ms);
    }
  }
  const out = {};
  for (const [phase, byHandler] of Object.entries(ms)) {
    out[phase] = {};
    for (const h of ['resolver', 'fetcher', 'verifier', 'assembler', 'recorder'])
      if (byHandler[h]) out[phase][h] = stats(byHandler[h]);
  }
  return out;
}

// ---- where the CPU goes: /proc of this stack's processes ------------------------------------

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** CPU ms so far per process group of this stack (replicas summed), this client, and the machine. */
function cpuSnapshot() {
  const ms = {};
  const runDir = path.join(STATE, 'run');
  for (const f of fs.existsSync(runDir) ? fs.readdirSync(runDir).filter((x) => x.endsWith('.pid')) : []) {
    const group = f
      .replace(/\.pid$/, '')
      .replace(/^svc-/, '')
      .replace(/-\d+$/, '');
    try {
      const pid = fs.readFileSync(path.join(runDir, f), 'utf8').trim();
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ms[group] = (ms[group] ?? 0) + ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime + stime
    } catch {
      // not running
    }
  }
  const u = process.cpuUsage();
  ms.client = (u.user + u.system) / 1000;
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  ms.machine = ((cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]) * 1000) / CLK_TCK; // user nice system irq softirq
  return { at: now(), ms };
}

/** Sums CPU deltas over several start/stop intervals. */
function cpuMeter() {
  const sum = { at: 0, ms: {} };
  let open;
  return {
    start() {
      open = cpuSnapshot();
    },
    stop() {
      const end = cpuSnapshot();
      sum.at += end.at - open.at;
      for (const [g, v] of Object.entries(end.ms))
        if (open.ms[g] !== undefined) sum.ms[g] = (sum.ms[g] ?? 0) + v - open.ms[g];
    },
    perSynthesis(count) {
      return cpuPerSynthesis({ at: 0, ms: Object.fromEntries(Object.keys(sum.ms).map((g) => [g, 0])) }, sum, count);
    },
  };
}

/** CPU ms per synthesis by group between two snapshots; 'other' is the machine minus this stack. */
function cpuPerSynthesis(before, after, count) {
  const out = {};
  let ours = 0;
  for (const [g, v] of Object.entries(after.ms)) {
    if (g === 'machine' || before.ms[g] === undefined) continue;
    out[g] = (v - before.ms[g]) / count;
    ours += v - before.ms[g];
  }
  const machineMs = after.ms.machine - before.ms.machine;
  out.other = Math.max(0, machineMs - ours) / count;
  const wallMs = after.at - before.at;
  return {
    perSynthesis: out,
    wallMsPerSynthesis: wallMs / count,
    machineBusy: machineMs / (wallMs * os.cpus().length),
  };
}

/** Documents in the collections every synthesis reads and writes (FerretDB scans them; see README). */
async function recordCounts() {
  const { MongoClient } = require('mongodb');
  const client = new MongoClient(env.MONGO_URL, { serverSelectionTimeoutMS: 5000 });
  try {
    const db = client.db(env.MONGO_DB || 'lse');
    const counts = {
      syntheses: await db.collection('syntheses').countDocuments(),
      outcomes: await db.collection('synthesis_outcomes').countDocuments(),
      fragments: await db.collection('fragments').countDocuments(),
    };
    // The lookup every stage makes (`findOne({ id })`), for an id that is not there: a full scan on FerretDB/SQLite.
    const probe = [];
    for (let i = 0; i < 5; i++) {
      const t = now();
      await db.collection('syntheses').findOne({ id: `syn-absent${i}` });
      probe.push(now() - t);
    }
    return { ...counts, findOneByIdMs: stats(probe).p50 };
  } catch (e) {
    progress(`cannot count records at ${env.MONGO_URL}: ${e.message}`);
    return undefined;
  } finally {
    await client.close();
  }
}

// ---- main ----------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const v of ['LSE_SERVER', 'LSE_TOKEN', 'NATS_URL']) {
    if (!env[v])
      throw new Error(
        `${v} is not set: start the stack and run eval "$(bash infra/local/stack.sh env)" (with the same LSE_* variables)`,
      );
  }
  const lib = loadBuilt();
  const n = opts.quick
    ? { cached: 10, combo: 10, fresh: 5, cachedEnd: 5, burst: 16, natsSeconds: 1, core: 50_000 }
    : { cached: 30, combo: 30, fresh: 15, cachedEnd: 10, burst: 30, natsSeconds: 2, core: 200_000 };
  const doc = {
    date: new Date().toISOString(),
    machine: machine(),
    options: { ...opts, ...n },
    stack: { server: env.LSE_SERVER, nats: env.NATS_URL, stateDir: STATE },
  };
  const started = now();
  doc.recordsBefore = await recordCounts();

  progress('setup: key, base, four fragments; one warm-up synthesis');
  const { core, engine } = lib;
  const key = core.generateKeyPair(`${P}key`).secretKey;
  await expectStatus(
    'trust key',
    api('POST', '/v1/keys', { publicKey: core.formatKey(core.publicKeyOf(key)), scopes: [`${P}*`] }),
    201,
  );
  const rootfs = core.writeTar([
    { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    file('etc/os-release', Buffer.from('ID=bench\n')),
  ]);
  await expectStatus(
    'base',
    api('POST', '/v1/bases', { name: `${P}base`, tag: 'latest', rootfsTar: rootfs.toString('base64') }),
    201,
  );
  const set = await publishSet(core, engine, key, '', 1);
  const phases = { warmup: [(await synthWait(manifest('bench', set, 'hello\n'))).id] };
  const readyz = [];
  for (let i = 0; i < 20; i++) {
    const t = now();
    await api('GET', '/readyz');
    readyz.push(now() - t);
  }

  const latency = {};
  progress(`latency (a): the same manifest ${n.cached} times (result cache)`);
  const cpu = { cached: cpuMeter(), combo: cpuMeter(), fresh: cpuMeter(), cachedEnd: cpuMeter() };
  const a = [];
  cpu.cached.start();
  for (let i = 0; i < n.cached; i++) a.push(await synthWait(manifest('bench', set, 'hello\n')));
  cpu.cached.stop();
  progress(`latency (b): ${n.combo} new combinations of cached fragments (new inline file each)`);
  const b = [];
  cpu.combo.start();
  for (let i = 0; i < n.combo; i++) b.push(await synthWait(manifest('bench', set, `combo ${RUN} ${i}\n`)));
  cpu.combo.stop();
  progress(`latency (c): ${n.fresh} syntheses of four fragments each not yet in S3`);
  const c = [];
  let publishMs = 0;
  for (let i = 0; i < n.fresh; i++) {
    const t = now();
    const fresh = await publishSet(core, engine, key, `-f${i}`, 1000 + i * 10);
    publishMs += now() - t;
    cpu.fresh.start();
    c.push(await synthWait(manifest('bench', fresh, `fresh ${RUN} ${i}\n`)));
    cpu.fresh.stop();
  }
  Object.assign(phases, { cached: a.map((x) => x.id), combo: b.map((x) => x.id), fresh: c.map((x) => x.id) });
  latency.cached = stats(a.map((x) => x.ms));
  latency.combo = stats(b.map((x) => x.ms));
  latency.fresh = stats(c.map((x) => x.ms));
  latency.readyz = stats(readyz);
  latency.publishSetMs = publishMs / n.fresh;
  doc.cpu = {
    cached: cpu.cached.perSynthesis(n.cached),
    combo: cpu.combo.perSynthesis(n.combo),
    fresh: cpu.fresh.perSynthesis(n.fresh),
  };
  doc.latency = latency;

  // Completed/failed events of every synthesis, heard on a core subscription (the gateway's
  // recorder publishes them to LSE_EVENTS; core subscribers see stream messages too).
  const nc = await lib.nats.connect({ servers: env.NATS_URL.split(','), name: 'lse-bench-events' });
  const events = { set, done: new Map() };
  nc.subscribe('lse.events.synthesis.>', {
    callback: (_err, m) => {
      const [, , , kind, id] = m.subject.split('.');
      if (kind === 'completed' || kind === 'failed') events.done.set(id, { at: now(), failed: kind === 'failed' });
    },
  });
  await nc.flush();
  const tp = {};
  try {
    progress(`throughput: burst of ${n.burst} with two assemblers`);
    tp.two = await burst(events, n.burst, 'two');
    if (opts.scale) {
      let stopped = false;
      try {
        const pid = await stopAssembler2();
        stopped = true;
        progress(`throughput: burst of ${n.burst} with one assembler (assembler-2, pid ${pid}, stopped)`);
        tp.one = await burst(events, n.burst, 'one');
      } finally {
        if (stopped) {
          progress('restarting assembler-2 (stack.sh up)');
          stackUp();
        }
      }
      progress(`throughput: burst of ${n.burst} with two assemblers again`);
      tp.twoAgain = await burst(events, n.burst, 'two-again');
    }
  } finally {
    await nc.close();
  }
  for (const k of Object.keys(tp)) {
    phases[`burst-${k}`] = tp[k].ids;
    doc.cpu[`burst-${k}`] = tp[k].cpu;
  }
  doc.throughput = Object.fromEntries(
    Object.entries(tp).map(([k, v]) => [k, { ...v, ids: undefined, cpu: undefined }]),
  );

  progress(`latency (a) again: the same manifest ${n.cachedEnd} times, after this run's other syntheses`);
  const a2 = [];
  cpu.cachedEnd.start();
  for (let i = 0; i < n.cachedEnd; i++) a2.push(await synthWait(manifest('bench', set, 'hello\n')));
  cpu.cachedEnd.stop();
  doc.cpu.cachedEnd = cpu.cachedEnd.perSynthesis(n.cachedEnd);
  phases.cachedEnd = a2.map((x) => x.id);
  latency.cachedEnd = stats(a2.map((x) => x.ms));
  doc.recordsAfter = await recordCounts();

  doc.nats = await natsRates(lib, n.natsSeconds, n.core);
  const twoRate = tp.twoAgain ? (tp.two.perSecond + tp.twoAgain.perSecond) / 2 : tp.two.perSecond;
  doc.ratios = {
    twoVsOneAssembler: tp.one ? twoRate / tp.one.perSecond : undefined,
    jsPublishPerSynthesis: doc.nats.jsPublish.perSecond / twoRate,
    jsConsumeOnePerSynthesis: doc.nats.jsConsumeOne.perSecond / twoRate,
    corePubSubPerSynthesis: doc.nats.corePubSub.perSecond / twoRate,
    // 10 awaited publishes (5 work messages, 4 progress events, 1 completed) and 5 pulls per synthesis
    busFloorMs: 10 * (1000 / doc.nats.jsPublish.perSecond) + 5 * (1000 / doc.nats.jsConsumeOne.perSecond),
  };
  doc.stages = stageTimes(phases);
  doc.totalMs = now() - started;
  if (opts.json) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  else print(doc);
}

function print(doc) {
  const m = doc.machine;
  const out = process.stdout;
  out.write(
    `LSE distributed benchmark ${doc.date.slice(0, 16).replace('T', ' ')} UTC: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGB} GB, node ${m.node}, load ${m.loadAverage.join(' ')}${doc.options.quick ? ', --quick' : ''}\n`,
  );
  out.write(`stack: ${doc.stack.server}, ${doc.stack.nats}\n`);
  const rc = (r) =>
    r
      ? `${r.syntheses} syntheses, ${r.outcomes} outcomes, ${r.fragments} fragments (findOne({ id }) on syntheses: ${fmtMs(r.findOneByIdMs)})`
      : 'unknown';
  out.write(`database at the start: ${rc(doc.recordsBefore)}\n      before (a) again: ${rc(doc.recordsAfter)}\n`);
  const l = doc.latency;
  const row = (what, s, note) => [what, s.n, fmtMs(s.p50), fmtMs(s.p99), fmtMs(s.mean), note];
  table(
    '1. Synthesis latency, one at a time (POST /v1/syntheses, Prefer: wait=60, client side)',
    ['case', 'n', 'p50', 'p99', 'mean', 'vs (a) p50'],
    [
      row('(a) repeated manifest (cached by key)', l.cached, '1x'),
      row('(b) new combination, fragments in S3', l.combo, fmtRatio(l.combo.p50 / l.cached.p50)),
      row('(c) four fragments not yet in S3', l.fresh, fmtRatio(l.fresh.p50 / l.cached.p50)),
      row('(a) again, at the end of the run', l.cachedEnd, fmtRatio(l.cachedEnd.p50 / l.cached.p50)),
      row('GET /readyz (HTTP floor)', l.readyz, fmtRatio(l.readyz.p50 / l.cached.p50)),
    ],
  );
  out.write(
    `    (c) also published its four fragments first, untimed above: ${fmtMs(l.publishSetMs)} per set over REST\n`,
  );

  const t = doc.throughput;
  const trow = (what, r) => [
    what,
    r.count,
    fmt(r.seconds),
    fmt(r.perSecond),
    fmtMs(r.latency.p50),
    fmtMs(r.latency.max),
    fmtMs(r.postMs),
  ];
  table(
    '2. Throughput: a burst of new combinations posted at once, until every completed event',
    ['assemblers', 'n', 'seconds', 'syntheses/s', 'latency p50', 'max', 'all POSTs'],
    [
      trow('two', t.two),
      ...(t.one ? [trow('one (assembler-2 stopped)', t.one)] : []),
      ...(t.twoAgain ? [trow('two again (restarted)', t.twoAgain)] : []),
    ],
  );
  if (doc.ratios.twoVsOneAssembler)
    out.write(
      `    two / one assembler: ${fmtRatio(doc.ratios.twoVsOneAssembler)} (two = mean of both two-assembler bursts)\n`,
    );

  const nn = doc.nats;
  const r = doc.ratios;
  table(
    `3. Raw NATS on the same server (${nn.payloadBytes}-byte JSON payload)`,
    ['operation', 'messages/s', '÷ syntheses/s (two)', 'note'],
    [
      [
        'JetStream publish, awaited PubAck',
        fmt(nn.jsPublish.perSecond),
        fmtRatio(r.jsPublishPerSynthesis),
        'one at a time, as the services publish',
      ],
      [
        'JetStream publish, 64 in flight',
        fmt(nn.jsPublish64.perSecond),
        '',
        `${fmt(nn.jsPublish64.perSecond / nn.jsPublish.perSecond)}x one at a time`,
      ],
      [
        'JetStream pull, batched, ack each',
        fmt(nn.jsConsume.perSecond),
        '',
        `${nn.jsConsume.ops} messages of ${nn.stored} stored`,
      ],
      [
        'JetStream pull one + ackAck',
        fmt(nn.jsConsumeOne.perSecond),
        fmtRatio(r.jsConsumeOnePerSynthesis),
        'as each service worker pulls',
      ],
      ['core publish (until flush)', fmt(nn.corePublish.perSecond), '', ''],
      [
        'core publish -> subscriber',
        fmt(nn.corePubSub.perSecond),
        fmtRatio(r.corePubSubPerSynthesis),
        nn.corePubSub.lost ? `${nn.corePubSub.lost} lost` : 'none lost',
      ],
    ],
  );
  out.write(
    `    bus floor per synthesis (10 awaited publishes + 5 single pulls, serial): ${fmtMs(r.busFloorMs)} = ${fmt((100 * r.busFloorMs) / doc.latency.combo.p50)}% of (b) p50\n`,
  );

  if (doc.stages) {
    const phases = ['cached', 'combo', 'fresh', 'burst-two', 'burst-one', 'burst-twoAgain', 'cachedEnd'].filter(
      (p) => doc.stages[p],
    );
    const handlers = ['resolver', 'fetcher', 'verifier', 'assembler', 'recorder'];
    const client = {
      cached: l.cached.mean,
      combo: l.combo.mean,
      fresh: l.fresh.mean,
      'burst-two': t.two.latency.mean,
      'burst-one': t.one?.latency.mean,
      'burst-twoAgain': t.twoAgain?.latency.mean,
      cachedEnd: l.cachedEnd.mean,
    };
    table(
      '4. Where the time goes: mean ms each stage logged per message (service logs), and the client-side mean',
      ['phase', ...handlers, 'sum', 'client mean', 'rest'],
      phases.map((p) => {
        const s = doc.stages[p];
        const sum = handlers.reduce((acc, h) => acc + (s[h]?.mean ?? 0), 0);
        return [
          p,
          ...handlers.map((h) => (s[h] ? fmt(s[h].mean) : '-')),
          fmt(sum),
          fmt(client[p]),
          fmt(client[p] - sum),
        ];
      }),
    );
    out.write('    rest = client mean - sum: HTTP, the gateway, queueing, NATS hops between stages\n');
  }

  const cp = Object.keys(doc.cpu);
  const groups = [
    'resolver',
    'fetcher',
    'verifier',
    'assembler',
    'gateway',
    'nats',
    'ferretdb',
    'minio',
    'client',
    'other',
  ];
  table(
    '5. Where the CPU goes: CPU ms per synthesis by process (replicas summed; /proc, utime + stime)',
    ['process', ...cp],
    [
      ...groups.map((g) => [
        g === 'other' ? 'other processes on the machine' : g === 'client' ? 'this benchmark' : g,
        ...cp.map((p) => fmt(doc.cpu[p].perSynthesis[g])),
      ]),
      ['wall ms per synthesis', ...cp.map((p) => fmt(doc.cpu[p].wallMsPerSynthesis))],
      ['machine busy (% of all cores)', ...cp.map((p) => `${fmt(100 * doc.cpu[p].machineBusy)}%`)],
    ],
  );
  out.write(`\ntotal ${(doc.totalMs / 1000).toFixed(1)} s\n`);
}

main().catch((e) => {
  process.stderr.write(`benchmark failed: ${e.stack || e.message}\n`);
  process.exit(1);
});
