import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileEntry } from '../model';
import { parseControlFile } from './control';
import { dpkgDatabaseEntries, dpkgStatus } from './dpkg-db';
import { debianPackInfo, type DebianMeta } from './package';
import type { TarEntry } from '../tar';

const file = (path: string, content = ''): TarEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: content.length,
  data: Buffer.from(content),
});
const dir = (path: string): TarEntry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
const filesOf = (es: TarEntry[]): FileEntry[] =>
  es.map((e) => ({
    path: e.path.replace(/^\.\//, ''),
    type: e.type as FileEntry['type'],
    mode: e.mode,
    uid: 0,
    gid: 0,
    size: e.size,
  }));

function pkg(control: string, entries: TarEntry[], controlFiles: Record<string, string> = {}) {
  const info = debianPackInfo(
    {
      control,
      controlFiles: Object.fromEntries(Object.entries(controlFiles).map(([k, v]) => [k, Buffer.from(v)])),
      entries,
    },
    { mergedUsr: true },
  );
  return { meta: info.metadata.debian as DebianMeta, files: filesOf(info.entries), info };
}

const MAWK = pkg(
  'Package: mawk\nVersion: 1.3.4-3\nMaintainer: M <m@example.org>\nArchitecture: amd64\nMulti-Arch: foreign\nProvides: awk\nDescription: awk\n',
  [dir('./usr'), dir('./usr/bin'), file('./usr/bin/mawk', 'ELF')],
  {
    postinst:
      'update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 --slave /usr/bin/nawk nawk /usr/bin/mawk\n',
    md5sums: 'd41d8cd98f00b204e9800998ecf8427e  usr/bin/mawk\n',
  },
);
const LIBZ = pkg(
  'Package: zlib1g\nVersion: 1:1.2.13-1\nMaintainer: M <m@example.org>\nArchitecture: amd64\nMulti-Arch: same\nDescription: zlib\n',
  [
    dir('./lib'),
    dir('./lib/x86_64-linux-gnu'),
    file('./lib/x86_64-linux-gnu/libz.so.1', 'z'),
    dir('./etc'),
    file('./etc/z.conf', 'conf\n'),
  ],
  {
    conffiles: '/etc/z.conf\n',
  },
);

describe('debianPackInfo', () => {
  it('maps the control file into fragment inputs with merged-/usr paths and conffile md5s', () => {
    expect(LIBZ.info).toMatchObject({
      name: 'zlib1g',
      version: '1:1.2.13-1',
      attributes: { os: 'linux', arch: 'amd64' },
    });
    expect(LIBZ.files.map((f) => f.path)).toContain('usr/lib/x86_64-linux-gnu/libz.so.1');
    expect(LIBZ.meta.conffileMd5s).toEqual({ '/etc/z.conf': createHash('md5').update('conf\n').digest('hex') });
    expect(MAWK.info.provides).toEqual(['awk']);
  });
  it('drops device nodes and records them, and reports foreign owners', () => {
    const p = pkg('Package: d\nVersion: 1\nArchitecture: all\n', [
      { ...file('./dev/null'), type: 'chardev' },
      { ...file('./usr/bin/x'), gid: 42, gname: 'shadow' },
    ]);
    expect(p.info.attributes).toEqual({ os: 'linux', arch: 'all' });
    expect(p.meta.droppedDevices).toEqual(['/dev/null']);
    expect(p.meta.notReproduced.join('\n')).toMatch(/owned by root:shadow|owned by 0:shadow/);
    expect(p.files.map((f) => f.path)).toEqual(['usr/bin/x']);
  });
});

describe('dpkg database', () => {
  const base =
    'Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n\nPackage: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.0\nArchitecture: amd64\nMulti-Arch: same\n';

  it('merges the base status: fragments replace the same package, the rest is kept, sorted by name', () => {
    const ps = parseControlFile(dpkgStatus([MAWK, LIBZ], base));
    expect(ps.map((p) => `${p['Package']} ${p['Version']} ${p['Status']}`)).toEqual([
      'base-files 12.4 install ok installed',
      'mawk 1.3.4-3 install ok installed',
      'zlib1g 1:1.2.13-1 install ok installed',
    ]);
    expect(ps[2]!['Conffiles']).toBe(`\n /etc/z.conf ${LIBZ.meta.conffileMd5s!['/etc/z.conf']}`);
  });

  it('writes info files (multiarch names for Multi-Arch: same) and the highest-priority alternative', () => {
    const es = dpkgDatabaseEntries([MAWK, LIBZ], { mergedUsr: true, mtime: 0 });
    const by = new Map(es.map((e) => [e.path, e]));
    expect(by.get('var/lib/dpkg/info/format')!.data!.toString()).toBe('1\n');
    expect(by.get('var/lib/dpkg/info/zlib1g:amd64.list')!.data!.toString()).toContain(
      '/usr/lib/x86_64-linux-gnu/libz.so.1\n',
    );
    expect(by.get('var/lib/dpkg/info/mawk.postinst')!.mode).toBe(0o755);
    expect(by.get('usr/bin/awk')).toMatchObject({ type: 'symlink', linkname: '/etc/alternatives/awk' });
    expect(by.get('etc/alternatives/awk')).toMatchObject({ type: 'symlink', linkname: '/usr/bin/mawk' });
    expect(by.get('usr/bin/nawk')).toMatchObject({ type: 'symlink', linkname: '/etc/alternatives/nawk' });
    expect(by.get('var/lib/dpkg/alternatives/awk')!.data!.toString()).toBe(
      'auto\n/usr/bin/awk\nnawk\n/usr/bin/nawk\n\n/usr/bin/mawk\n5\n/usr/bin/mawk\n\n',
    );
  });

  it('skips an alternative whose path no installed package ships', () => {
    const ghost = { ...MAWK, files: [] };
    expect(dpkgDatabaseEntries([ghost], { mergedUsr: true, mtime: 0 }).some((e) => e.path === 'usr/bin/awk')).toBe(
      false,
    );
  });

  const hasDpkg = spawnSync('dpkg-query', ['--version']).status === 0;
  (hasDpkg ? it : it.skip)('is read by dpkg-query (skipped without dpkg)', () => {
    const root = mkdtempSync(join(tmpdir(), 'lse-dpkgdb-'));
    try {
      for (const e of dpkgDatabaseEntries([MAWK, LIBZ], { mergedUsr: true, mtime: 0 })) {
        if (e.type !== 'file') continue;
        mkdirSync(join(root, e.path, '..'), { recursive: true });
        writeFileSync(join(root, e.path), e.data!);
      }
      mkdirSync(join(root, 'var/lib/dpkg/updates'), { recursive: true });
      const q = spawnSync(
        'dpkg-query',
        ['--admindir', join(root, 'var/lib/dpkg'), '-W', '-f', '${Package} ${Version} ${db:Status-Abbrev}\n'],
        { encoding: 'utf8' },
      );
      expect(q.stderr).toBe('');
      expect(q.stdout).toBe('mawk 1.3.4-3 ii \nzlib1g 1:1.2.13-1 ii \n');
      const s = spawnSync(
        'dpkg-query',
        ['--admindir', join(root, 'var/lib/dpkg'), '-S', '/usr/lib/x86_64-linux-gnu/libz.so.1'],
        { encoding: 'utf8' },
      );
      expect(s.stdout.trim()).toBe('zlib1g:amd64: /usr/lib/x86_64-linux-gnu/libz.so.1');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
