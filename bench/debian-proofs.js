#!/usr/bin/env node
'use strict';
/**
 * What Debian's chain of trust costs through the gateway, against a running stack
 * (infra/local/stack.sh up; eval "$(bash infra/local/stack.sh env)"; a trusted key given with
 * --key). Every number is measured in this run; the ratio compares numbers of this run.
 *
 *  The same real Packages list (default: the host's bookworm-security main amd64) imported with
 *  `lse import debian-index --server` twice, interleaved: signed (`--release` InRelease: proof
 *  blobs uploaded or skipped by HEAD, the release registered, every batch chain-checked by the
 *  gateway) and `--allow-unsigned` (the baseline: signature and key-scope checks only), the order
 *  alternating per round. Each run uses an archive URL of its own, so each stores every fragment
 *  anew (and the store grows: later runs are slower on FerretDB, hence the alternation). Those
 *  fragments name an archive URL nobody serves: run this on a stack you throw away afterwards. See bench/README.md,
 *  "Debian proofs".
 */
const { execFileSync } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { now, table, fmtRatio } = require('./lib');

const LISTS = '/var/lib/apt/lists';
const USAGE = `usage: node bench/debian-proofs.js --key KEY [--packages FILE --release INRELEASE] [--rounds N]
  --key       secret key trusted by the gateway (lse keys generate; lse trust add --server)
  --packages  Packages list (default ${LISTS}/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4)
  --release   the InRelease that lists it (default the bookworm-security InRelease beside it)
  --rounds    signed/unsigned pairs (default 1)`;

const o = {
  packages: `${LISTS}/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4`,
  release: `${LISTS}/deb.debian.org_debian-security_dists_bookworm-security_InRelease`,
  rounds: 1,
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--key') o.key = process.argv[++i];
  else if (a === '--packages') o.packages = process.argv[++i];
  else if (a === '--release') o.release = process.argv[++i];
  else if (a === '--rounds') o.rounds = Number(process.argv[++i]);
  else {
    process.stderr.write(`${USAGE}\n`);
    process.exit(a === '--help' || a === '-h' ? 0 : 2);
  }
}
if (!process.env.LSE_SERVER || !process.env.LSE_TOKEN || !o.key) {
  process.stderr.write(`needs LSE_SERVER, LSE_TOKEN and --key\n${USAGE}\n`);
  process.exit(2);
}

const LSE = resolve(__dirname, '../apps/cli/bin/lse.js');
const store = mkdtempSync(join(tmpdir(), 'lse-bench-proofs-'));
const run = Date.now().toString(36);
let n = 0;

function importOnce(signed) {
  const mirror = `http://127.0.0.1:9/bench-${run}-${n++}/debian`;
  const args = [LSE, '--store', store, '--json', 'import', 'debian-index', o.packages, '--mirror', mirror];
  args.push(...(signed ? ['--release', o.release] : ['--allow-unsigned']), '--key', resolve(o.key));
  const t = now();
  const out = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 }));
  return { ms: now() - t, packages: out.packages, created: out.created };
}

const rows = [];
const sums = { signed: 0, unsigned: 0 };
try {
  for (let r = 0; r < o.rounds; r++) {
    // the order alternates: each import stores more fragments, which makes FerretDB's lookups slower
    for (const signed of r % 2 ? [false, true] : [true, false]) {
      const x = importOnce(signed);
      sums[signed ? 'signed' : 'unsigned'] += x.ms;
      rows.push([r + 1, signed ? '--release' : '--allow-unsigned', x.packages, x.created, (x.ms / 1000).toFixed(1)]);
      process.stderr.write(`  round ${r + 1} ${signed ? 'signed' : 'unsigned'}: ${(x.ms / 1000).toFixed(1)} s\n`);
    }
  }
} finally {
  rmSync(store, { recursive: true, force: true });
}
table(
  'lse import debian-index --server (each run stores every package anew)',
  ['round', 'mode', 'packages', 'created', 's'],
  rows,
);
process.stdout.write(`signed / unsigned: ${fmtRatio(sums.signed / sums.unsigned)}\n`);
