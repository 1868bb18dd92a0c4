import type { TarEntry } from '../tar';
import { canonicalizeMergedUsr, mergedUsrPath } from './usrmerge';

const e = (path: string, type: TarEntry['type'] = 'file', linkname?: string): TarEntry => ({
  path,
  type,
  mode: type === 'dir' ? 0o755 : 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: 0,
  ...(linkname ? { linkname } : {}),
});

describe('merged-/usr canonicalization', () => {
  it('moves /bin, /sbin and /lib* under usr/ and leaves other paths alone', () => {
    expect(mergedUsrPath('bin/ls')).toBe('usr/bin/ls');
    expect(mergedUsrPath('lib64/ld-linux-x86-64.so.2')).toBe('usr/lib64/ld-linux-x86-64.so.2');
    expect(mergedUsrPath('lib')).toBe('usr/lib');
    expect(mergedUsrPath('library/x')).toBe('library/x');
    expect(mergedUsrPath('etc/bin/x')).toBe('etc/bin/x');
  });

  it('rewrites relative link targets from the new location, keeps absolute ones', () => {
    const r = canonicalizeMergedUsr([
      e('./', 'dir'),
      e('./bin', 'dir'),
      e('./bin/ls'),
      e('./usr/lib/x86_64-linux-gnu/libz.so', 'symlink', '../../../lib/x86_64-linux-gnu/libz.so.1'),
      e('./sbin/foo', 'symlink', '../usr/sbin/foo.real'),
      e('./lib64/ld.so', 'symlink', '/lib/x86_64-linux-gnu/ld.so'),
      e('./usr/bin/keep', 'symlink', 'ls'),
    ]);
    const by = new Map(r.entries.map((x) => [x.path, x]));
    expect([...by.keys()]).toEqual([
      './',
      'usr/bin',
      'usr/bin/ls',
      'usr/lib/x86_64-linux-gnu/libz.so',
      'usr/sbin/foo',
      'usr/lib64/ld.so',
      'usr/bin/keep',
    ]);
    expect(by.get('usr/lib/x86_64-linux-gnu/libz.so')!.linkname).toBe('libz.so.1');
    expect(by.get('usr/sbin/foo')!.linkname).toBe('foo.real');
    expect(by.get('usr/lib64/ld.so')!.linkname).toBe('/lib/x86_64-linux-gnu/ld.so');
    expect(by.get('usr/bin/keep')!.linkname).toBe('ls'); // untouched: neither moved nor through an alias
    expect(r.moved).toBe(4);
  });

  it('drops a link that would point at itself and a duplicate, keeping the /usr one', () => {
    const r = canonicalizeMergedUsr([e('usr/bin/x'), e('bin/x', 'symlink', '/usr/bin/x'), e('bin/y'), e('usr/bin/y')]);
    expect(r.entries.map((x) => x.path)).toEqual(['usr/bin/x', 'usr/bin/y']);
    expect(r.aliased.sort()).toEqual(['bin/x', 'bin/y']);
  });
});
