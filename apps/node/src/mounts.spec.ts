/**
 * Overlay stacks over 500 lower directories (mounts.ts): the plan keeps every overlay within 500
 * lower directories and one page of options (as containerd passes them), keeps the order, and,
 * as root, the mounted view of 1,200 directories is the stack's merged view.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MAX_LOWERS,
  PAGE,
  compactBase,
  mountDataBytes,
  mountGroup,
  mountsUnder,
  planLowers,
  unmountGroup,
  type LowerPlan,
} from './mounts';
import { Snapshotter } from './snapshotter';
import { StateFile } from './state';

const expand = (plan: LowerPlan) => plan.lowers.flatMap((l) => plan.groups.find((g) => g.dir === l)?.members ?? [l]);

describe('overlay stacks over 500 lower directories', () => {
  const root = '/var/lib/lse-node';
  const others = ['index=off', `workdir=${root}/s/123456/work`, `upperdir=${root}/s/123456/fs`];

  it('leaves a stack that fits as it is (containerd compacts lowerdir near the page)', () => {
    const stack = Array.from({ length: 300 }, (_, i) => `${root}/f/${10000 + i}`);
    expect(mountDataBytes([...others, `lowerdir=${stack.join(':')}`])).toBeLessThanOrEqual(PAGE);
    expect(mountDataBytes([...others, `lowerdir=${stack.join(':')}`])).toBeLessThan(
      [...others, `lowerdir=${stack.join(':')}`].join(',').length,
    ); // compacted
    expect(planLowers(root, stack, others)).toEqual({ lowers: stack, groups: [] });
    expect(compactBase([`${root}/f/12`, `${root}/f/13`])).toBe(`${root}/f/`);
    expect(compactBase([`${root}/f/12`, `${root}/g/ab`])).toBe(`${root}/`);
  });

  it('groups the bottom of a stack of 1,200 into overlays that each fit, in order', () => {
    const stack = Array.from({ length: 1200 }, (_, i) => `${root}/f/${100000 + i}`);
    const plan = planLowers(root, stack, others);
    expect(plan.groups.length).toBeGreaterThan(0);
    expect(plan.lowers.length).toBeLessThanOrEqual(MAX_LOWERS);
    expect(mountDataBytes([...others, `lowerdir=${plan.lowers.join(':')}`])).toBeLessThanOrEqual(PAGE);
    for (const g of plan.groups) {
      expect(g.members.length).toBeLessThanOrEqual(MAX_LOWERS);
      expect(mountDataBytes([`lowerdir=${g.members.join(':')}`])).toBeLessThanOrEqual(PAGE);
    }
    expect(expand(plan)).toEqual(stack); // the same directories, top first
    expect(plan.lowers.slice(0, 10)).toEqual(stack.slice(0, 10)); // the top (hot) stays a directory of its own
    expect(plan.lowers.slice(-plan.groups.length)).toEqual(plan.groups.map((g) => g.dir)); // the bottom (cold) is grouped
    expect(planLowers(root, stack, others)).toEqual(plan); // deterministic: same members, same group ids
  });

  const asRoot = process.getuid?.() === 0 && readFileSync('/proc/filesystems', 'utf8').includes('overlay');

  (asRoot ? it : it.skip)(
    'as root: the snapshotter mounts the groups an active snapshot of 700 fragments needs, and unmounts them when it is removed',
    async () => {
      const base = mkdtempSync(join(tmpdir(), 'lse-mounts-sn-'));
      try {
        const st = await StateFile.open(base);
        const ids = Array.from({ length: 700 }, (_, i) => `frag-${i}`);
        await st.change((s) => {
          ids.forEach((id, i) => {
            mkdirSync(join(base, 'f', String(1000 + i)), { recursive: true });
            s.fragments[id] = { n: 1000 + i, bytes: 0, label: id, usedAt: new Date(0).toISOString() };
          });
          s.snapshots['default/1/sha256:top'] = {
            kind: 'committed',
            parent: '',
            labels: {},
            createdAt: '',
            updatedAt: '',
            n: 1,
            fragments: ids,
          };
          s.next = 2;
        });
        const sn = new Snapshotter(base, st);
        const [m] = await sn.prepare('default/2/container', 'default/1/sha256:top', {});
        const lowers = /lowerdir=(.*)$/.exec(m!.options.find((o) => o.startsWith('lowerdir='))!)![1]!.split(':');
        expect(lowers.length).toBeLessThanOrEqual(MAX_LOWERS);
        expect(mountDataBytes(m!.options)).toBeLessThanOrEqual(PAGE);
        const groups = lowers.filter((l) => l.startsWith(join(base, 'g') + '/'));
        expect(groups.length).toBeGreaterThan(0);
        expect((await mountsUnder(join(base, 'g') + '/')).sort()).toEqual([...groups].sort());
        await sn.remove('default/2/container');
        expect(await mountsUnder(base)).toEqual([]);
      } finally {
        for (const dir of await mountsUnder(base)) await unmountGroup(dir);
        rmSync(base, { recursive: true, force: true });
      }
    },
  );
  (asRoot ? it : it.skip)(
    'as root: the mounted stack of 1,200 directories shows every file, the top one winning',
    async () => {
      const base = mkdtempSync(join(tmpdir(), 'lse-mounts-'));
      const target = join(base, 'merged');
      const plan = (() => {
        const stack: string[] = [];
        for (let i = 0; i < 1200; i++) {
          const d = join(base, 'f', String(i));
          mkdirSync(d, { recursive: true });
          writeFileSync(join(d, `file-${i}`), `${i}\n`);
          writeFileSync(join(d, 'same'), `${i}\n`);
          stack.push(d);
        }
        return planLowers(base, stack, []);
      })();
      try {
        for (const g of plan.groups) await mountGroup(g);
        mkdirSync(target);
        const lowerdir = `lowerdir=${plan.lowers.map((l) => l.slice(compactBase(plan.lowers).length)).join(':')}`;
        expect(lowerdir.length).toBeLessThanOrEqual(PAGE);
        execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', lowerdir, target], { cwd: compactBase(plan.lowers) });
        try {
          const names = readdirSync(target);
          expect(names).toHaveLength(1201);
          expect(readFileSync(join(target, 'same'), 'utf8')).toBe('0\n'); // the top of the stack wins
          expect(readFileSync(join(target, 'file-1199'), 'utf8')).toBe('1199\n'); // the very bottom is there
        } finally {
          execFileSync('umount', [target]);
        }
      } finally {
        for (const g of plan.groups) await unmountGroup(g.dir);
        expect(await mountsUnder(base)).toEqual([]);
        rmSync(base, { recursive: true, force: true });
      }
    },
  );
});
