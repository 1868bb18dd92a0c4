import { createHash } from 'node:crypto';
import { isLseError } from '../errors';
import { sha256Digest } from '../digest';
import { normalizeEntries } from './normalize';
import { readTar } from './read';
import type { TarEntry } from './types';

const e = (path: string, type: TarEntry['type'], extra: Partial<TarEntry> = {}): TarEntry => ({
  path,
  type,
  mode: type === 'dir' ? 0o755 : 0o644,
  uid: 1000,
  gid: 1000,
  uname: 'bob',
  gname: 'bob',
  mtime: 1234567,
  size: 0,
  ...extra,
});
const file = (path: string, content: string, mode = 0o644): TarEntry =>
  e(path, 'file', { data: Buffer.from(content), size: content.length, mode });

const input: TarEntry[] = [
  e('.', 'dir'),
  e('./usr/', 'dir', { mode: 0o40755 }),
  file('./usr/lib/libz.so.1.3', 'zlib', 0o100755),
  e('./usr/lib/libz.so.1', 'symlink', { linkname: 'libz.so.1.3' }),
  file('./etc/zz', 'config'),
  e('./etc/aa', 'hardlink', { linkname: './etc/zz' }),
  e('./etc/mm', 'hardlink', { linkname: 'etc/zz' }),
  file('./a-b', 'dash'),
  file('./a/b', 'slash'),
  file('./usr/share/é', 'accent'),
  file('./usr/share/z', 'zed'),
  file('./usr/share/😀', 'astral'), // UTF-16 order would put this before U+FF21, UTF-8 order after
  file('./usr/share/\uff21', 'fullwidth A'),
];

/** A seeded shuffle that keeps each hardlink after its target (any other order is invalid input). */
function shuffled(entries: TarEntry[], seed: number): TarEntry[] {
  let s = seed;
  const rnd = (): number => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const out = entries.map((x) => ({ ...x })).sort(() => rnd() - 0.5);
  return [...out.filter((x) => x.type !== 'hardlink'), ...out.filter((x) => x.type === 'hardlink')];
}

describe('normalizeEntries', () => {
  const { tar, files } = normalizeEntries(input, { mtime: 42 });
  const out = readTar(tar);

  it('sorts by UTF-8 bytes, adds missing parents, drops the root, strips ./', () => {
    expect(out.map((x) => x.path)).toEqual([
      'a',
      'a-b',
      'a/b',
      'etc',
      'etc/aa',
      'etc/mm',
      'etc/zz',
      'usr',
      'usr/lib',
      'usr/lib/libz.so.1',
      'usr/lib/libz.so.1.3',
      'usr/share',
      'usr/share/z',
      'usr/share/é',
      'usr/share/\uff21',
      'usr/share/😀',
    ]);
    expect(out.find((x) => x.path === 'a')).toMatchObject({ type: 'dir', mode: 0o755 });
  });

  it('fixes mtime, uid/gid and names; keeps permission bits only', () => {
    for (const x of out) {
      expect(x).toMatchObject({ mtime: 42, uid: 0, gid: 0 });
      expect(x.uname).toBeUndefined();
      expect(x.gname).toBeUndefined();
    }
    expect(out.find((x) => x.path === 'usr/lib/libz.so.1.3')?.mode).toBe(0o755);
    const custom = readTar(normalizeEntries(input, { mtime: 7, uid: 5, gid: 6 }).tar);
    expect(custom.every((x) => x.uid === 5 && x.gid === 6 && x.mtime === 7)).toBe(true);
  });

  it('re-roots a hardlink group on the path that sorts first', () => {
    expect(out.find((x) => x.path === 'etc/aa')).toMatchObject({ type: 'file', size: 6 });
    expect(out.find((x) => x.path === 'etc/aa')?.data?.toString()).toBe('config');
    expect(out.find((x) => x.path === 'etc/mm')).toMatchObject({ type: 'hardlink', linkname: 'etc/aa', size: 0 });
    expect(out.find((x) => x.path === 'etc/zz')).toMatchObject({ type: 'hardlink', linkname: 'etc/aa', size: 0 });
  });

  it('returns the file index matching the tar, with content digests', () => {
    expect(files.map((f) => f.path)).toEqual(out.map((x) => x.path));
    expect(files.find((f) => f.path === 'usr/share/z')).toEqual({
      path: 'usr/share/z',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 3,
      digest: `sha256:${createHash('sha256').update('zed').digest('hex')}`,
    });
    expect(files.find((f) => f.path === 'usr/lib/libz.so.1')).toEqual({
      path: 'usr/lib/libz.so.1',
      type: 'symlink',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      linkname: 'libz.so.1.3',
    });
    expect(files.find((f) => f.path === 'etc/zz')?.linkname).toBe('etc/aa');
    expect(files.filter((f) => f.digest !== undefined).map((f) => f.path)).toEqual(
      out.filter((x) => x.type === 'file').map((x) => x.path),
    );
  });

  it('gives byte-identical output for the same input in any order', () => {
    const digest = sha256Digest(tar);
    for (let seed = 1; seed <= 8; seed++) {
      const again = normalizeEntries(shuffled(input, seed), { mtime: 42 });
      expect(sha256Digest(again.tar)).toBe(digest);
      expect(again.files).toEqual(files);
    }
  });

  it('runs the policy first', () => {
    expect.assertions(2);
    try {
      normalizeEntries([file('usr/bin/su', 'x', 0o4755)], { mtime: 0, label: 'fragment su@1' });
    } catch (err) {
      expect(isLseError(err, 'TAR_UNSAFE') && err.message.startsWith('fragment su@1:')).toBe(true);
    }
    expect(normalizeEntries([file('usr/bin/su', 'x', 0o4755)], { mtime: 0, allowSetuid: true }).files[2]?.mode).toBe(
      0o4755,
    );
  });
});
