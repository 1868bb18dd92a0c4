import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { isLseError } from '../errors';
import { readTar, type TarEntry } from '../tar';
import { buildFilesLayer, buildLayer, inlineFileEntries } from './layers';

const T = 1700000000;
const dir = (path: string, mode = 0o755): TarEntry => ({ path, type: 'dir', mode, uid: 0, gid: 0, mtime: 0, size: 0 });
const file = (path: string, content: string, mode = 0o644): TarEntry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: Buffer.byteLength(content),
  data: Buffer.from(content),
});
const hardlink = (path: string, linkname: string): TarEntry => ({
  path,
  type: 'hardlink',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: 0,
  linkname,
});
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('buildLayer', () => {
  const partA = { label: 'a@1', entries: [dir('usr'), dir('usr/lib'), file('usr/lib/liba.so', 'A')] };
  const partB = { label: 'b@1', entries: [dir('usr'), dir('usr/bin'), file('usr/bin/b', 'B', 0o755)] };

  it('merges parts: shared parents once, sorted, fixed mtime', () => {
    const layer = buildLayer([partA, partB], { mtime: T });
    const entries = readTar(layer.tar);
    expect(entries.map((e) => `${e.type}:${e.path.replace(/\/$/, '')}`)).toEqual([
      'dir:usr',
      'dir:usr/bin',
      'file:usr/bin/b',
      'dir:usr/lib',
      'file:usr/lib/liba.so',
    ]);
    expect(entries.every((e) => e.mtime === T)).toBe(true);
    expect(entries.find((e) => e.path === 'usr/bin/b')?.mode).toBe(0o755);
  });

  it('has diffId = sha256(tar), digest/size of the gzip blob', () => {
    const layer = buildLayer([partA], { mtime: T });
    expect(layer.diffId).toBe(sha(layer.tar));
    expect(layer.digest).toBe(sha(layer.blob));
    expect(layer.size).toBe(layer.blob.length);
    expect(gunzipSync(layer.blob).equals(layer.tar)).toBe(true);
  });

  it('is deterministic: same entries in any part order give the same digests', () => {
    const one = buildLayer([partA, partB], { mtime: T });
    const two = buildLayer([{ ...partB, entries: [...partB.entries].reverse() }, partA], { mtime: T });
    expect(two.diffId).toBe(one.diffId);
    expect(two.digest).toBe(one.digest);
    expect(buildLayer([partA, partB], { mtime: T + 1 }).diffId).not.toBe(one.diffId);
  });

  it('adds missing parent directories and writes identical files once', () => {
    const layer = buildLayer([{ entries: [file('a/b/c', 'x')] }, { entries: [file('a/b/c', 'x')] }], { mtime: 0 });
    const entries = readTar(layer.tar);
    expect(entries.map((e) => [e.type, e.path.replace(/\/$/, ''), e.mode])).toEqual([
      ['dir', 'a', 0o755],
      ['dir', 'a/b', 0o755],
      ['file', 'a/b/c', 0o644],
    ]);
  });

  it('refuses different files at the same path and files under a non-directory', () => {
    const err = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const e1 = err(() =>
      buildLayer(
        [
          { label: 'a@1', entries: [file('x', '1')] },
          { label: 'b@1', entries: [file('x', '2')] },
        ],
        { mtime: 0 },
      ),
    );
    expect(isLseError(e1, 'PATH_CONFLICT')).toBe(true);
    expect((e1 as Error).message).toMatch(/'x'.*a@1.*b@1/);
    const e2 = err(() =>
      buildLayer(
        [
          { label: 'a', entries: [file('x', '1')] },
          { label: 'b', entries: [file('x/y', '2')] },
        ],
        { mtime: 0 },
      ),
    );
    expect(isLseError(e2, 'PATH_CONFLICT')).toBe(true);
  });

  it('keeps a hardlink after its target even when its path sorts first', () => {
    const layer = buildLayer([{ entries: [dir('bin'), file('bin/z', 'Z'), hardlink('bin/a', 'bin/z')] }], { mtime: 0 });
    expect(readTar(layer.tar).map((e) => e.path.replace(/\/$/, ''))).toEqual(['bin', 'bin/z', 'bin/a']);
    expect(() => buildLayer([{ entries: [hardlink('bin/a', 'bin/missing')] }], { mtime: 0 })).toThrow(
      /not in the layer/,
    );
  });
});

describe('buildFilesLayer', () => {
  it('writes inline files with parents 0755 and the octal mode', () => {
    const layer = buildFilesLayer(
      [
        { path: '/etc/app/config.yaml', content: 'a: 1\n', mode: '0600' },
        { path: '/etc/motd', content: 'hi', mode: '644' },
      ],
      T,
    );
    const entries = readTar(layer.tar);
    expect(entries.map((e) => [e.type, e.path.replace(/\/$/, ''), e.mode])).toEqual([
      ['dir', 'etc', 0o755],
      ['dir', 'etc/app', 0o755],
      ['file', 'etc/app/config.yaml', 0o600],
      ['file', 'etc/motd', 0o644],
    ]);
    expect(entries[2].data?.toString()).toBe('a: 1\n');
    expect(buildFilesLayer([{ path: '/etc/motd', content: 'hi', mode: '644' }], T).digest).toBe(
      buildFilesLayer([{ path: '/etc/motd', content: 'hi', mode: '0644' }], T).digest,
    );
  });

  it('rejects bad modes, paths that climb out, and duplicates', () => {
    expect(() => buildFilesLayer([{ path: '/x', content: '', mode: 'rw' }], 0)).toThrow(/octal/);
    expect(() => buildFilesLayer([{ path: '/../x', content: '', mode: '0644' }], 0)).toThrow(/inside the image/);
    expect(() =>
      buildFilesLayer(
        [
          { path: '/x', content: '', mode: '0644' },
          { path: 'x', content: '', mode: '0644' },
        ],
        0,
      ),
    ).toThrow(/twice/);
  });

  it('inlineFileEntries indexes the same files for conflict checks', () => {
    const entries = inlineFileEntries([{ path: '/etc/motd', content: 'hi', mode: '0640' }]);
    expect(entries).toEqual([
      { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 },
      { path: 'etc/motd', type: 'file', mode: 0o640, uid: 0, gid: 0, size: 2, digest: sha(Buffer.from('hi')) },
    ]);
  });
});
