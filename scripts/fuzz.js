#!/usr/bin/env node
// Fuzzes readTar and parseManifest (the parsers of untrusted input) from the seed corpora in
// libs/core/fuzz/corpus/{tar,manifest}, libs/core/fuzz/regressions/{tar,manifest} and
// examples/*.yaml, against the BUILT library
// (libs/core/dist; `npm run fuzz` builds first).
//
//   npm run fuzz -- --seconds 600                 both targets, time shared between them
//   npm run fuzz -- --seconds 60 --target tar --seed 7 --bound-ms 500
//   node scripts/fuzz.js --write-seeds            regenerate the writer-made tar seeds
//
// The supervisor (this process) forks one worker. The worker alternates between the targets in
// slices of --slice-ms, and before each execution writes the input to a "last input" file, so
// that when it hangs (no heartbeat for --hang-ms: killed) or dies (abort, OOM, signal), the
// supervisor knows which input did it. Inputs that throw anything but an allowed LseError, or
// take longer than --bound-ms, are reported by the worker itself. Every finding is saved under
// --findings (default libs/core/fuzz/findings) as <target>-<kind>-<sha256>.bin plus a .txt, and
// printed. The run ends with executions/s and totals, and exits 1 if anything was found.
'use strict';
const { fork } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const CORPUS = path.join(ROOT, 'libs/core/fuzz/corpus');
const dist = () => require(path.join(ROOT, 'libs/core/dist/fuzz'));

function parseArgs(argv) {
  const o = {
    seconds: 60,
    target: 'both',
    seed: Date.now() % 2 ** 31,
    boundMs: 5000,
    hangMs: 30_000,
    sliceMs: 250,
    findings: path.join(ROOT, 'libs/core/fuzz/findings'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (argv[i + 1] === undefined) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--target') o.target = v();
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--bound-ms') o.boundMs = Number(v());
    else if (a === '--hang-ms') o.hangMs = Number(v());
    else if (a === '--slice-ms') o.sliceMs = Number(v());
    else if (a === '--findings') o.findings = path.resolve(v());
    else if (a === '--write-seeds') o.writeSeeds = true;
    else if (a === '--worker') o.worker = v();
    else throw new Error(`unknown option ${a}; see the header of scripts/fuzz.js`);
  }
  if (!['tar', 'manifest', 'both'].includes(o.target))
    throw new Error(`--target must be tar, manifest or both, not ${o.target}`);
  for (const k of ['seconds', 'seed', 'boundMs', 'hangMs', 'sliceMs'])
    if (!Number.isFinite(o[k]) || o[k] < 0) throw new Error(`--${k} must be a non-negative number`);
  return o;
}

function loadSeeds(name) {
  const list = (dir) =>
    fs
      .readdirSync(dir)
      .filter((f) => !f.endsWith('.md'))
      .sort()
      .map((f) => path.join(dir, f));
  // the seed corpus, and the regressions (inputs that once broke a parser) as seeds as well
  const files = [...list(path.join(CORPUS, name)), ...list(path.join(CORPUS, '../regressions', name))];
  if (name === 'manifest')
    for (const f of fs.readdirSync(path.join(ROOT, 'examples')).sort())
      if (f.endsWith('.yaml')) files.push(path.join(ROOT, 'examples', f));
  return files.map((f) => fs.readFileSync(f));
}

// ---- worker -------------------------------------------------------------------------------

function worker(lastInputFile, opts) {
  const { Fuzzer, TARGETS } = dist();
  const fd = fs.openSync(lastInputFile, 'w');
  let current = '';
  const header = Buffer.alloc(8);
  const before = (input) => {
    // [target byte][pad][uint32 length] then the input, at offset 0: one write per execution
    header[0] = current === 'tar' ? 1 : 2;
    header.writeUInt32LE(input.length, 4);
    fs.writeSync(fd, header, 0, 8, 0);
    fs.writeSync(fd, input, 0, input.length, 8);
  };
  const names = opts.target === 'both' ? ['tar', 'manifest'] : [opts.target];
  const fuzzers = Object.fromEntries(
    names.map((n, i) => [
      n,
      new Fuzzer({
        target: TARGETS[n],
        seeds: loadSeeds(n),
        seed: opts.seed + i,
        timeBoundMs: opts.boundMs,
        before,
        onFinding: (f) => process.send({ type: 'finding', finding: { ...f, input: f.input.toString('base64') } }),
      }),
    ]),
  );
  const end = performance.now() + opts.seconds * 1000;
  const execs = Object.fromEntries(names.map((n) => [n, 0]));
  const time = Object.fromEntries(names.map((n) => [n, 0]));
  let turn = 0;
  while (performance.now() < end) {
    current = names[turn++ % names.length];
    const t0 = performance.now();
    let stats;
    try {
      stats = fuzzers[current].run(Infinity, Math.min(end, t0 + opts.sliceMs));
    } catch (e) {
      // execute() catches whatever a parser throws, so this came from a mutator: a bug here
      process.send({ type: 'harness', error: String(e?.stack ?? e) }, () => process.exit(3));
      return;
    }
    time[current] += performance.now() - t0;
    execs[current] = stats.executions;
    process.send({
      type: 'progress',
      execs,
      time,
      corpus: Object.fromEntries(names.map((n) => [n, fuzzers[n].stats().corpus])),
    });
  }
  process.send({ type: 'done' }, () => process.exit(0));
}

// ---- supervisor ---------------------------------------------------------------------------

function saveFinding(dir, f) {
  fs.mkdirSync(dir, { recursive: true });
  const input = Buffer.isBuffer(f.input) ? f.input : Buffer.from(f.input, 'base64');
  const id = `${f.target}-${f.kind}-${createHash('sha256').update(input).digest('hex').slice(0, 16)}`;
  fs.writeFileSync(path.join(dir, `${id}.bin`), input);
  fs.writeFileSync(path.join(dir, `${id}.txt`), `${f.what}\n\n${f.stack ?? ''}\n`);
  console.log(
    `FINDING ${id}: ${f.what.split('\n')[0].slice(0, 300)} (${input.length} bytes, saved in ${path.relative(process.cwd(), dir) || '.'})`,
  );
}

async function supervise(opts) {
  dist(); // fail early when the library is not built
  // tmpfs where there is one: the worker writes every input there
  const lastInput = path.join(
    fs.existsSync('/dev/shm') ? '/dev/shm' : require('node:os').tmpdir(),
    `lse-fuzz-${process.pid}.last`,
  );
  const totals = { tar: { execs: 0, time: 0 }, manifest: { execs: 0, time: 0 } };
  let findings = 0;
  let restarts = 0;
  let harness;
  const deadline = Date.now() + opts.seconds * 1000;
  console.log(
    `fuzz: target ${opts.target}, ${opts.seconds} s, seed ${opts.seed}, per-input bound ${opts.boundMs} ms, hang after ${opts.hangMs} ms`,
  );
  while (Date.now() < deadline - 200) {
    const seconds = (deadline - Date.now()) / 1000;
    const child = fork(__filename, ['--worker', lastInput], {
      env: { ...process.env, LSE_FUZZ_OPTS: JSON.stringify({ ...opts, seconds, seed: opts.seed + 1000 * restarts }) },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    let last = { execs: {}, time: {} };
    let beat = Date.now();
    let hung = false;
    const watchdog = setInterval(() => {
      if (Date.now() - beat > opts.hangMs) {
        hung = true;
        child.kill('SIGKILL');
      }
    }, 200);
    child.on('message', (m) => {
      beat = Date.now();
      if (m.type === 'harness') {
        harness = m.error;
        console.error(
          `fuzz: harness error (a bug in scripts/fuzz.js or libs/core/src/fuzz, not a finding):\n${m.error}`,
        );
      } else if (m.type === 'finding') {
        findings++;
        saveFinding(opts.findings, m.finding);
      } else if (m.type === 'progress') last = m;
    });
    const exit = await new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    clearInterval(watchdog);
    for (const n of Object.keys(last.execs)) {
      totals[n].execs += last.execs[n];
      totals[n].time += last.time[n];
    }
    if ((!hung && exit.code === 0) || harness) break;
    // The worker hung or died: the last input file names the culprit.
    restarts++;
    findings++;
    const buf = fs.readFileSync(lastInput);
    const target = buf[0] === 1 ? 'tar' : 'manifest';
    const input = buf.subarray(8, 8 + buf.readUInt32LE(4));
    const what = hung
      ? `no progress for ${opts.hangMs} ms (killed)`
      : `worker died: exit code ${exit.code}, signal ${exit.signal}\n${stderr}`;
    saveFinding(opts.findings, { target, kind: hung ? 'hang' : 'crash', input, what });
  }
  fs.rmSync(lastInput, { force: true });
  let all = 0;
  let allTime = 0;
  for (const [n, t] of Object.entries(totals)) {
    if (t.execs === 0) continue;
    all += t.execs;
    allTime += t.time;
    console.log(
      `fuzz ${n}: ${t.execs} executions in ${(t.time / 1000).toFixed(1)} s, ${Math.round(t.execs / (t.time / 1000))} executions/s`,
    );
  }
  console.log(
    `fuzz: ${all} executions in ${(allTime / 1000).toFixed(1)} s (${Math.round(all / (allTime / 1000 || 1))} executions/s), ${findings} findings, ${restarts} worker restarts`,
  );
  process.exitCode = harness ? 2 : findings > 0 ? 1 : 0;
}

function writeSeeds() {
  const { writeTar } = require(path.join(ROOT, 'libs/core/dist'));
  const { gzipSync } = require('node:zlib');
  const f = (p, data, extra = {}) => ({
    path: p,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 1700000000,
    size: data.length,
    data: Buffer.from(data),
    ...extra,
  });
  const d = (p) => ({ path: p, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 });
  const seeds = {
    'writer-empty.tar': writeTar([]),
    'writer-one-file.tar': writeTar([f('hello.txt', 'hello\n')]),
    'writer-tree.tar': writeTar([
      d('usr'),
      d('usr/bin'),
      f('usr/bin/hello', '#!/bin/sh\necho hi\n', { mode: 0o755 }),
      {
        path: 'usr/bin/hi',
        type: 'hardlink',
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 1700000000,
        size: 0,
        linkname: 'usr/bin/hello',
      },
      {
        path: 'usr/bin/hey',
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: 1700000000,
        size: 0,
        linkname: 'hello',
      },
    ]),
    'writer-pax.tar': writeTar([
      f(`${'deep/'.repeat(30)}long-name.txt`, 'x'.repeat(700), { uid: 3_000_000, uname: 'u'.repeat(40) }),
      {
        path: 'link',
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: -5,
        size: 0,
        linkname: `../${'t'.repeat(120)}`,
      },
    ]),
    'writer-one-file.tar.gz': gzipSync(writeTar([f('etc/motd', 'welcome\n')])),
  };
  const dir = path.join(CORPUS, 'tar');
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(seeds)) fs.writeFileSync(path.join(dir, name), data);
  console.log(`wrote ${Object.keys(seeds).length} seeds to ${path.relative(process.cwd(), dir)}`);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.worker) worker(opts.worker, JSON.parse(process.env.LSE_FUZZ_OPTS));
else if (opts.writeSeeds) writeSeeds();
else
  supervise(opts).catch((e) => {
    console.error(e);
    process.exit(2);
  });
