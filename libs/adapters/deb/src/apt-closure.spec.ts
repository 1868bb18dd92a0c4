/**
 * LSE's resolver against apt on the host's own lists: for a handful of packages, the closure
 * resolved over the whole index (DebianIndexCatalog) must be consistent (every Depends and
 * Pre-Depends satisfied inside the set, no Conflicts/Breaks between members) and the same set of
 * packages `apt-get -s install --no-install-recommends` would install into an empty system.
 *
 * Needs a Debian host with apt lists (they are fetched with apt-get update when missing);
 * skipped with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { DebianIndexCatalog, atomMatches, formatRelation, resolve, type Fragment } from '@lse/core';
import { hostArch, readAptIndex } from './apt';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const reason = !has('apt-get') || !has('dpkg') ? 'not a Debian host (apt-get/dpkg missing)' : undefined;
if (reason) console.warn(`apt-closure.spec.ts skipped: ${reason}`);
const suite = reason ? describe.skip : describe;

jest.setTimeout(120_000);

const PACKAGES = ['base-files', 'curl', 'jq', 'python3', 'openssh-client', 'git'];

function aptClosure(name: string): string[] {
  const r = spawnSync(
    'apt-get',
    ['install', '-s', '--no-install-recommends', '-o', 'Dir::State::status=/dev/null', name],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`apt-get -s install ${name} failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('Inst '))
    .map((l) => l.split(' ')[1]!.replace(/:.*$/, ''))
    .sort();
}

function problems(selected: readonly Fragment[]): string[] {
  const byName = new Map<string, Fragment[]>();
  for (const g of selected)
    for (const n of new Set([g.descriptor.name, ...g.descriptor.provides.map((p) => p.name)]))
      byName.set(n, [...(byName.get(n) ?? []), g]);
  const hits = (a: Parameters<typeof atomMatches>[0]) => (byName.get(a.name) ?? []).filter((g) => atomMatches(a, g));
  const out: string[] = [];
  for (const f of selected) {
    const d = f.descriptor;
    for (const rel of [...d.depends, ...d.preDepends])
      if (!rel.some((a) => hits(a).length)) out.push(`${d.name} needs ${formatRelation(rel)}`);
    for (const a of [...d.conflicts, ...d.breaks].flat())
      if (hits(a).some((g) => g !== f && g.descriptor.name !== d.name)) out.push(`${d.name} conflicts with ${a.name}`);
  }
  return out;
}

suite('resolution over the host apt lists matches apt', () => {
  let catalog: DebianIndexCatalog;
  let arch: string;

  beforeAll(async () => {
    const lists =
      existsSync('/var/lib/apt/lists') && readdirSync('/var/lib/apt/lists').some((f) => f.includes('_Packages'));
    if (!lists) expect(spawnSync('apt-get', ['update'], { stdio: 'ignore' }).status).toBe(0);
    arch = await hostArch();
    catalog = new DebianIndexCatalog((await readAptIndex()).paragraphs, [arch, 'all']);
  });

  it.each(PACKAGES)('%s: a consistent closure, the packages apt would install', (name) => {
    const { fragments } = resolve({ requirements: [{ name }], platform: { os: 'linux', arch }, catalog });
    expect(problems(fragments)).toEqual([]);
    expect([...new Set(fragments.map((f) => f.descriptor.name))].sort()).toEqual(aptClosure(name));
  });
});
