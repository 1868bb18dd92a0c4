import { isLseError } from '../errors';
import { checkPolicy } from './policy';
import type { TarEntry, TarPolicy } from './types';

const file = (path: string, mode = 0o644): TarEntry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: 1,
  data: Buffer.from('x'),
});
const dir = (path: string): TarEntry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
const symlink = (path: string, linkname: string): TarEntry => ({
  path,
  type: 'symlink',
  mode: 0o777,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: 0,
  linkname,
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

/** Asserts TAR_UNSAFE with the given path and reason, and returns the message. */
function refused(entries: TarEntry[], path: string, reason: string, policy?: TarPolicy): string {
  try {
    checkPolicy(entries, policy);
  } catch (e) {
    if (!isLseError(e, 'TAR_UNSAFE')) throw e;
    expect(e.details).toEqual({ path, reason });
    expect(e.message).toContain(`'${path}'`);
    return e.message;
  }
  throw new Error('expected checkPolicy to refuse');
}

describe('checkPolicy accepts', () => {
  it('an ordinary tree with absolute and in-root relative symlinks and a hardlink', () => {
    expect(() =>
      checkPolicy([
        dir('./'),
        dir('./usr/'),
        dir('./usr/lib/'),
        file('./usr/lib/libz.so.1.3'),
        symlink('./usr/lib/libz.so.1', 'libz.so.1.3'),
        symlink('./usr/lib/libc.so', '/lib/x86_64-linux-gnu/libc.so.6'),
        symlink('usr/lib/up', '../../etc/passwd'),
        hardlink('usr/lib/libz.hard', './usr/lib/libz.so.1.3'),
      ]),
    ).not.toThrow();
  });
  it('setuid binaries when policy.allowSetuid is set', () => {
    expect(() => checkPolicy([file('usr/bin/sudo', 0o4755)], { allowSetuid: true })).not.toThrow();
  });
});

describe('checkPolicy refuses', () => {
  it("a '..' component", () => {
    const msg = refused([file('usr/../../etc/shadow')], 'usr/../../etc/shadow', 'dotdot');
    expect(msg).toMatch(/climb out of the root; remove it/);
  });
  it('an absolute path', () => {
    refused([file('/etc/passwd')], '/etc/passwd', 'absolute');
  });
  it('an empty name', () => {
    refused([file('')], '', 'empty');
  });
  it('a relative symlink that climbs above the root from its directory', () => {
    refused([symlink('usr/lib/evil', '../../../etc/shadow')], 'usr/lib/evil', 'symlink-escape');
  });
  it('a symlink escape hidden behind a descent (a/../../..)', () => {
    refused([symlink('top', 'a/../../x')], 'top', 'symlink-escape');
  });
  it('an entry whose path passes through a symlink declared earlier', () => {
    refused([symlink('etc', '/tmp'), file('etc/cron.d/job')], 'etc/cron.d/job', 'through-symlink');
  });
  it('a directory later replaced by a symlink (implied by earlier contents)', () => {
    refused([file('lib/a.so'), symlink('lib', '/tmp')], 'lib', 'dir-replaced');
  });
  it('an explicit directory later replaced by a symlink', () => {
    refused([dir('lib/'), symlink('lib', 'usr/lib')], 'lib', 'dir-replaced');
  });
  it('an entry placed under a regular file', () => {
    refused([file('a'), file('a/b')], 'a/b', 'parent-not-dir');
  });
  it('a hardlink to a missing target', () => {
    refused([hardlink('bin/a', 'bin/missing')], 'bin/a', 'hardlink-target');
  });
  it('a hardlink to a later file', () => {
    refused([hardlink('bin/a', 'bin/b'), file('bin/b')], 'bin/a', 'hardlink-target');
  });
  it('a hardlink to a path outside the archive', () => {
    refused([file('x'), hardlink('bin/a', '../x')], 'bin/a', 'hardlink-target');
    refused([file('etc/passwd'), hardlink('bin/a', '/etc/passwd')], 'bin/a', 'hardlink-target');
  });
  it('a hardlink to a directory or symlink', () => {
    refused([dir('d'), hardlink('h', 'd')], 'h', 'hardlink-target');
    refused([symlink('s', 'x'), hardlink('h', 's')], 'h', 'hardlink-target');
  });
  it('a character device', () => {
    refused(
      [{ ...file('dev/null'), type: 'chardev', size: 0, data: undefined, devmajor: 1, devminor: 3 }],
      'dev/null',
      'device',
    );
  });
  it('a block device', () => {
    refused([{ ...file('dev/sda'), type: 'blockdev', size: 0, data: undefined }], 'dev/sda', 'device');
  });
  it('a FIFO', () => {
    refused([{ ...file('run/pipe'), type: 'fifo', size: 0, data: undefined }], 'run/pipe', 'device');
  });
  it("an 'other' (socket, unknown) member", () => {
    refused([{ ...file('run/sock'), type: 'other', size: 0, data: undefined }], 'run/sock', 'device');
  });
  it('a .wh. whiteout name', () => {
    refused([file('etc/.wh.passwd')], 'etc/.wh.passwd', 'whiteout');
    refused([file('etc/.wh..wh..opq')], 'etc/.wh..wh..opq', 'whiteout');
  });
  it('setuid and setgid bits without allowSetuid', () => {
    const msg = refused([file('usr/bin/sudo', 0o4755)], 'usr/bin/sudo', 'setuid');
    expect(msg).toContain('4755');
    refused([file('usr/bin/wall', 0o2755)], 'usr/bin/wall', 'setuid', { allowSetuid: false });
  });
  it('a duplicate path after normalizing ./ and trailing /', () => {
    refused([dir('./usr/'), dir('usr')], 'usr', 'duplicate');
    refused([file('a/b'), file('./a/b')], 'a/b', 'duplicate');
  });
  it('names the archive in the message when a label is given', () => {
    const msg = refused([file('/x')], '/x', 'absolute', { label: 'fragment libpng@1.6.43' });
    expect(msg.startsWith("fragment libpng@1.6.43: entry '/x'")).toBe(true);
  });
});
