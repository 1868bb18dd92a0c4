#!/usr/bin/env node
'use strict';
/**
 * Debian index benchmark (against the BUILT packages: npm run build first).
 *
 *   node bench/debian.js [PACKAGES_FILE] [--json]
 *
 * Reads a whole Packages index (default: the host's apt lists for bookworm main, decompressed with
 * apt-helper; any plain Packages file works), builds the resolver catalog over it (DebianIndexCatalog:
 * paragraphs indexed by name and Provides, fragments built lazily), then resolves 20 popular
 * packages one by one on linux/amd64 and checks every closure: each Depends/Pre-Depends satisfied
 * inside the set, no Conflicts/Breaks between members. Where apt-get is available, each closure is
 * compared with what `apt-get install -s --no-install-recommends` would install into an empty
 * system (`-o Dir::State::status=/dev/null`), printing the symmetric difference size.
 *
 * "import" here is parse + index of the metadata (in memory); storing 63k signed metadata-only
 * fragments (`lse import debian-index`) is not implemented yet (see docs/DEBIAN.md).
 */
const { spawnSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const core = require('../libs/core/dist');

const POPULAR = ['curl', 'python3', 'jq', 'git', 'openssh-client', 'nginx', 'postgresql-15', 'vim', 'perl', 'openssl',
  'ca-certificates', 'wget', 'gcc', 'make', 'nodejs', 'ruby', 'golang-go', 'apache2', 'redis-server', 'sqlite3'];

function readIndex(file) {
  if (file) return readFileSync(file, 'utf8');
  const t = spawnSync('apt-get', ['indextargets', '--format', '$(FILENAME)', 'Identifier: Packages'], { encoding: 'utf8' });
  const f = (t.stdout || '').split('\n').find((l) => /_dists_bookworm_main_binary-amd64_Packages/.test(l));
  if (!f) throw new Error('no bookworm main Packages list from apt; give a Packages file or run apt-get update');
  const r = spawnSync('/usr/lib/apt/apt-helper', ['cat-file', f], { maxBuffer: 1 << 30 });
  return r.stdout.toString('utf8');
}

function consistent(selected) {
  const byName = new Map();
  for (const g of selected) for (const n of new Set([g.descriptor.name, ...g.descriptor.provides.map((p) => p.name)])) byName.set(n, [...(byName.get(n) || []), g]);
  const hits = (a) => (byName.get(a.name) || []).filter((g) => core.atomMatches(a, g));
  const problems = [];
  for (const f of selected) {
    const d = f.descriptor;
    for (const rel of [...d.depends, ...d.preDepends]) if (!rel.some((a) => hits(a).length)) problems.push(`${d.name} needs ${core.formatRelation(rel)}`);
    for (const a of [...d.conflicts, ...d.breaks].flat()) if (hits(a).some((g) => g !== f && g.descriptor.name !== d.name)) problems.push(`${d.name} conflicts with ${a.name}`);
  }
  return problems;
}

function aptClosure(name) {
  const r = spawnSync('apt-get', ['install', '-s', '--no-install-recommends', '-o', 'Dir::State::status=/dev/null', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return new Set(r.stdout.split('\n').filter((l) => l.startsWith('Inst ')).map((l) => l.split(' ')[1].replace(/:.*$/, '')));
}

function main() {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const file = args.find((a) => !a.startsWith('--'));
  let t = process.hrtime.bigint();
  const text = readIndex(file);
  const readMs = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  const paragraphs = core.parseControlFile(text, file || 'bookworm main');
  const catalog = new core.DebianIndexCatalog(paragraphs, ['amd64', 'all']);
  const importMs = Number(process.hrtime.bigint() - t) / 1e6;
  const rows = [];
  for (const name of POPULAR) {
    const t0 = process.hrtime.bigint();
    let fragments;
    let error;
    try {
      ({ fragments } = core.resolve({ requirements: [{ name }], platform: { os: 'linux', arch: 'amd64' }, catalog }));
    } catch (e) {
      error = e.message.split('\n')[0];
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const problems = fragments ? consistent(fragments) : [];
    const apt = fragments ? aptClosure(name) : undefined;
    const ours = fragments ? new Set(fragments.map((f) => f.descriptor.name)) : undefined;
    const diff = apt && ours ? [...apt].filter((n) => !ours.has(n)).length + [...ours].filter((n) => !apt.has(n)).length : null;
    rows.push({ name, ms: Math.round(ms * 10) / 10, closure: fragments ? fragments.length : null, consistent: fragments ? problems.length === 0 : false, apt: apt ? apt.size : null, diff, error, problems: problems.slice(0, 3) });
  }
  const result = { paragraphs: paragraphs.length, readMs: Math.round(readMs), importMs: Math.round(importMs), resolutions: rows };
  if (json) return void process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`index: ${paragraphs.length} paragraphs; read ${result.readMs} ms, parse + catalog ${result.importMs} ms\n`);
  process.stdout.write('package            closure  apt  diff  ms      consistent\n');
  for (const r of rows) process.stdout.write(`${r.name.padEnd(18)} ${String(r.closure ?? '-').padStart(7)} ${String(r.apt ?? '-').padStart(4)} ${String(r.diff ?? '-').padStart(5)}  ${String(r.ms).padEnd(7)} ${r.consistent ? 'yes' : `NO ${r.error || r.problems.join('; ')}`}\n`);
  if (rows.some((r) => !r.consistent)) process.exitCode = 1;
}

main();
