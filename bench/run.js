#!/usr/bin/env node
'use strict';
/**
 * Runs the benchmarks against the BUILT packages (npm run build first; `npm run bench` does both)
 * and prints tables, or one JSON document with --json. Every ratio compares numbers measured in
 * this same run on this machine. See bench/README.md.
 */
const { machine, now } = require('./lib');

const USAGE = `usage: node bench/run.js [--quick] [--json] [--only resolution,assembly,signing] [--mb N] [--no-e2e] [--keep]
  --quick    smaller content, fewer runs, 1 s rate windows (about 20 s instead of about 80 s)
  --json     one JSON document on stdout (progress stays on stderr)
  --only     run only the listed benchmarks
  --mb N     content size for the assembly benchmark (default 64, quick 16)
  --no-e2e   skip the end-to-end \`lse synth\` through the CLI
  --keep     keep the assembly temp dir (its path is printed)`;

function parseArgs(argv) {
  const o = {
    quick: false,
    json: false,
    only: ['resolution', 'assembly', 'signing'],
    mb: undefined,
    e2e: true,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--quick') o.quick = true;
    else if (flag === '--json') o.json = true;
    else if (flag === '--no-e2e') o.e2e = false;
    else if (flag === '--keep') o.keep = true;
    else if (flag === '--only')
      o.only = String(value())
        .split(',')
        .map((s) => s.trim());
    else if (flag === '--mb') o.mb = Number(value());
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else {
      process.stderr.write(`unknown option '${argv[i]}'\n${USAGE}\n`);
      process.exit(2);
    }
  }
  const unknown = o.only.filter((b) => !['resolution', 'assembly', 'signing'].includes(b));
  if (unknown.length || (o.mb !== undefined && !(o.mb > 0))) {
    process.stderr.write(
      `${unknown.length ? `unknown benchmark '${unknown.join(',')}'` : '--mb needs a positive number'}\n${USAGE}\n`,
    );
    process.exit(2);
  }
  return o;
}

function loadBuilt() {
  try {
    require.resolve('@lse/core');
    require('@lse/core');
    require('@lse/adapter-fs');
  } catch (e) {
    process.stderr.write(
      `the packages are not built (${e.message.split('\n')[0]}); run 'npm run build' or 'npm run bench'\n`,
    );
    process.exit(1);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  loadBuilt();
  const benches = {
    resolution: require('./resolution'),
    assembly: require('./assembly'),
    signing: require('./signing'),
  };
  const started = now();
  const doc = { date: new Date().toISOString(), machine: machine(), options: opts, results: {} };
  if (!opts.json) {
    const m = doc.machine;
    process.stdout.write(
      `LSE benchmarks ${doc.date.slice(0, 10)}: ${m.cpus} cores (${m.cpuModel}), ${m.memoryGB} GB, node ${m.node}, ${m.platform}, load ${m.loadAverage.join(' ')}${opts.quick ? ', --quick' : ''}\n`,
    );
  }
  for (const id of opts.only) {
    const t = now();
    doc.results[id] = await benches[id].run(opts);
    doc.results[id].benchMs = now() - t;
    if (!opts.json) benches[id].print(doc.results[id]);
  }
  doc.totalMs = now() - started;
  if (opts.json) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  else process.stdout.write(`\ntotal ${(doc.totalMs / 1000).toFixed(1)} s\n`);
}

main().catch((e) => {
  process.stderr.write(`benchmark failed: ${e.stack || e.message}\n`);
  process.exit(1);
});
