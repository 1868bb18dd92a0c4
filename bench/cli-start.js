#!/usr/bin/env node
'use strict';
/**
 * How fast the `lse` command starts: `lse --help` and `lse resolve` (an embedded store with three
 * fragments) next to `node -e 0` in the same rounds (interleaved, so load affects all alike).
 * Commands, the store and the logger are loaded only when a command runs (apps/cli/src/main.ts).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { now, stats, fmtMs, fmtRatio, table, machine } = require('./lib');

const REPO = path.resolve(__dirname, '..');
const LSE = path.join(REPO, 'apps/cli/bin/lse.js');
const rounds = Number(process.argv[2] ?? 15);
const store = fs.mkdtempSync(path.join(os.tmpdir(), 'lse-clistart-'));
const lse = (...args) => {
  const r = spawnSync('node', [LSE, '--store', store, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`lse ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
lse('keys', 'generate', '--name', 'bench', '--out', store);
lse('trust', 'add', path.join(store, 'bench.pub'));
const k = path.join(store, 'bench.key');
lse(
  'fragment',
  'pack',
  path.join(REPO, 'examples/fragments/hello-data'),
  '--name',
  'hello-data',
  '--version',
  '1.2.0',
  '--key',
  k,
);
lse(
  'fragment',
  'pack',
  path.join(REPO, 'examples/fragments/hello-app'),
  '--name',
  'hello-app',
  '--version',
  '1.0.3',
  '--depends',
  'hello-data ^1.0.0',
  '--key',
  k,
);
const manifest = path.join(store, 'm.yaml');
fs.writeFileSync(
  manifest,
  'apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: m }\nbase: scratch\nrequire: [{ name: hello-app }]\n',
);

const cases = {
  'node -e 0': ['-e', '0'],
  'lse --help': [LSE, '--help'],
  'lse resolve': [LSE, '--store', store, 'resolve', manifest],
};
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < rounds; i++) {
  for (const [name, args] of Object.entries(cases)) {
    const t = now();
    const r = spawnSync('node', args, { stdio: 'ignore' });
    samples[name].push(now() - t);
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
  }
}
const base = stats(samples['node -e 0']).p50;
table(
  `CLI start (${rounds} interleaved rounds)`,
  ['command', 'p50', 'p99', 'p50 / node -e 0'],
  Object.entries(samples).map(([name, s]) => {
    const st = stats(s);
    return [name, fmtMs(st.p50), fmtMs(st.p99), fmtRatio(st.p50 / base)];
  }),
);
process.stdout.write(`machine: ${JSON.stringify(machine())}\n`);
fs.rmSync(store, { recursive: true, force: true });
