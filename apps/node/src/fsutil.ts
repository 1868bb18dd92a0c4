import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes of regular files (hardlinks counted once) and inodes under `dir`, without following links. */
export async function diskUsage(dir: string): Promise<{ size: number; inodes: number }> {
  const seen = new Set<number>();
  let size = 0;
  let inodes = 0;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const name of names) {
      const p = join(d, name);
      const st = await lstat(p);
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
      inodes++;
      if (st.isFile()) size += st.size;
      else if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return { size, inodes };
}
