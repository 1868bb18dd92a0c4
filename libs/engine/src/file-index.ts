import { canonicalPath, comparePaths, sha256Digest, type FileEntry, type TarEntry } from '@lse/core';

/** The file index a tar's entries describe (the same shape packing records in the descriptor). */
export function fileIndexOf(entries: TarEntry[]): FileEntry[] {
  const out: FileEntry[] = [];
  for (const e of entries) {
    const path = canonicalPath(e.path);
    if (path === '') continue;
    if (e.type !== 'file' && e.type !== 'dir' && e.type !== 'symlink' && e.type !== 'hardlink') continue;
    const f: FileEntry = {
      path,
      type: e.type,
      mode: e.mode & 0o7777,
      uid: e.uid,
      gid: e.gid,
      size: e.type === 'file' ? e.size : 0,
    };
    if (e.type === 'file') f.digest = sha256Digest(e.data ?? Buffer.alloc(0));
    if (e.type === 'symlink') f.linkname = e.linkname ?? '';
    if (e.type === 'hardlink') f.linkname = canonicalPath(e.linkname ?? '');
    out.push(f);
  }
  return out.sort((a, b) => comparePaths(a.path, b.path));
}

/** First difference between two indexes, as a sentence, or undefined when they are equal. */
export function indexDifference(signed: FileEntry[], actual: FileEntry[]): string | undefined {
  const a = new Map(signed.map((f) => [f.path, f]));
  const b = new Map(actual.map((f) => [f.path, f]));
  for (const [path, f] of b) {
    const s = a.get(path);
    if (!s) return `'${path}' is in the blob but not in the signed file index`;
    for (const k of ['type', 'mode', 'uid', 'gid', 'size', 'digest', 'linkname'] as const) {
      if ((s[k] ?? null) !== (f[k] ?? null))
        return `'${path}' has ${k} ${String(f[k])} in the blob but ${String(s[k])} in the signed file index`;
    }
  }
  for (const path of a.keys()) if (!b.has(path)) return `'${path}' is in the signed file index but not in the blob`;
  return undefined;
}
