/**
 * Path conflicts between the fragments (and inline files) of one image, judged from their file
 * indexes before any byte is copied.
 *
 * Two owners conflict at a path when both ship an entry there, unless both entries are
 * directories or both are identical (same type and mode, and same content digest for files or
 * same target for links). An owner that ships a non-directory (file or symlink) at `a/b` also
 * conflicts with any other owner that ships something under `a/b/`: in the merged image `a/b`
 * cannot be both. (A symlink does not count as a directory: layering a directory over a symlink
 * replaces the link.) Every conflicting pair is reported once, sorted by path then owners.
 */
import { LseError } from '../errors';
import type { FileEntry } from '../model';

export interface OwnedFiles {
  /** Who ships the files, for messages: `libpng@1.6.43`, `inline files`. */
  owner: string;
  files: FileEntry[];
}

export interface PathConflict {
  path: string;
  /** The two owners, in input order. */
  owners: [string, string];
  reason: string;
}

interface Owned {
  ownerIndex: number;
  entry: FileEntry;
}

export function findPathConflicts(sets: OwnedFiles[]): PathConflict[] {
  const byPath = new Map<string, Owned[]>();
  sets.forEach((set, ownerIndex) => {
    for (const entry of set.files) {
      const list = byPath.get(entry.path);
      if (list === undefined) byPath.set(entry.path, [{ ownerIndex, entry }]);
      else if (!list.some((o) => o.ownerIndex === ownerIndex)) list.push({ ownerIndex, entry });
    }
  });

  const found = new Map<string, PathConflict>();
  const add = (path: string, a: number, b: number, reason: string): void => {
    const [i, j] = a < b ? [a, b] : [b, a];
    const key = `${path}\0${i}\0${j}`;
    if (!found.has(key)) found.set(key, { path, owners: [sets[i].owner, sets[j].owner], reason });
  };

  // Same path in two owners.
  for (const [path, owned] of byPath) {
    for (let x = 0; x < owned.length; x++) {
      for (let y = x + 1; y < owned.length; y++) {
        const reason = sameEntryConflict(
          owned[x].entry,
          owned[y].entry,
          sets[owned[x].ownerIndex].owner,
          sets[owned[y].ownerIndex].owner,
        );
        if (reason !== null) add(path, owned[x].ownerIndex, owned[y].ownerIndex, reason);
      }
    }
  }

  // A non-directory in one owner that is a parent of an entry in another.
  for (const [path, owned] of byPath) {
    for (const parent of ancestors(path)) {
      const atParent = byPath.get(parent);
      if (atParent === undefined) continue;
      for (const p of atParent) {
        if (p.entry.type === 'dir') continue;
        for (const child of owned) {
          if (child.ownerIndex === p.ownerIndex) continue;
          const reason = `${describe(p.entry)} in ${sets[p.ownerIndex].owner}, but ${sets[child.ownerIndex].owner} puts '${path}' under it`;
          add(parent, p.ownerIndex, child.ownerIndex, reason);
        }
      }
    }
  }

  return [...found.values()].sort(
    (a, b) => cmp(a.path, b.path) || cmp(a.owners[0], b.owners[0]) || cmp(a.owners[1], b.owners[1]),
  );
}

/** Throws PATH_CONFLICT naming the first conflict's path and owners (all are in `details`). */
export function assertNoConflicts(sets: OwnedFiles[]): void {
  const conflicts = findPathConflicts(sets);
  if (conflicts.length === 0) return;
  const c = conflicts[0];
  const more = conflicts.length > 1 ? ` (and ${conflicts.length - 1} more conflict(s))` : '';
  throw new LseError(
    'PATH_CONFLICT',
    `'${c.path}' is shipped by both ${c.owners[0]} and ${c.owners[1]}: ${c.reason}${more}; ` +
      'remove one of them from the manifest or pick versions that do not overlap',
    { conflicts },
  );
}

function sameEntryConflict(a: FileEntry, b: FileEntry, ownerA: string, ownerB: string): string | null {
  if (a.type === 'dir' && b.type === 'dir') return null;
  if (a.type !== b.type) return `${describe(a)} in ${ownerA}, ${describe(b)} in ${ownerB}`;
  if (a.mode !== b.mode) {
    return `${a.type} with mode ${octal(a.mode)} in ${ownerA}, mode ${octal(b.mode)} in ${ownerB}`;
  }
  if (a.type === 'file' && (a.digest !== b.digest || a.size !== b.size)) {
    return `different content (${a.digest ?? 'no digest'} in ${ownerA}, ${b.digest ?? 'no digest'} in ${ownerB})`;
  }
  if ((a.type === 'symlink' || a.type === 'hardlink') && a.linkname !== b.linkname) {
    return `${a.type} to '${a.linkname}' in ${ownerA}, to '${b.linkname}' in ${ownerB}`;
  }
  return null;
}

function describe(e: FileEntry): string {
  switch (e.type) {
    case 'dir':
      return 'a directory';
    case 'file':
      return 'a regular file';
    case 'symlink':
      return `a symlink to '${e.linkname}'`;
    case 'hardlink':
      return `a hardlink to '${e.linkname}'`;
  }
}

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
