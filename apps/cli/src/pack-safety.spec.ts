/**
 * `lse fragment pack` on hostile input: each unsafe archive or directory is refused with exit 4,
 * `--json` names TAR_UNSAFE or TAR_INVALID (and the offending entry), and nothing is written,
 * neither into the store nor anywhere else under the work dir. The tars are made with `writeTar`
 * so that entries GNU tar would refuse to create (`..`, absolute paths, devices) can be crafted.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeTar, type TarEntry } from '@lse/core';
import {
  expectExit,
  generateKey,
  listAllPaths,
  lse,
  lseOk,
  parseJson,
  removeTempDirs,
  requireBuiltCli,
  tempDir,
  writeFileMode,
} from './testkit';

jest.setTimeout(60_000);

let work: string;
let store: string;
let key: string;
let inputs: string;
/** Where pack runs: a `..` entry written relative to it would land inside `work`. */
let cwd: string;
/** `lse --json fragment list` once the good fragment is in: every refusal must leave it so. */
let listBefore: string;

const file = (path: string, content = 'x\n', mode = 0o644): TarEntry => ({
  path,
  type: 'file',
  mode,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: Buffer.byteLength(content),
  data: Buffer.from(content),
});
const dir = (path: string): TarEntry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
const link = (type: 'symlink' | 'hardlink', path: string, linkname: string): TarEntry => ({
  path,
  type,
  mode: 0o777,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: 0,
  linkname,
});

beforeAll(async () => {
  requireBuiltCli();
  work = await tempDir('lse-pack-');
  store = join(work, 'store');
  inputs = join(work, 'inputs');
  cwd = join(work, 'cwd', 'sub');
  await mkdir(inputs, { recursive: true });
  await mkdir(cwd, { recursive: true });
  key = await generateKey(store, join(work, 'keys'), 'publisher');
  // One good fragment, so "the list stays the same" compares a non-empty list.
  await writeFileMode(join(work, 'good/usr/share/good.txt'), 'good\n', 0o644);
  await lseOk(store, ['fragment', 'pack', join(work, 'good'), '--name', 'good', '--version', '1.0.0', '--key', key]);
  listBefore = (await lseOk(store, ['--json', 'fragment', 'list'])).stdout;
  expect(parseJson<unknown[]>(listBefore)).toHaveLength(1);
});
afterAll(removeTempDirs);

async function writeInput(name: string, data: Buffer): Promise<string> {
  const path = join(inputs, name);
  await writeFile(path, data);
  return path;
}

/** Packs `input`, expects a refusal with `code`, and proves nothing was written anywhere. */
async function expectRefused(
  input: string,
  code: 'TAR_UNSAFE' | 'TAR_INVALID',
  mention: RegExp | string,
  extra: string[] = [],
): Promise<void> {
  const before = await listAllPaths(work);
  const args = ['fragment', 'pack', input, '--name', 'bad', '--version', '1.0.0', '--key', key, ...extra];
  // With --json for a script, and without for a person (run side by side: both must refuse).
  const [r, human] = await Promise.all([lse(store, ['--json', ...args], { cwd }), lse(store, args, { cwd })]);
  expectExit(r, 4);
  const body = parseJson<{ error: { code: string; message: string }; exitCode: number }>(r.stdout);
  expect(body.exitCode).toBe(4);
  expect(body.error.code).toBe(code);
  if (typeof mention === 'string') expect(body.error.message).toContain(mention);
  else expect(body.error.message).toMatch(mention);
  expectExit(human, 4);
  expect(human.stderr).toContain(body.error.message.split('\n')[0]!);
  expect(await listAllPaths(work)).toEqual(before);
  expect((await lseOk(store, ['--json', 'fragment', 'list'])).stdout).toBe(listBefore);
}

describe('lse fragment pack refuses unsafe input and writes nothing', () => {
  it("a path with '..'", async () => {
    const t = await writeInput('dotdot.tar', writeTar([dir('usr'), file('usr/../../escaped.txt')]));
    await expectRefused(t, 'TAR_UNSAFE', "'..'");
  });

  it('an absolute path', async () => {
    const t = await writeInput('absolute.tar', writeTar([file('/etc/passwd', 'root::0:0::/:/bin/sh\n')]));
    await expectRefused(t, 'TAR_UNSAFE', /'\/etc\/passwd'.*absolute/);
  });

  it('a symlink whose relative target climbs out of the root', async () => {
    const t = await writeInput(
      'symlink-escape.tar',
      writeTar([dir('usr'), dir('usr/lib'), link('symlink', 'usr/lib/x', '../../../etc/shadow')]),
    );
    await expectRefused(t, 'TAR_UNSAFE', /usr\/lib\/x.*climbs above the root/);
  });

  it('the same symlink from a real directory', async () => {
    const d = join(inputs, 'symlink-dir');
    await mkdir(join(d, 'usr/lib'), { recursive: true });
    await symlink('../../../etc/shadow', join(d, 'usr/lib/x'));
    await expectRefused(d, 'TAR_UNSAFE', /climbs above the root/);
  });

  it('a hardlink pointing outside the root', async () => {
    const t = await writeInput(
      'hardlink-out.tar',
      writeTar([dir('etc'), link('hardlink', 'etc/passwd', '../etc/passwd')]),
    );
    await expectRefused(t, 'TAR_UNSAFE', /etc\/passwd.*hardlink to '\.\.\/etc\/passwd'/);
  });

  it('a hardlink to a missing file', async () => {
    const t = await writeInput(
      'hardlink-missing.tar',
      writeTar([dir('usr'), link('hardlink', 'usr/b', 'usr/missing')]),
    );
    await expectRefused(t, 'TAR_UNSAFE', /usr\/b.*hardlink to 'usr\/missing'/);
  });

  it('a character device entry', async () => {
    const dev: TarEntry = {
      path: 'dev/mem',
      type: 'chardev',
      mode: 0o640,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: 0,
      devmajor: 1,
      devminor: 1,
    };
    const t = await writeInput('chardev.tar', writeTar([dir('dev'), dev]));
    await expectRefused(t, 'TAR_UNSAFE', /dev\/mem.*chardev/);
  });

  it('a FIFO in a real directory', async () => {
    const d = join(inputs, 'fifo-dir');
    await mkdir(join(d, 'run'), { recursive: true });
    execFileSync('mkfifo', [join(d, 'run/pipe')]);
    await expectRefused(d, 'TAR_UNSAFE', /run\/pipe.*fifo/);
  });

  it("a '.wh.' whiteout name", async () => {
    const t = await writeInput('whiteout.tar', writeTar([dir('etc'), file('etc/.wh.passwd', '')]));
    await expectRefused(t, 'TAR_UNSAFE', /whiteout/);
  });

  it('duplicate paths', async () => {
    const t = await writeInput(
      'duplicate.tar',
      writeTar([dir('etc'), file('etc/motd', 'one\n'), file('etc/motd', 'two\n')]),
    );
    await expectRefused(t, 'TAR_UNSAFE', /etc\/motd.*more than once/);
  });

  it('a gzip bomb (64 MiB of zeros, compressed)', async () => {
    const zeros: TarEntry = {
      path: 'zeros',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: 64 * 1024 * 1024,
      data: Buffer.alloc(64 * 1024 * 1024),
    };
    const gz = gzipSync(writeTar([zeros]), { level: 9 });
    expect(gz.length * 200).toBeLessThan(64 * 1024 * 1024); // the ratio really is over the limit
    const t = await writeInput('bomb.tar.gz', gz);
    await expectRefused(t, 'TAR_UNSAFE', /decompression bomb/);
  });

  it('a truncated archive', async () => {
    const whole = writeTar([dir('usr'), file('usr/big', 'y'.repeat(4000))]);
    const t = await writeInput('truncated.tar', whole.subarray(0, 512 * 3));
    await expectRefused(t, 'TAR_INVALID', /truncated/);
  });

  it('a truncated gzip stream', async () => {
    const gz = gzipSync(writeTar([dir('usr'), file('usr/big', 'z'.repeat(40_000))]));
    const t = await writeInput('truncated.tar.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    await expectRefused(t, 'TAR_INVALID', /gzip/);
  });

  describe('setuid', () => {
    const suid = () => writeTar([dir('usr'), dir('usr/bin'), file('usr/bin/su', '#!/bin/sh\n', 0o4755)]);

    it('is refused without --allow-setuid', async () => {
      const t = await writeInput('setuid.tar', suid());
      await expectRefused(t, 'TAR_UNSAFE', /usr\/bin\/su.*setuid/);
    });

    it('is accepted with --allow-setuid, keeping the bit in the signed index', async () => {
      const t = await writeInput('setuid-ok.tar', suid());
      const r = await lseOk(store, [
        '--json',
        'fragment',
        'pack',
        t,
        '--name',
        'su',
        '--version',
        '1.0.0',
        '--key',
        key,
        '--allow-setuid',
      ]);
      const packed = parseJson<{ id: string; created: boolean }>(r.stdout);
      expect(packed.created).toBe(true);
      const shown = parseJson<{
        id: string;
        descriptor: { files: { path: string; mode: number }[]; metadata: Record<string, unknown> };
      }>((await lseOk(store, ['--json', 'fragment', 'show', 'su@1.0.0'])).stdout);
      expect(shown.id).toBe(packed.id);
      expect(shown.descriptor.files.find((f) => f.path === 'usr/bin/su')?.mode).toBe(0o4755);
      expect(shown.descriptor.metadata['allowSetuid']).toBe(true);
    });
  });
});
