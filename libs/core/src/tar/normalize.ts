/**
 * Turns the members of an untrusted archive (or a walked directory) into a fragment blob: a
 * normalized tar whose bytes depend only on the content, never on member order or host facts.
 *
 * 1. checkPolicy refuses anything unsafe (see policy.ts).
 * 2. Paths become canonical (no './', no trailing '/'); a bare '.' root entry is dropped.
 * 3. Missing parent directories are added (mode 0755).
 * 4. Members are sorted by the UTF-8 bytes of their path, so a directory precedes its contents.
 * 5. Metadata is fixed: mtime = opts.mtime, uid/gid = opts.uid/gid ?? 0, no uname/gname,
 *    permission bits kept (mode & 07777).
 * 6. Hardlink groups (a file and the links naming it) are re-rooted on the path that sorts
 *    first: it becomes the regular file and the others link to it, so every hardlink still
 *    names an earlier regular file after sorting. All members of a group get the file's mode.
 * 7. writeTar writes the result; the file index is returned beside it.
 */
import { LseError } from '../errors';
import type { FileEntry } from '../model';
import { sha256Digest } from '../digest';
import { canonicalPath, comparePaths, parentPaths } from './path';
import { checkPolicy } from './policy';
import type { TarEntry } from './types';
import { writeTar } from './write';

export interface NormalizeOptions {
  /** Seconds since the epoch, written on every member. */
  mtime: number;
  uid?: number;
  gid?: number;
  allowSetuid?: boolean;
  /** Prefix for error messages, e.g. `fragment libpng@1.6.43`. */
  label?: string;
}

export function normalizeEntries(entries: TarEntry[], opts: NormalizeOptions): { tar: Buffer; files: FileEntry[] } {
  checkPolicy(entries, { allowSetuid: opts.allowSetuid, label: opts.label });
  const base = { uid: opts.uid ?? 0, gid: opts.gid ?? 0, mtime: opts.mtime };
  const byPath = new Map<string, TarEntry>();
  for (const e of entries) {
    const path = canonicalPath(e.path);
    if (path === '') continue;
    const out: TarEntry = { path, type: e.type, mode: e.mode & 0o7777, ...base, size: 0 };
    if (e.type === 'file') {
      if (e.data === undefined && e.size > 0) {
        throw new LseError(
          'TAR_INVALID',
          `${opts.label ? `${opts.label}: ` : ''}entry '${path}' has size ${e.size} but no content; provide its data`,
          { path },
        );
      }
      out.data = e.data ?? Buffer.alloc(0);
      out.size = out.data.length;
    } else if (e.type === 'symlink') {
      out.linkname = e.linkname;
    } else if (e.type === 'hardlink') {
      out.linkname = canonicalPath(e.linkname ?? '');
    }
    byPath.set(path, out);
  }
  for (const path of [...byPath.keys()]) {
    for (const p of parentPaths(path)) {
      if (!byPath.has(p)) byPath.set(p, { path: p, type: 'dir', mode: 0o755, ...base, size: 0 });
    }
  }
  const sorted = [...byPath.values()].sort((a, b) => comparePaths(a.path, b.path));
  rerootHardlinks(sorted, byPath);
  const files: FileEntry[] = sorted.map((e) => {
    const f: FileEntry = {
      path: e.path,
      type: e.type as FileEntry['type'],
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      size: e.size,
    };
    if (e.type === 'file') f.digest = sha256Digest(e.data ?? Buffer.alloc(0));
    if (e.linkname !== undefined) f.linkname = e.linkname;
    return f;
  });
  return { tar: writeTar(sorted), files };
}

/** Step 6: `sorted` is in output order; policy guarantees every hardlink names a regular file. */
function rerootHardlinks(sorted: TarEntry[], byPath: Map<string, TarEntry>): void {
  const groups = new Map<TarEntry, TarEntry[]>();
  for (const e of sorted) {
    if (e.type !== 'hardlink') continue;
    const target = byPath.get(e.linkname ?? '');
    if (target === undefined) continue; // unreachable after checkPolicy
    groups.set(target, [...(groups.get(target) ?? []), e]);
  }
  for (const [file, links] of groups) {
    const members = [file, ...links].sort((a, b) => comparePaths(a.path, b.path));
    const first = members[0] as TarEntry;
    const { data, mode } = file;
    for (const m of members) {
      m.mode = mode;
      if (m === first) {
        m.type = 'file';
        m.data = data;
        m.size = data?.length ?? 0;
        delete m.linkname;
      } else {
        m.type = 'hardlink';
        m.linkname = first.path;
        m.size = 0;
        delete m.data;
      }
    }
  }
}
