/**
 * Tar safety policy: judges every member as a container would see it once extracted at `/`.
 *
 * Members are checked in archive order, keeping three facts about what came before:
 * - `seen`: canonical path → type and position of every earlier member (duplicates, hardlinks);
 * - `symlinks`: paths declared as symlinks (nothing may be placed *through* them);
 * - `parents`: every proper ancestor of an earlier member (a directory, explicit or implied, that
 *   must not later be replaced by a symlink or a file).
 * Relative symlink targets are resolved lexically from the link's own directory; climbing above
 * the root is refused. Absolute targets resolve against the image root in the container, so they
 * are fine. The first violation throws `TAR_UNSAFE` with `{ path, reason }`.
 */
import { LseError } from '../errors';
import { excerpt } from '../util/excerpt';
import { canonicalPath, parentPaths, pathComponents } from './path';
import type { TarEntry, TarPolicy } from './types';

export type PolicyReason =
  | 'empty'
  | 'nul'
  | 'absolute'
  | 'dotdot'
  | 'whiteout'
  | 'device'
  | 'setuid'
  | 'duplicate'
  | 'symlink-escape'
  | 'symlink-empty'
  | 'through-symlink'
  | 'dir-replaced'
  | 'parent-not-dir'
  | 'hardlink-target';

export function checkPolicy(entries: TarEntry[], policy: TarPolicy = {}): void {
  const prefix = policy.label ? `${policy.label}: ` : '';
  const refuse = (path: string, reason: PolicyReason, why: string): never => {
    throw new LseError('TAR_UNSAFE', `${prefix}entry '${excerpt(path)}' ${why}`, { path, reason });
  };
  const seen = new Map<string, { type: TarEntry['type']; index: number }>();
  const symlinks = new Set<string>();
  const parents = new Set<string>();

  entries.forEach((e, index) => {
    const raw = e.path;
    if (raw.includes('\0')) refuse(raw, 'nul', 'contains a NUL byte; rename it');
    if (raw.startsWith('/'))
      refuse(raw, 'absolute', 'is an absolute path; store paths relative to the root (usr/bin/x)');
    const parts = pathComponents(raw);
    if (parts.includes('..'))
      refuse(raw, 'dotdot', "has a '..' component and could climb out of the root; remove it or rewrite the path");
    const path = parts.join('/');
    if (path === '') {
      if (e.type === 'dir' && raw !== '') return; // './' : the root directory itself
      refuse(raw, 'empty', 'has an empty name; remove it');
    }
    if (parts.some((c) => c.startsWith('.wh.'))) {
      refuse(
        path,
        'whiteout',
        "is an OCI whiteout ('.wh.' name) and would delete files of other layers; rename or remove it",
      );
    }
    if (e.type === 'chardev' || e.type === 'blockdev' || e.type === 'fifo' || e.type === 'other') {
      refuse(
        path,
        'device',
        `is a ${e.type === 'other' ? 'special file (socket or unknown type)' : e.type}; fragments may only hold files, directories and links, remove it`,
      );
    }
    if (e.type !== 'symlink' && (e.mode & 0o6000) !== 0 && !policy.allowSetuid) {
      refuse(
        path,
        'setuid',
        `has the setuid/setgid bit (mode ${(e.mode & 0o7777).toString(8)}); clear it, or publish with a key trusted for setuid content`,
      );
    }
    for (const p of parentPaths(path)) {
      if (symlinks.has(p))
        refuse(
          path,
          'through-symlink',
          `lies under '${excerpt(p)}', which is a symlink in the same archive; extracting it would write through the link, move it to the link's target`,
        );
      const t = seen.get(p)?.type;
      if (t !== undefined && t !== 'dir')
        refuse(path, 'parent-not-dir', `lies under '${excerpt(p)}', which is a ${t}; fix the archive`);
    }
    const prev = seen.get(path);
    if (e.type !== 'dir' && (parents.has(path) || prev?.type === 'dir')) {
      refuse(
        path,
        'dir-replaced',
        `replaces an earlier directory with a ${e.type}; members could then be written through it, remove one of them`,
      );
    }
    if (prev) refuse(path, 'duplicate', `appears more than once (first as member ${prev.index}); keep one`);
    if (e.type === 'symlink') checkSymlink(path, e.linkname ?? '', refuse);
    if (e.type === 'hardlink') {
      const target = e.linkname ?? '';
      const t = target.startsWith('/') || target.includes('\0') ? undefined : seen.get(canonicalPath(target));
      if (t === undefined || t.type !== 'file' || pathComponents(target).includes('..')) {
        refuse(
          path,
          'hardlink-target',
          `is a hardlink to '${excerpt(target)}', which is not an earlier regular file of this archive; put the target first or store a copy`,
        );
      }
    }
    seen.set(path, { type: e.type, index });
    if (e.type === 'symlink') symlinks.add(path);
    for (const p of parentPaths(path)) parents.add(p);
  });
}

function checkSymlink(path: string, target: string, refuse: (p: string, r: PolicyReason, why: string) => never): void {
  if (target === '' || target.includes('\0'))
    refuse(path, 'symlink-empty', 'is a symlink with an empty or invalid target; fix or remove it');
  if (target.startsWith('/')) return; // resolves against the image root inside the container
  let depth = pathComponents(path).length - 1; // the link's directory
  for (const c of target.split('/')) {
    if (c === '..') depth--;
    else if (c !== '' && c !== '.') depth++;
    if (depth < 0)
      refuse(
        path,
        'symlink-escape',
        `is a symlink to '${excerpt(target)}', which climbs above the root; use an absolute target or a shorter relative one`,
      );
  }
}
