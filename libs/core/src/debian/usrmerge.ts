/**
 * Merged-/usr canonicalization. Debian 12 systems (debootstrap's default, and every base LSE
 * builds from packages) have `/bin -> usr/bin`, `/sbin -> usr/sbin`, `/lib -> usr/lib`,
 * `/lib64 -> usr/lib64` (and lib32/libx32/libo32 where present) as symlinks, while packages still
 * ship some files under `/bin`, `/lib`, ... . Extracting `bin/ls` over a base where `bin` is a
 * symlink writes through the link, which the tar policy and the extractor refuse (and an OCI
 * layer holding a `bin/` directory would replace the link). So, at import, every path under one of
 * those top-level directories moves to the same path under `usr/`:
 *
 *  - entries: `bin/ls` → `usr/bin/ls`; the top-level directories themselves become `usr/bin` etc.;
 *  - relative symlink targets are re-computed from the new location when the link moved or the
 *    target passes through an aliased directory (`usr/lib/x/libz.so -> ../../../lib/x/libz.so.1`
 *    becomes `libz.so.1`); absolute targets are left alone (they resolve through the compat links);
 *  - hardlink targets are moved the same way;
 *  - when two entries land on one path (a package shipping both `/bin/x` and `/usr/bin/x`, or a
 *    link `/bin/x -> /usr/bin/x` that would now point at itself), the one originally under `usr/`
 *    wins and the other is reported in `aliased`.
 *
 * dpkg itself keeps the original paths in its database; LSE's generated `/var/lib/dpkg/info/*.list`
 * lists the canonical ones (so `dpkg -S /usr/bin/ls` works, `dpkg -S /bin/ls` does not).
 */
import { canonicalPath } from '../tar';
import type { TarEntry } from '../tar';

export const MERGED_USR_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'libo32'] as const;
const ALIASED = new Set<string>(MERGED_USR_DIRS);

/** `bin/ls` → `usr/bin/ls`; other canonical paths unchanged. */
export function mergedUsrPath(canonical: string): string {
  const slash = canonical.indexOf('/');
  const top = slash < 0 ? canonical : canonical.slice(0, slash);
  return ALIASED.has(top) ? `usr/${canonical}` : canonical;
}

/** Lexical resolution of `target` from directory `dir` (both canonical, relative to the root). */
function resolveFrom(dir: string, target: string): string | undefined {
  const parts = dir === '' ? [] : dir.split('/');
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(c);
  }
  return parts.join('/');
}

function relativeFrom(dir: string, to: string): string {
  const a = dir === '' ? [] : dir.split('/');
  const b = to.split('/');
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const rel = [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
  return rel === '' ? '.' : rel;
}

const dirOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');

/** Merged-/usr form of a relative symlink target for a link that moves from `from` to `to`. */
function retarget(from: string, to: string, target: string): string {
  if (target.startsWith('/')) return target;
  const abs = resolveFrom(dirOf(from), target);
  if (abs === undefined) return target; // climbs out: left for the tar policy to refuse
  const canon = mergedUsrPath(abs);
  if (from === to && canon === abs) return target;
  return relativeFrom(dirOf(to), canon);
}

export interface MergedUsrResult {
  entries: TarEntry[];
  /** Paths (original spelling) dropped because another entry owns their merged-/usr path. */
  aliased: string[];
  /** How many entries moved under usr/. */
  moved: number;
}

export function canonicalizeMergedUsr(entries: TarEntry[]): MergedUsrResult {
  const out = new Map<string, { e: TarEntry; fromUsr: boolean; orig: string }>();
  const aliased: string[] = [];
  let moved = 0;
  for (const e of entries) {
    const orig = canonicalPath(e.path);
    if (orig === '') {
      out.set('', { e, fromUsr: true, orig });
      continue;
    }
    const path = mergedUsrPath(orig);
    if (path !== orig) moved++;
    const next: TarEntry = { ...e, path };
    if (e.type === 'symlink' && e.linkname !== undefined) next.linkname = retarget(orig, path, e.linkname);
    if (e.type === 'hardlink' && e.linkname !== undefined) next.linkname = mergedUsrPath(canonicalPath(e.linkname));
    if (e.type === 'symlink' && next.linkname !== undefined && selfLink(path, next.linkname)) {
      aliased.push(orig);
      continue;
    }
    const prev = out.get(path);
    if (prev) {
      if (prev.e.type === 'dir' && next.type === 'dir') {
        if (path === orig) out.set(path, { e: next, fromUsr: true, orig });
        continue;
      }
      if (prev.fromUsr && path !== orig) {
        aliased.push(orig);
        continue;
      }
      aliased.push(prev.orig);
    }
    out.set(path, { e: next, fromUsr: path === orig, orig });
  }
  return { entries: [...out.values()].map((v) => v.e), aliased, moved };
}

/** A link whose target (merged-/usr resolved) is the link itself. */
function selfLink(path: string, target: string): boolean {
  const abs = target.startsWith('/') ? canonicalPath(target) : resolveFrom(dirOf(path), target);
  return abs !== undefined && mergedUsrPath(abs) === path;
}
