/**
 * Host-side extraction of tar entries into a directory (rootfs output, OCI base layers), in the
 * order given: later entries replace earlier ones, so applying layers one after another gives
 * the merged filesystem.
 *
 * Safety rests on one rule: nothing is ever written *through* a symlink. Before each entry, every
 * parent component under `root` is lstat'ed; a symlink there is refused (`TAR_UNSAFE`), a missing
 * directory is created. The final component is removed first when it exists (so an old symlink
 * is replaced, never followed), files are created with O_CREAT|O_EXCL|O_NOFOLLOW, and hardlinks
 * may only name a regular file already inside `root`. Symlinks are created as they are: their
 * targets are neither followed nor checked. Directory modes are applied at the end, deepest
 * first (so a read-only directory does not block its own contents), after re-checking the path.
 *
 * With `whiteouts` (OCI layers): `.wh.NAME` deletes NAME in its directory, `.wh..wh..opq` empties
 * its directory of everything this call did not write (content of earlier layers); neither is
 * written. Without it a `.wh.` name is refused, as the fragment policy does.
 */
import { constants, type Stats } from 'node:fs';
import { link, lstat, lutimes, mkdir, open, readdir, rm, symlink, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LseError, type TarEntry } from '@lse/core';

export interface ExtractOptions {
  /** Apply OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) instead of refusing them. */
  whiteouts?: boolean;
}

const OPAQUE = '.wh..wh..opq';

export async function extractEntries(root: string, entries: TarEntry[], opts: ExtractOptions = {}): Promise<void> {
  const base = resolve(root);
  await mkdir(base, { recursive: true });
  const written = new Set<string>();
  const dirModes = new Map<string, TarEntry>();
  for (const e of entries) {
    const parts = components(e.path, e.path, base);
    if (parts.length === 0) {
      if (e.type === 'dir') continue; // './': the root itself
      refuse(e.path, 'empty', 'has an empty name', base);
    }
    const rel = parts.join('/');
    const name = parts[parts.length - 1] as string;
    if (parts.some((c) => c.startsWith('.wh.'))) {
      if (!opts.whiteouts || parts.slice(0, -1).some((c) => c.startsWith('.wh.'))) {
        refuse(e.path, 'whiteout', "is an OCI whiteout ('.wh.' name); only base layers may carry them", base);
      }
      const parent = await safeDir(base, parts.slice(0, -1), e.path, 'skip');
      if (parent === undefined) continue; // nothing there to delete
      const target = name.slice(4);
      if (target === '' || target === '.' || target === '..')
        refuse(e.path, 'whiteout', `whites out '${target}', which is not a name in its directory`, base);
      if (name === OPAQUE) await emptyDir(parent, parts.slice(0, -1).join('/'), written);
      else if (!name.startsWith('.wh..wh.')) await rm(join(parent, target), { recursive: true, force: true });
      continue; // other '.wh..wh.' names are aufs metadata: nothing to do
    }
    const parent = (await safeDir(base, parts.slice(0, -1), e.path, 'create')) as string;
    const abs = join(parent, name);
    const existing = await lstatOrUndefined(abs);
    switch (e.type) {
      case 'dir':
        if (existing && !existing.isDirectory()) await unlink(abs);
        if (!existing?.isDirectory()) await mkdir(abs, { mode: 0o700 });
        dirModes.set(rel, e);
        break;
      case 'file':
        await removeExisting(abs, existing);
        await writeFileNoFollow(abs, e);
        break;
      case 'symlink':
        if (!e.linkname) refuse(e.path, 'symlink-empty', 'is a symlink without a target', base);
        await removeExisting(abs, existing);
        await symlink(e.linkname, abs);
        await lutimes(abs, e.mtime, e.mtime);
        break;
      case 'hardlink': {
        const targetParts = components(e.linkname ?? '', e.path, base);
        if (targetParts.length === 0 || targetParts.join('/') === rel)
          refuse(e.path, 'hardlink-target', `is a hardlink to '${e.linkname}', which is not another file`, base);
        const targetDir = (await safeDir(base, targetParts.slice(0, -1), e.path, 'refuse')) as string;
        const target = join(targetDir, targetParts[targetParts.length - 1] as string);
        if (!(await lstatOrUndefined(target))?.isFile()) {
          refuse(
            e.path,
            'hardlink-target',
            `is a hardlink to '${e.linkname}', which is not a regular file already extracted`,
            base,
          );
        }
        await removeExisting(abs, existing);
        await link(target, abs);
        break;
      }
      default:
        refuse(e.path, 'device', `is a ${e.type}; device nodes, FIFOs and sockets are never created`, base);
    }
    written.add(rel);
  }
  await applyDirModes(base, dirModes);
}

function refuse(path: string, reason: string, why: string, root: string): never {
  throw new LseError('TAR_UNSAFE', `entry '${path}' ${why}; refusing to extract it into ${root}`, { path, reason });
}

/** Path components, refusing absolute paths, '..' and NUL (`entryPath` names the entry in errors). */
function components(path: string, entryPath: string, root: string): string[] {
  if (path.startsWith('/')) refuse(entryPath, 'absolute', `names the absolute path '${path}'`, root);
  if (path.includes('\0')) refuse(entryPath, 'nul', 'contains a NUL byte', root);
  const parts = path.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) refuse(entryPath, 'dotdot', `has a '..' component in '${path}'`, root);
  return parts;
}

/**
 * Walks `parts` under `base` with lstat and returns the directory's path; refuses symlinks and
 * non-directories. A missing directory is created, refused, or ends the walk with undefined.
 */
async function safeDir(
  base: string,
  parts: string[],
  entryPath: string,
  onMissing: 'create' | 'refuse' | 'skip',
): Promise<string | undefined> {
  let cur = base;
  for (const [i, c] of parts.entries()) {
    cur = join(cur, c);
    const st = await lstatOrUndefined(cur);
    const at = parts.slice(0, i + 1).join('/');
    if (st === undefined) {
      if (onMissing === 'skip') return undefined;
      if (onMissing === 'refuse') refuse(entryPath, 'missing-parent', `needs '${at}', which does not exist`, base);
      await mkdir(cur, { mode: 0o755 });
    } else if (st.isSymbolicLink()) {
      refuse(entryPath, 'through-symlink', `would be written through the symlink '${at}'`, base);
    } else if (!st.isDirectory()) {
      refuse(entryPath, 'parent-not-dir', `lies under '${at}', which is not a directory`, base);
    }
  }
  return cur;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function removeExisting(abs: string, existing: Stats | undefined): Promise<void> {
  if (existing === undefined) return;
  if (existing.isDirectory()) await rm(abs, { recursive: true, force: true });
  else await unlink(abs);
}

async function writeFileNoFollow(abs: string, e: TarEntry): Promise<void> {
  const fh = await open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(e.data ?? Buffer.alloc(0));
    await fh.chmod(e.mode & 0o7777);
    await fh.utimes(e.mtime, e.mtime);
  } finally {
    await fh.close();
  }
}

/** Opaque whiteout: removes everything under `dirAbs` that this call did not write. */
async function emptyDir(dirAbs: string, dirRel: string, written: Set<string>): Promise<void> {
  for (const name of await readdir(dirAbs)) {
    const rel = dirRel ? `${dirRel}/${name}` : name;
    const abs = join(dirAbs, name);
    if (!written.has(rel)) await rm(abs, { recursive: true, force: true });
    else if ((await lstat(abs)).isDirectory()) await emptyDir(abs, rel, written);
  }
}

/** Deepest first; skipped when a later entry replaced the directory or a parent of it. */
async function applyDirModes(base: string, dirModes: Map<string, TarEntry>): Promise<void> {
  const paths = [...dirModes.keys()].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const rel of paths) {
    const e = dirModes.get(rel) as TarEntry;
    const parts = rel.split('/');
    let ok = true;
    let cur = base;
    for (const c of parts) {
      cur = join(cur, c);
      const st = await lstatOrUndefined(cur);
      if (!st?.isDirectory()) ok = false;
      if (!ok) break;
    }
    if (!ok) continue;
    const fh = await open(cur, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      await fh.chmod(e.mode & 0o7777);
      await fh.utimes(e.mtime, e.mtime);
    } finally {
      await fh.close();
    }
  }
}
