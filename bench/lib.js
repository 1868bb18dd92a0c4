'use strict';
/**
 * Shared helpers for the benchmarks: clocks, sample statistics, rates, a seeded PRNG, shell
 * pipelines, and table printing. Every number a benchmark prints is measured in the same run;
 * nothing here asserts on time.
 */
const os = require('node:os');
const { spawnSync } = require('node:child_process');

/** Milliseconds, high resolution. */
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Runs `fn` `warmup` times untimed, then `runs` times; returns the samples in ms. */
function sample(fn, { runs, warmup = 0 }) {
  for (let i = 0; i < warmup; i++) fn(i);
  const out = [];
  for (let i = 0; i < runs; i++) {
    const t = now();
    fn(i);
    out.push(now() - t);
  }
  return out;
}

/** Same as `sample` for async functions. */
async function sampleAsync(fn, { runs, warmup = 0 }) {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out = [];
  for (let i = 0; i < runs; i++) {
    const t = now();
    await fn(i);
    out.push(now() - t);
  }
  return out;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
function percentile(samples, p) {
  const s = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(rank, s.length) - 1];
}

function stats(samples) {
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return {
    n: samples.length,
    mean,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    min: Math.min(...samples),
    max: Math.max(...samples),
  };
}

const median = (samples) => percentile(samples, 50);

/**
 * Operations per second: calls `fn` in batches of `batch` until `seconds` have passed (after a
 * warm-up of about a tenth of that), and divides the calls made by the time taken.
 */
function rate(fn, { seconds, batch = 1 }) {
  const loop = (limitMs) => {
    let ops = 0;
    const t0 = now();
    let t = t0;
    while (t - t0 < limitMs) {
      for (let i = 0; i < batch; i++) fn();
      ops += batch;
      t = now();
    }
    return { ops, ms: t - t0 };
  };
  loop(seconds * 100);
  const { ops, ms } = loop(seconds * 1000);
  return { ops, seconds: ms / 1000, perSecond: ops / (ms / 1000) };
}

/** A small deterministic PRNG, floats in [0, 1): the synthetic catalogs' mulberry32 (needs the build). */
function prng(seed) {
  return require('@lse/core/testing').mulberry32(seed);
}

/** Runs a bash pipeline (with pipefail); throws with its stderr if it fails. Returns ms and output. */
function shell(script, opts = {}) {
  const t = now();
  const r = spawnSync('bash', ['-c', `set -o pipefail; ${script}`], { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  const ms = now() - t;
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`'${script}' exited with ${r.status}: ${(r.stderr || '').trim().slice(0, 500)}`);
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

/** True when `cmd` is on PATH. */
function have(cmd) {
  return spawnSync('bash', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0] ? cpus[0].model.trim() : 'unknown',
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()}/${os.arch()}`,
    kernel: os.release(),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

// ---- formatting ---------------------------------------------------------------------------

/** Rounds to `digits` significant digits (at least integers stay whole). */
function sig(x, digits = 3) {
  if (x === undefined || x === null || Number.isNaN(x)) return x;
  if (x === 0 || !Number.isFinite(x)) return x;
  const d = Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(x))));
  return Number(x.toFixed(Math.min(d, 6)));
}

function fmt(x, digits = 3) {
  if (x === undefined || x === null) return '-';
  if (typeof x !== 'number') return String(x);
  const v = sig(x, digits);
  return Math.abs(v) >= 1e4 ? Math.round(v).toLocaleString('en-US') : String(v);
}

const fmtMs = (ms) => (ms === undefined ? '-' : ms >= 1000 ? `${fmt(ms / 1000)} s` : `${fmt(ms)} ms`);
const fmtRatio = (x) => (x === undefined || !Number.isFinite(x) ? '-' : `${fmt(x)}x`);

/** Prints rows (arrays of cells) under a header; the first and 'note' columns left-aligned, others right. */
function table(title, header, rows, out = process.stdout) {
  const cells = [header, ...rows].map((r) => r.map((c) => (c === undefined || c === null ? '-' : String(c))));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const right = header.map((h, i) => i > 0 && !/^(note|what|meaning)/i.test(h)); // text columns stay left
  const line = (r) =>
    r
      .map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  out.write(`\n${title}\n`);
  out.write(`${line(cells[0])}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of cells.slice(1)) out.write(`${line(r)}\n`);
}

/** Progress goes to stderr so that `--json` output on stdout stays clean. */
const progress = (msg) => process.stderr.write(`  .. ${msg}\n`);

module.exports = {
  now,
  sample,
  sampleAsync,
  percentile,
  stats,
  median,
  rate,
  prng,
  shell,
  have,
  machine,
  sig,
  fmt,
  fmtMs,
  fmtRatio,
  table,
  progress,
};
