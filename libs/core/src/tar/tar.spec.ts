import { execFileSync } from 'node:child_process';
import {
  mkdtempSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  linkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isLseError, LseError } from '../errors';
import { readTar } from './read';
import type { TarEntry } from './types';
import { writeTar } from './write';

const long = `${'deep/'.repeat(30)}name-${'x'.repeat(40)}.txt`; // 195 bytes: needs PAX
const longTarget = `../${'t'.repeat(120)}`;
const sample: TarEntry[] = [
  { path: 'usr', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
  { path: 'usr/bin', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
  {
    path: 'usr/bin/hello',
    type: 'file',
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: 1700000000,
    size: 6,
    data: Buffer.from('hello\n'),
  },
  {
    path: 'usr/bin/hi',
    type: 'hardlink',
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: 1700000000,
    size: 0,
    linkname: 'usr/bin/hello',
  },
  { path: 'usr/bin/hey', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1700000000, size: 0, linkname: 'hello' },
  {
    path: 'usr/bin/far',
    type: 'symlink',
    mode: 0o777,
    uid: 0,
    gid: 0,
    mtime: 1700000000,
    size: 0,
    linkname: longTarget,
  },
  {
    path: 'usr/share/ünïcode €.txt',
    type: 'file',
    mode: 0o644,
    uid: 1000,
    gid: 1000,
    uname: 'alice',
    gname: 'staff',
    mtime: 1,
    size: 3,
    data: Buffer.from('abc'),
  },
  {
    path: long,
    type: 'file',
    mode: 0o600,
    uid: 3_000_000,
    gid: 0,
    mtime: 1700000000,
    size: 1000,
    data: Buffer.alloc(1000, 7),
  },
];

function expectError(fn: () => unknown, code: 'TAR_INVALID' | 'TAR_UNSAFE'): LseError {
  try {
    fn();
  } catch (e) {
    if (isLseError(e, code)) return e;
    throw e;
  }
  throw new Error(`expected ${code}`);
}

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'lse-tar-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('writeTar / readTar', () => {
  it('round-trips every field, using PAX only where ustar cannot hold the value', () => {
    const tar = writeTar(sample);
    expect(tar.length % 512).toBe(0);
    expect(tar.subarray(-1024).equals(Buffer.alloc(1024))).toBe(true);
    expect(readTar(tar)).toEqual(sample);
    // exactly one PAX member per entry that needs one (long path + big uid, long link target)
    const flags = [];
    for (let off = 0; off + 512 <= tar.length; off += 512) {
      const h = tar.subarray(off, off + 512);
      if (h.subarray(257, 262).toString() === 'ustar') flags.push(String.fromCharCode(h[156] as number));
    }
    expect(flags.filter((f) => f === 'x')).toHaveLength(2);
  });

  it('is deterministic: same entries, same bytes', () => {
    expect(writeTar(sample).equals(writeTar(sample.map((e) => ({ ...e }))))).toBe(true);
  });

  it('reads gzip input transparently', () => {
    expect(readTar(gzipSync(writeTar(sample)))).toEqual(sample);
  });

  it('output is accepted by GNU tar (-tvf and -x)', () => {
    const file = join(tmp, 'a.tar');
    writeFileSync(file, writeTar(sample));
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'utf8' });
    expect(listing).toContain('usr/bin/hi link to usr/bin/hello');
    expect(listing).toContain(`usr/bin/far -> ${longTarget}`);
    expect(listing).toContain(long);
    expect(listing).toMatch(/3000000\/0 +1000 .*deep/);
    const out = join(tmp, 'out');
    mkdirSync(out);
    execFileSync('tar', ['-x', '-f', file, '-C', out]);
    expect(readFileSync(join(out, 'usr/bin/hello'), 'utf8')).toBe('hello\n');
    expect(statSync(join(out, 'usr/bin/hi')).ino).toBe(statSync(join(out, 'usr/bin/hello')).ino);
    expect(readlinkSync(join(out, 'usr/bin/far'))).toBe(longTarget);
    expect(readFileSync(join(out, 'usr/share/ünïcode €.txt'), 'utf8')).toBe('abc');
    expect(readFileSync(join(out, long)).equals(Buffer.alloc(1000, 7))).toBe(true);
    expect(statSync(join(out, long)).mode & 0o7777).toBe(0o600);
  });

  it.each(['gnu', 'pax', 'ustar'])('reads what GNU tar writes in %s format (long names, links, base-256)', (format) => {
    const src = join(tmp, 'src');
    const longDir = join(src, 'd'.repeat(90), 'e'.repeat(50)); // 141+ byte paths: ustar prefix split
    mkdirSync(longDir, { recursive: true });
    writeFileSync(join(longDir, 'f.txt'), 'content');
    const ustar = format === 'ustar'; // ustar holds neither a 141-byte link target nor a 150-byte symlink
    if (!ustar) linkSync(join(longDir, 'f.txt'), join(src, 'hard'));
    symlinkSync(ustar ? 'short' : 'l'.repeat(150), join(src, 'sym'));
    const file = join(tmp, 'g.tar');
    const owner = ustar ? '0' : '3000000'; // base-256 uid in gnu format, PAX uid in pax
    execFileSync('tar', [
      `--format=${format}`,
      `--owner=${owner}`,
      '--group=0',
      '--sort=name',
      '-cf',
      file,
      '-C',
      src,
      '.',
    ]);
    const entries = readTar(readFileSync(file));
    const byPath = new Map(entries.map((e) => [e.path.replace(/\/$/, ''), e]));
    const f = byPath.get(`./${'d'.repeat(90)}/${'e'.repeat(50)}/f.txt`);
    expect(f?.type).toBe('file');
    expect(f?.data?.toString()).toBe('content');
    expect(f?.uid).toBe(Number(owner));
    if (!ustar) {
      expect(byPath.get('./hard')?.type).toBe('hardlink');
      expect(byPath.get('./hard')?.linkname).toBe(`./${'d'.repeat(90)}/${'e'.repeat(50)}/f.txt`);
    }
    expect(byPath.get('./sym')?.linkname).toBe(ustar ? 'short' : 'l'.repeat(150));
    expect(byPath.get(`./${'d'.repeat(90)}`)?.type).toBe('dir');
  });
});

describe('readTar refuses', () => {
  const tar = writeTar(sample);

  it('a truncated archive (cut in data, in a header, before the end block), naming the offset', () => {
    const inData = expectError(() => readTar(tar.subarray(0, 512 * 3 + 3)), 'TAR_INVALID');
    expect(inData.details.offset).toBe(1024);
    expect(inData.message).toMatch(/truncated.*offset 1024/);
    expect(expectError(() => readTar(tar.subarray(0, 512 * 4 + 100)), 'TAR_INVALID').details.offset).toBe(2048);
    expect(expectError(() => readTar(tar.subarray(0, 512 * 4)), 'TAR_INVALID').details.offset).toBe(2048);
    expect(expectError(() => readTar(Buffer.alloc(0)), 'TAR_INVALID').details.offset).toBe(0);
  });

  it('a bad header checksum, naming the offset', () => {
    const bad = Buffer.from(tar);
    bad[1024 + 5] ^= 0x01; // third header: usr/bin/hello
    const e = expectError(() => readTar(bad), 'TAR_INVALID');
    expect(e.details.offset).toBe(1024);
    expect(e.message).toMatch(/bad checksum/);
  });

  it('a member over maxEntrySize', () => {
    const e = expectError(() => readTar(tar, { maxEntrySize: 999 }), 'TAR_UNSAFE');
    expect(e.details).toEqual({ path: long, reason: 'max-entry-size' });
  });

  it('content over maxTotalSize', () => {
    expect(expectError(() => readTar(tar, { maxTotalSize: 1005 }), 'TAR_UNSAFE').details.reason).toBe('max-total-size');
    expect(() => readTar(tar, { maxTotalSize: 1009 })).not.toThrow();
  });

  it('more members than maxEntries', () => {
    expect(expectError(() => readTar(tar, { maxEntries: 7 }), 'TAR_UNSAFE').details.reason).toBe('max-entries');
    expect(readTar(tar, { maxEntries: 8 })).toHaveLength(8);
  });

  it('gzip expanding past the ratio limit (decompression bomb)', () => {
    const bomb = gzipSync(
      writeTar([
        {
          path: 'zeros',
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 0,
          size: 8 << 20,
          data: Buffer.alloc(8 << 20),
        },
      ]),
    );
    expect(bomb.length).toBeLessThan((8 << 20) / 200);
    expect(expectError(() => readTar(bomb), 'TAR_UNSAFE').details.reason).toBe('max-ratio');
    expect(readTar(bomb, { maxRatio: 2000 })[0]?.size).toBe(8 << 20);
  });

  it('corrupt gzip data', () => {
    const gz = gzipSync(tar);
    expectError(() => readTar(gz.subarray(0, gz.length - 20)), 'TAR_INVALID');
  });
});
