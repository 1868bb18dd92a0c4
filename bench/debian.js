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
 * Then the same through a fragment store (skip with --no-store): `lse import debian-index` of the
 * whole index into a fresh embedded store (a process of the built CLI, timed), the same command
 * again (a no-op: nothing new), and the 20 resolutions again as the resolver stage does them,
 * loading the catalog from the store (`loadCatalog` over FsFragmentRepository.candidates) — each
 * closure checked for consistency and compared with the in-memory one. Ratios are store vs
 * in-memory catalog, same process, same packages.
 *
 * An apt list is imported with the InRelease apt keeps beside it (`--release`: signature, Packages
 * SHA256 and the per-paragraph proof checked and stored); any other file with --allow-unsigned.
 * With --compare-unsigned the same index is also imported unsigned into a second fresh store and
 * the signed/unsigned ratio of wall time and of the CLI process's CPU time is printed.
 */
const { spawnSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const core = require('../libs/core/dist');

const POPULAR = [
  'curl',
  'python3',
  'jq',
  'git',
  'openssh-client',
  'nginx',
  'postgresql-15',
  'vim',
  'perl',
  'openssl',
  'ca-certificates',
  'wget',
  'gcc',
  'make',
  'nodejs',
  'ruby',
  'golang-go',
  'apache2',
  'redis-server',
  'sqlite3',
];

function readIndex(file) {
  if (file) return readFileSync(file, 'utf8');
  const t = spawnSync('apt-get', ['indextargets', '--format', '$(FILENAME)', 'Identifier: Packages'], {
    encoding: 'utf8',
  });
  const f = (t.stdout || '').split('\n').find((l) => /_dists_bookworm_main_binary-amd64_Packages/.test(l));
  if (!f) throw new Error('no bookworm main Packages list from apt; give a Packages file or run apt-get update');
  const r = spawnSync('/usr/lib/apt/apt-helper', ['cat-file', f], { maxBuffer: 1 << 30 });
  return r.stdout.toString('utf8');
}

function consistent(selected) {
  const byName = new Map();
  for (const g of selected)
    for (const n of new Set([g.descriptor.name, ...g.descriptor.provides.map((p) => p.name)]))
      byName.set(n, [...(byName.get(n) || []), g]);
  const hits = (a) => (byName.get(a.name) || []).filter((g) => core.atomMatches(a, g));
  const problems = [];
  for (const f of selected) {
    const d = f.descriptor;
    for (const rel of [...d.depends, ...d.preDepends])
      if (!rel.some((a) => hits(a).length)) problems.push(`${d.name} needs ${core.formatRelation(rel)}`);
    for (const a of [...d.conflicts, ...d.breaks].flat())
      if (hits(a).some((g) => g !== f && g.descriptor.name !== d.name))
        problems.push(`${d.name} conflicts with ${a.name}`);
  }
  return problems;
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

async function main() {
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
    const diff =
      apt && ours ? [...apt].filter((n) => !ours.has(n)).length + [...ours].filter((n) => !apt.has(n)).length : null;
    rows.push({
      key: fragments
        ? fragments
            .map((f) => `${f.descriptor.name}=${f.descriptor.version}`)
            .sort()
            .join(' ')
        : null,
      name,
      ms: Math.round(ms * 10) / 10,
      closure: fragments ? fragments.length : null,
      consistent: fragments ? problems.length === 0 : false,
      apt: apt ? apt.size : null,
      diff,
      error,
      problems: problems.slice(0, 3),
    });
  }
  const store = args.includes('--no-store')
    ? undefined
    : await storeBench(file, rows, json, args.includes('--compare-unsigned'));
  for (const r of rows) delete r.key;
  const result = {
    paragraphs: paragraphs.length,
    readMs: Math.round(readMs),
    importMs: Math.round(importMs),
    resolutions: rows,
    ...(store ? { store } : {}),
  };
  if (json) return void process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(
    `index: ${paragraphs.length} paragraphs; read ${result.readMs} ms, parse + catalog ${result.importMs} ms\n`,
  );
  process.stdout.write('package            closure  apt  diff  ms      consistent\n');
  for (const r of rows)
    process.stdout.write(
      `${r.name.padEnd(18)} ${String(r.closure ?? '-').padStart(7)} ${String(r.apt ?? '-').padStart(4)} ${String(r.diff ?? '-').padStart(5)}  ${String(r.ms).padEnd(7)} ${r.consistent ? 'yes' : `NO ${r.error || r.problems.join('; ')}`}\n`,
    );
  if (store) {
    process.stdout.write(
      `\nstore: lse import debian-index${store.signed ? ' --release (signed chain checked, proof stored)' : ' --allow-unsigned'} of the whole index into a fresh embedded store: ${store.importSeconds} s, ${store.importCpuSeconds} s CPU (${store.created} fragments); again: ${store.reimportSeconds} s (${store.recreated} new)\n`,
    );
    if (store.unsigned)
      process.stdout.write(
        `the same import --allow-unsigned into another fresh store: ${store.unsigned.seconds} s, ${store.unsigned.cpuSeconds} s CPU; signed/unsigned: wall ${store.ratio.wall}, CPU ${store.ratio.cpu}\n`,
      );
    process.stdout.write(
      'package            closure  load+resolve ms  in-memory ms  ratio  same closure  consistent\n',
    );
    for (const r of store.resolutions)
      process.stdout.write(
        `${r.name.padEnd(18)} ${String(r.closure ?? '-').padStart(7)}  ${String(r.ms).padStart(15)}  ${String(r.memoryMs).padStart(12)}  ${String(r.ratio).padStart(5)}  ${r.same ? 'yes' : 'NO'}          ${r.consistent ? 'yes' : `NO ${r.error || ''}`}\n`,
      );
    process.stdout.write(
      `store p50 ${store.p50Ms} ms, max ${store.maxMs} ms (catalog loading from ${store.created} stored fragments included)\n`,
    );
  }
  if (rows.some((r) => !r.consistent) || (store && store.resolutions.some((r) => !r.consistent || !r.same)))
    process.exitCode = 1;
}

/** Imports the index into a fresh fs store with the built CLI, then resolves from the store. */
async function storeBench(file, memoryRows, json, compareUnsigned) {
  const { openFsStore } = require('../libs/adapters/fs/dist');
  const { loadCatalog } = require('../libs/engine/dist');
  const { releaseBeside } = require('../libs/adapters/deb/dist');
  const dir = mkdtempSync(join(tmpdir(), 'lse-bench-debian-'));
  const lseIn = (storeDir, ...a) => {
    const r = spawnSync(
      process.execPath,
      [join(__dirname, '../apps/cli/bin/lse.js'), '--store', join(dir, storeDir), ...a],
      { encoding: 'utf8', maxBuffer: 1 << 28 },
    );
    if (r.status !== 0) throw new Error(`lse ${a.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const lse = (...a) => lseIn('store', ...a);
  try {
    const listFile = file || aptList();
    const beside = releaseBeside(listFile);
    const trustArgs =
      beside && beside.inRelease
        ? ['--release', beside.inRelease]
        : beside
          ? ['--release', beside.release]
          : ['--allow-unsigned'];
    if (!json) process.stderr.write(`importing ${listFile} (${trustArgs.join(' ')}) into ${dir}/store ...\n`);
    lse('keys', 'generate', '--name', 'bench', '--out', dir);
    lse('trust', 'add', join(dir, 'bench.pub'));
    const c0 = childCpuSeconds();
    let t = process.hrtime.bigint();
    const first = JSON.parse(
      lse(
        '--json',
        'import',
        'debian-index',
        listFile,
        ...trustArgs,
        '--key',
        join(dir, 'bench.key'),
        '--arch',
        'amd64,all',
      ),
    );
    const importSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    const importCpuSeconds = childCpuSeconds() - c0;
    t = process.hrtime.bigint();
    const again = JSON.parse(
      lse(
        '--json',
        'import',
        'debian-index',
        listFile,
        ...trustArgs,
        '--key',
        join(dir, 'bench.key'),
        '--arch',
        'amd64,all',
      ),
    );
    const reimportSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    let unsigned;
    if (compareUnsigned && trustArgs[0] === '--release') {
      lseIn('unsigned', 'trust', 'add', join(dir, 'bench.pub'));
      const c0 = childCpuSeconds();
      t = process.hrtime.bigint();
      lseIn(
        'unsigned',
        '--json',
        'import',
        'debian-index',
        listFile,
        '--allow-unsigned',
        '--key',
        join(dir, 'bench.key'),
        '--arch',
        'amd64,all',
      );
      const seconds = Number(process.hrtime.bigint() - t) / 1e9;
      const cpu = childCpuSeconds() - c0;
      rmSync(join(dir, 'unsigned'), { recursive: true, force: true });
      unsigned = { seconds: Math.round(seconds * 10) / 10, cpuSeconds: Math.round(cpu * 10) / 10 };
    }
    const store = openFsStore(join(dir, 'store'));
    const resolutions = [];
    for (const m of memoryRows) {
      const t0 = process.hrtime.bigint();
      let fragments;
      let error;
      try {
        const catalog = await loadCatalog(store.fragments, [m.name]);
        ({ fragments } = core.resolve({
          requirements: [{ name: m.name }],
          platform: { os: 'linux', arch: 'amd64' },
          catalog,
        }));
      } catch (e) {
        error = e.message.split('\n')[0];
      }
      const ms = Math.round(Number(process.hrtime.bigint() - t0) / 1e5) / 10;
      const names = fragments ? fragments.map((f) => `${f.descriptor.name}=${f.descriptor.version}`).sort() : [];
      resolutions.push({
        name: m.name,
        ms,
        memoryMs: m.ms,
        ratio: m.ms ? Math.round((ms / m.ms) * 10) / 10 : null,
        closure: fragments ? fragments.length : null,
        same: fragments !== undefined && m.key === names.join(' '),
        consistent: fragments ? consistent(fragments).length === 0 : false,
        error,
        names: names.length,
      });
    }
    const sorted = resolutions.map((r) => r.ms).sort((a, b) => a - b);
    return {
      importSeconds: Math.round(importSeconds * 10) / 10,
      importCpuSeconds: Math.round(importCpuSeconds * 10) / 10,
      signed: trustArgs[0] === '--release',
      ...(unsigned
        ? {
            unsigned,
            ratio: {
              wall: Math.round((importSeconds / unsigned.seconds) * 100) / 100,
              cpu: Math.round((importCpuSeconds / unsigned.cpuSeconds) * 100) / 100,
            },
          }
        : {}),
      created: first.created,
      reimportSeconds: Math.round(reimportSeconds * 10) / 10,
      recreated: again.created,
      p50Ms: sorted[Math.floor(sorted.length / 2)],
      maxMs: sorted[sorted.length - 1],
      resolutions,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU seconds (user + system) of the children this process has waited for (Linux /proc). */
function childCpuSeconds() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100; // cutime, cstime (fields 16, 17) in clock ticks (USER_HZ = 100)
}

function aptList() {
  const t = spawnSync('apt-get', ['indextargets', '--format', '$(FILENAME)', 'Identifier: Packages'], {
    encoding: 'utf8',
  });
  const f = (t.stdout || '').split('\n').find((l) => /_dists_bookworm_main_binary-amd64_Packages/.test(l));
  if (!f) throw new Error('no bookworm main Packages list from apt; give a Packages file or run apt-get update');
  return f;
}

main().catch((e) => {
  process.stderr.write(`bench/debian.js: ${e.message}\n`);
  process.exitCode = 1;
});
