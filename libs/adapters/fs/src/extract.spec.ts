import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLseError, type TarEntry } from '@lse/core';
import { extractEntries } from './extract';

const base = { uid: 0, gid: 0, mtime: 1700000000, size: 0 };
const file = (path: string, content: string, mode = 0o644): TarEntry => ({
  ...base,
  path,
  type: 'file',
  mode,
  size: content.length,
  data: Buffer.from(content),
});
const dir = (path: string, mode = 0o755): TarEntry => ({ ...base, path, type: 'dir', mode });
const symlink = (path: string, linkname: string): TarEntry => ({
  ...base,
  path,
  type: 'symlink',
  mode: 0o777,
  linkname,
});
const hardlink = (path: string, linkname: string): TarEntry => ({
  ...base,
  path,
  type: 'hardlink',
  mode: 0o644,
  linkname,
});

let tmp: string;
let root: string;
let outside: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'lse-extract-'));
  root = join(tmp, 'root');
  outside = join(tmp, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'victim'), 'original');
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

async function refused(entries: TarEntry[], reason: string, opts?: { whiteouts?: boolean }): Promise<void> {
  const err: unknown = await extractEntries(root, entries, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isLseError(err, 'TAR_UNSAFE') ? err.details.reason : err).toBe(reason);
}

const outsideUntouched = (): void => {
  expect(readdirSync(outside)).toEqual(['victim']);
  expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('original');
};

describe('extractEntries', () => {
  it('writes files with modes, dirs, symlinks as links and hardlinks', async () => {
    await extractEntries(root, [
      dir('./'),
      dir('usr/'),
      file('usr/bin/tool', 'run me', 0o750),
      symlink('usr/bin/alias', 'tool'),
      symlink('usr/bin/dangling', '/does/not/exist'),
      hardlink('usr/bin/tool2', './usr/bin/tool'),
      dir('ro', 0o555),
      file('ro/x', 'inside read-only dir'),
    ]);
    expect(readFileSync(join(root, 'usr/bin/tool'), 'utf8')).toBe('run me');
    expect(statSync(join(root, 'usr/bin/tool')).mode & 0o7777).toBe(0o750);
    expect(statSync(join(root, 'usr/bin/tool')).mtimeMs).toBe(1700000000 * 1000);
    expect(readlinkSync(join(root, 'usr/bin/alias'))).toBe('tool');
    expect(readlinkSync(join(root, 'usr/bin/dangling'))).toBe('/does/not/exist');
    expect(statSync(join(root, 'usr/bin/tool2')).ino).toBe(statSync(join(root, 'usr/bin/tool')).ino);
    expect(statSync(join(root, 'ro')).mode & 0o7777).toBe(0o555);
    expect(readFileSync(join(root, 'ro/x'), 'utf8')).toBe('inside read-only dir');
  });

  it('lets later entries replace earlier ones, replacing a symlink instead of following it', async () => {
    await extractEntries(root, [symlink('etc', outside), symlink('f', join(outside, 'victim'))]);
    await extractEntries(root, [dir('etc'), file('etc/passwd', 'root:x:0:0'), file('f', 'new content')]);
    expect(lstatSync(join(root, 'etc')).isDirectory()).toBe(true);
    expect(lstatSync(join(root, 'f')).isFile()).toBe(true);
    expect(readFileSync(join(root, 'f'), 'utf8')).toBe('new content');
    outsideUntouched();
  });

  it('refuses to write through a symlink planted by an earlier layer; nothing lands outside', async () => {
    await extractEntries(root, [symlink('etc', outside)]);
    await refused([file('etc/victim', 'pwned')], 'through-symlink');
    await refused([file('etc/new', 'pwned')], 'through-symlink');
    outsideUntouched();
  });

  it('refuses to write through a symlink planted earlier in the same call', async () => {
    await refused([symlink('lib', outside), file('lib/victim', 'pwned')], 'through-symlink');
    outsideUntouched();
  });

  it('refuses .. and absolute paths', async () => {
    await refused([file('../outside/victim', 'pwned')], 'dotdot');
    await refused([file(join(outside, 'victim'), 'pwned')], 'absolute');
    outsideUntouched();
  });

  it('refuses hardlinks to missing, outside or non-file targets', async () => {
    await refused([hardlink('h', 'missing')], 'hardlink-target');
    await refused([hardlink('h', '../outside/victim')], 'dotdot');
    await refused([hardlink('h', join(outside, 'victim'))], 'absolute');
    await refused([symlink('s', join(outside, 'victim')), hardlink('h', 's')], 'hardlink-target');
    await refused([symlink('d', outside), hardlink('h', 'd/victim')], 'through-symlink');
    outsideUntouched();
  });

  it('refuses device nodes and FIFOs', async () => {
    await refused([{ ...base, path: 'dev/null', type: 'chardev', mode: 0o666, devmajor: 1, devminor: 3 }], 'device');
    await refused([{ ...base, path: 'p', type: 'fifo', mode: 0o644 }], 'device');
    expect(existsSync(join(root, 'p'))).toBe(false);
  });

  it('refuses whiteouts unless asked to apply them', async () => {
    await refused([file('etc/.wh.passwd', '')], 'whiteout');
  });

  it('applies .wh.NAME and opaque whiteouts over earlier layers, without writing them', async () => {
    await extractEntries(root, [
      file('etc/passwd', 'old'),
      file('etc/group', 'old'),
      file('opt/a/old', 'x'),
      file('opt/b', 'x'),
    ]);
    await extractEntries(
      root,
      [
        dir('etc'),
        file('etc/.wh.passwd', ''),
        dir('opt'),
        file('opt/new', 'y'),
        dir('opt/a'),
        file('opt/a/also-new', 'z'),
        file('opt/.wh..wh..opq', ''),
        file('gone/.wh.x', ''),
      ],
      { whiteouts: true },
    );
    expect(readdirSync(join(root, 'etc'))).toEqual(['group']);
    expect(readdirSync(join(root, 'opt')).sort()).toEqual(['a', 'new']);
    expect(readdirSync(join(root, 'opt/a'))).toEqual(['also-new']);
    expect(existsSync(join(root, 'gone'))).toBe(false);
  });

  it("refuses whiteouts of '.' and '..' (which would delete the directory or its parent)", async () => {
    await extractEntries(root, [file('a/b/keep', 'x')]);
    await refused([file('a/b/.wh...', '')], 'whiteout', { whiteouts: true });
    await refused([file('a/b/.wh..', '')], 'whiteout', { whiteouts: true });
    await refused([file('a/b/.wh.', '')], 'whiteout', { whiteouts: true });
    expect(readFileSync(join(root, 'a/b/keep'), 'utf8')).toBe('x');
  });

  it('does not follow a symlink when a whiteout deletes it', async () => {
    await extractEntries(root, [symlink('link', outside)]);
    await extractEntries(root, [file('.wh.link', '')], { whiteouts: true });
    expect(existsSync(join(root, 'link'))).toBe(false);
    outsideUntouched();
  });

  it('refuses a whiteout whose directory is a symlink to outside', async () => {
    await extractEntries(root, [symlink('etc', outside)]);
    await refused([file('etc/.wh.victim', '')], 'through-symlink', { whiteouts: true });
    await refused([file('etc/.wh..wh..opq', '')], 'through-symlink', { whiteouts: true });
    outsideUntouched();
  });
});
