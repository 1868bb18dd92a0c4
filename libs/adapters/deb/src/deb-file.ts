/**
 * Reading a Debian binary package (.deb) with the host's dpkg-deb, which knows every compression
 * a .deb may use (gzip, xz, zstd, bzip2): `--ctrl-tarfile` gives the control archive (control,
 * md5sums, conffiles, maintainer scripts), `--fsys-tarfile` the payload. Both are plain tars,
 * parsed with core's readTar.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LseError, readTar, sha256Hex, type DebContents } from '@lse/core';
import { run } from './run';

async function tarOf(file: string, flag: string): Promise<Buffer> {
  const r = await run('dpkg-deb', [flag, file]);
  if (r.code !== 0) {
    throw new LseError(
      'FRAGMENT_INVALID',
      `${file} is not a readable Debian package: ${r.stderr.trim().split('\n').pop() ?? `dpkg-deb exited with ${r.code}`}`,
      { file },
    );
  }
  return r.stdout;
}

/** The package's contents, and the sha256 (hex) and size of the .deb itself. */
export async function readDebFile(file: string): Promise<DebContents & { sha256: string; size: number }> {
  const raw = await readFile(file).catch(() => {
    throw new LseError('USAGE', `${file} does not exist or cannot be read; give a .deb file`, { file });
  });
  return { ...(await contentsOf(file)), sha256: sha256Hex(raw), size: raw.length };
}

/**
 * The contents of a .deb held in memory (already verified by the caller). dpkg-deb reads files,
 * so the bytes go to a private temporary directory that is removed afterwards.
 */
export async function readDebBuffer(deb: Buffer, label: string): Promise<DebContents> {
  const dir = await mkdtemp(join(tmpdir(), 'lse-deb-'));
  try {
    const file = join(dir, 'package.deb');
    await writeFile(file, deb, { mode: 0o600 });
    return await contentsOf(file).catch((e: unknown) => {
      if (e instanceof LseError) throw new LseError(e.code, e.message.replace(file, label), e.details);
      throw e;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function contentsOf(file: string): Promise<DebContents> {
  const [ctrl, data] = await Promise.all([tarOf(file, '--ctrl-tarfile'), tarOf(file, '--fsys-tarfile')]);
  const controlFiles: Record<string, Buffer> = {};
  for (const e of readTar(ctrl)) {
    if (e.type !== 'file') continue;
    const name = e.path.replace(/^(\.\/)+/, '');
    if (name.includes('/')) continue;
    controlFiles[name] = Buffer.from(e.data ?? Buffer.alloc(0));
  }
  const control = controlFiles['control'];
  if (!control)
    throw new LseError(
      'FRAGMENT_INVALID',
      `${file}: the control archive has no 'control' member; is it a binary package?`,
      { file },
    );
  delete controlFiles['control'];
  return { control: control.toString('utf8'), controlFiles, entries: readTar(data) };
}
