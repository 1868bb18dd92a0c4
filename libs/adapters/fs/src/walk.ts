import { constants } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { LseError, type TarEntry } from '@lse/core';

/**
 * Lists a directory tree as tar entries, without following symlinks (lstat only): regular files
 * with their data, directories, symlinks with their target. Files sharing one inode (dev, ino)
 * become one regular file (the path that sorts first) and hardlinks to it. FIFOs, devices and
 * sockets are reported with their type (never opened) so that the tar policy refuses them.
 * Paths are relative to `dir`, '/'-separated, sorted by UTF-8 bytes; `dir` itself is not listed.
 */
export async function walkDirectory(dir: string): Promise<TarEntry[]> {
  const root = await lstat(dir).catch(() => undefined);
  if (!root?.isDirectory())
    throw new LseError('USAGE', `'${dir}' is not a directory; pass the directory whose contents make the fragment`, {
      dir,
    });
  const entries: { entry: TarEntry; inode?: string }[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(dir, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(dir, path);
      const st = await lstat(abs);
      const entry: TarEntry = {
        path,
        type: 'other',
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        mtime: Math.floor(st.mtimeMs / 1000),
        size: 0,
      };
      let inode: string | undefined;
      if (st.isFile()) {
        entry.type = 'file';
        if (st.nlink > 1) inode = `${st.dev}:${st.ino}`;
      } else if (st.isDirectory()) entry.type = 'dir';
      else if (st.isSymbolicLink()) {
        entry.type = 'symlink';
        entry.linkname = await readlink(abs);
      } else if (st.isFIFO()) entry.type = 'fifo';
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        entry.type = st.isCharacterDevice() ? 'chardev' : 'blockdev';
        // Linux dev_t encoding (glibc major()/minor()).
        entry.devmajor = ((st.rdev >>> 8) & 0xfff) | (Math.floor(st.rdev / 2 ** 32) & ~0xfff);
        entry.devminor = (st.rdev & 0xff) | ((st.rdev >>> 12) & ~0xff);
      }
      entries.push({ entry, inode });
      if (entry.type === 'dir') await visit(path);
    }
  };
  await visit('');
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.entry.path), Buffer.from(b.entry.path))); // UTF-8 byte order

  const firstOfInode = new Map<string, string>();
  for (const { entry, inode } of entries) {
    if (inode === undefined) continue;
    const first = firstOfInode.get(inode);
    if (first === undefined) firstOfInode.set(inode, entry.path);
    else {
      entry.type = 'hardlink';
      entry.linkname = first;
    }
  }
  for (const { entry } of entries) {
    if (entry.type === 'file') {
      entry.data = await readRegularFile(join(dir, entry.path));
      entry.size = entry.data.length;
    }
  }
  return entries.map((x) => x.entry);
}

/** Reads a file that lstat saw as regular, refusing it if it was swapped for a link or FIFO since. */
async function readRegularFile(abs: string): Promise<Buffer> {
  const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!(await fh.stat()).isFile())
      throw new LseError(
        'TAR_UNSAFE',
        `'${abs}' changed while it was read (no longer a regular file); retry when the directory is stable`,
        { path: abs, reason: 'changed' },
      );
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
