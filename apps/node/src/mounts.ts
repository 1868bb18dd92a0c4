/**
 * Overlay mounts with more lower directories than one overlay takes.
 *
 * Two kernel limits bound an overlay: at most 500 lower directories, and the legacy mount(2)
 * data (the option string) must fit one page, 4096 bytes. containerd shortens `lowerdir=` before
 * mounting when the options come near the page (mount_linux.go compactLowerdirOption: it changes
 * into the parent of the lower directories' longest common prefix and passes them relative to it);
 * `mountDataBytes` computes what it then passes.
 *
 * When a snapshot's stack does not fit, the coldest part of it, the bottom of the stack (the base
 * and the deepest dependencies: the layers that change least and that most images share), is
 * grouped into read-only overlays the agent mounts itself under `<root>/g/<id>` (each at most 500
 * directories and one page of options), and those groups stand in the stack for their members. A
 * group's id is a hash of its members, so snapshots with the same bottom share one group mount.
 * Overlays nest one level here (the container's overlay over group overlays over the fragment
 * directories), within the kernel's stacking depth of 2.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { LseError } from '@lse/core';

export const MAX_LOWERS = 500;
export const PAGE = 4096;
/** containerd compacts lowerdir when the options reach PAGE - 512; mount(2) refuses data over PAGE. */
const COMPACT_AT = PAGE - 512;
/** Flags containerd turns into mount(2) flags: not part of the data. */
const FLAGS = new Set([
  'ro',
  'rw',
  'bind',
  'rbind',
  'nosuid',
  'nodev',
  'noexec',
  'suid',
  'dev',
  'exec',
  'remount',
  'sync',
  'async',
  'noatime',
  'relatime',
  'strictatime',
  'nodiratime',
  'diratime',
  'dirsync',
  'mand',
  'nomand',
  'defaults',
  'atime',
  'norelatime',
  'nostrictatime',
]);

function commonPrefix(strs: string[]): string {
  if (strs.length === 0) return '';
  let min = strs[0]!;
  let max = strs[0]!;
  for (const s of strs) {
    if (s < min) min = s;
    if (s > max) max = s;
  }
  let i = 0;
  while (i < min.length && i < max.length && min[i] === max[i]) i++;
  return min.slice(0, i);
}

/** The directory containerd (and `mountGroup`) change into for `dirs`, with a trailing slash; '' for none. */
export function compactBase(dirs: string[]): string {
  if (dirs.length < 2) return '';
  const prefix = commonPrefix(dirs);
  if (!prefix) return '';
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : dirname(prefix);
  return base === '/' || base === '.' ? '' : `${base}/`;
}

/** Bytes of mount(2) data containerd passes for an overlay with `options` (after its lowerdir compaction). */
export function mountDataBytes(options: string[]): number {
  let opts = options;
  const size = options.reduce((a, o) => a + o.length, 0);
  const at = options.findIndex((o) => o.startsWith('lowerdir='));
  if (size >= COMPACT_AT && at >= 0) {
    const dirs = options[at]!.slice('lowerdir='.length).split(':');
    const base = compactBase(dirs);
    if (base)
      opts = [
        ...options.slice(0, at),
        ...options.slice(at + 1),
        `lowerdir=${dirs.map((d) => d.slice(base.length)).join(':')}`,
      ];
  }
  return opts.filter((o) => !FLAGS.has(o)).join(',').length;
}

export interface Group {
  id: string;
  dir: string;
  members: string[];
}
export interface LowerPlan {
  /** What the overlay's lowerdir lists, top first: directories of the stack, then group mount points. */
  lowers: string[];
  /** Groups, top first; each member list top first. */
  groups: Group[];
}

const groupOf = (root: string, members: string[]): Group => {
  const id = createHash('sha256').update(members.join('\n')).digest('hex').slice(0, 12);
  return { id, dir: join(root, 'g', id), members };
};
const groupFits = (members: string[]) =>
  members.length <= MAX_LOWERS && mountDataBytes([`lowerdir=${members.join(':')}`]) <= PAGE;

/**
 * Plans `lowers` (top first) for an overlay whose other options are `others` (upperdir, workdir,
 * index=off): unchanged when they fit, else the bottom of the stack grouped as described above.
 * Throws TOO_LARGE when even groups cannot make it fit (about 250,000 directories).
 */
export function planLowers(root: string, lowers: string[], others: string[] = []): LowerPlan {
  const fits = (l: string[]) =>
    l.length <= MAX_LOWERS && mountDataBytes([...others, `lowerdir=${l.join(':')}`]) <= PAGE;
  let rest = [...lowers];
  const groups: Group[] = [];
  const current = () => [...rest, ...groups.map((g) => g.dir)];
  while (!fits(current())) {
    if (rest.length < 2)
      throw new LseError(
        'TOO_LARGE',
        `a stack of ${lowers.length} directories does not fit an overlay even with its lower part grouped; the image has too many layers for this node`,
        { lowers: lowers.length },
      );
    // The largest bottom chunk of what is left that one group mount takes.
    let lo = 2;
    let hi = Math.min(rest.length, MAX_LOWERS);
    if (!groupFits(rest.slice(-lo)))
      throw new LseError(
        'TOO_LARGE',
        `lower directories under ${root} have names too long to group into overlays of one page`,
        { root },
      );
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (groupFits(rest.slice(-mid))) lo = mid;
      else hi = mid - 1;
    }
    groups.unshift(groupOf(root, rest.slice(-lo)));
    rest = rest.slice(0, -lo);
  }
  return { lowers: current(), groups };
}

const run = promisify(execFile);

/** Mounts group `g` read-only at `g.dir` (members passed relative to their common directory, as containerd does), unless it is mounted. */
export async function mountGroup(g: Group): Promise<void> {
  if (await isMounted(g.dir)) return;
  await mkdir(g.dir, { recursive: true, mode: 0o755 });
  const base = compactBase(g.members);
  const rel = g.members.map((m) => m.slice(base.length));
  await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${rel.join(':')}`, g.dir], {
    cwd: base || '/',
  }).catch((e: Error & { stderr?: string }) => {
    throw new LseError(
      'INTERNAL',
      `could not mount the group of ${g.members.length} lower directories at ${g.dir}: ${e.stderr?.trim() || e.message}`,
      { dir: g.dir },
    );
  });
}

/** Unmounts a group mount point and removes it (nothing when it is not mounted). */
export async function unmountGroup(dir: string): Promise<void> {
  if (await isMounted(dir)) await run('umount', [dir]);
  await rmdir(dir).catch(() => undefined);
}

/** Mount points under `prefix` (from /proc/self/mounts). */
export async function mountsUnder(prefix: string): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p.startsWith(prefix));
}

async function isMounted(dir: string): Promise<boolean> {
  return (await mountsUnder(dir)).includes(dir);
}
