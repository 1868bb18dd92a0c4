/**
 * The snapshotter behind containerd's Snapshots API (containerd.services.snapshots.v1), keyed as
 * containerd's metadata layer sends the keys (`<namespace>/<n>/<name>`).
 *
 * - A snapshot made by Prepare has its own directory `s/<n>` (upper `fs`, overlay `work`). Its
 *   mounts are an overlay of its parent chain's layer directories (top first) with its own upper
 *   dir, or a bind mount of `fs` when it has no parent. A view is read-only (bind of the single
 *   lower dir, or an overlay of lower dirs only).
 * - Normal extract path: containerd prepares `.../extract-<rand> <chainID>`, applies the layer tar
 *   into the mounts, and commits it as `.../<chainID>`; the committed snapshot's layer is its `fs`.
 *   When the committed layer is one the fragment cache knows (by diffID, found from the chain ID),
 *   the extracted copy is dropped and the shared fragment directories are used instead.
 * - Remote-snapshot path: Prepare with label `containerd.io/snapshot.ref=<target>` for a layer the
 *   fragment cache can serve creates the committed snapshot `<target>` pointing at the fragment
 *   directories and answers ALREADY_EXISTS, so containerd neither fetches nor unpacks that layer.
 * - Remove deletes the snapshot's own directory only, never a fragment directory; the collector
 *   (cache.ts) removes fragment directories no committed snapshot references.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LseError, sha256Digest } from '@lse/core';
import { parseFilters, snapshotFields } from './filters';
import { diskUsage } from './fsutil';
import { mountGroup, mountsUnder, planLowers, unmountGroup } from './mounts';
import type { SnapshotKind, SnapshotRecord, StateFile } from './state';

export const LABEL_SNAPSHOT_REF = 'containerd.io/snapshot.ref';

export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}
export interface SnapshotInfo {
  name: string;
  parent: string;
  kind: SnapshotKind;
  createdAt: string;
  updatedAt: string;
  labels: Record<string, string>;
}

const notFound = (key: string) => new LseError('SNAPSHOT_NOT_FOUND', `snapshot '${key}' does not exist`, { key });
const exists = (key: string) => new LseError('SNAPSHOT_EXISTS', `snapshot '${key}' already exists`, { key });

/** chainID(n) = sha256(chainID(n-1) + ' ' + diffID(n)); chainID(1) = diffID(1) (OCI image spec). */
export function chainId(parentChain: string, diffId: string): string {
  return parentChain ? sha256Digest(`${parentChain} ${diffId}`) : diffId;
}

/** The chain ID a containerd snapshot key or name ends with (`ns/3/sha256:...`, `ns/4/extract-x sha256:...`). */
export function chainOfKey(key: string): string | undefined {
  const m = /(sha256:[0-9a-f]{64})$/.exec(key);
  return m?.[1];
}

/** containerd's unpack key (`<ns>/<n>/extract-<unique> <chainID>`, snapshots.UnpackKeyFormat); group 1 = the chain ID. */
export const EXTRACT_KEY = /\/extract-[^/ ]* (sha256:[0-9a-f]{64})$/;

export class Snapshotter {
  /** Chain IDs the agent is seeding as one flat snapshot → fragment dirs of the whole stack, top first. */
  private readonly flat = new Map<string, string[]>();

  /**
   * `onExtract`: called (and awaited) when containerd prepares an `extract-` snapshot, before its
   * mounts are returned: the agent makes containerd's records of the rest of that image's chain
   * from the cache when it can (agent.ts), so containerd unpacks no further layer of it.
   */
  constructor(
    private readonly root: string,
    private readonly st: StateFile,
    readonly hooks: {
      onRemoved?: () => void;
      onExtract?: (key: string, parent: string, chain: string) => Promise<void>;
    } = {},
  ) {}

  private get s() {
    return this.st.state;
  }
  private own(r: SnapshotRecord) {
    return join(this.root, 's', String(r.n));
  }

  /** Absolute directories of a committed snapshot's own layer, top first. */
  private layerDirs(key: string): string[] {
    const r = this.s.snapshots[key];
    if (!r) throw notFound(key);
    if (r.fragments) return r.fragments.map((id) => join(this.root, 'f', String(this.s.fragments[id]!.n)));
    return [join(this.own(r), 'fs')];
  }

  /** Layer directories of `parent` and its ancestors, top first. */
  lowers(parent: string): string[] {
    const out: string[] = [];
    for (let k = parent; k; k = this.s.snapshots[k]?.parent ?? '') {
      const r = this.s.snapshots[k];
      if (!r) throw notFound(k);
      out.push(...this.layerDirs(k));
    }
    return out;
  }

  /** The mounts of an active snapshot or view; a stack too large for one overlay gets its bottom grouped (mounts.ts). */
  private async mountsOf(key: string): Promise<Mount[]> {
    const r = this.s.snapshots[key];
    if (!r) throw notFound(key);
    const own = this.own(r);
    const stack = this.lowers(r.parent);
    if (r.kind === 'view') {
      if (stack.length === 0) return [{ type: 'bind', source: join(own, 'fs'), options: ['rbind', 'ro'] }];
      if (stack.length === 1) return [{ type: 'bind', source: stack[0]!, options: ['rbind', 'ro'] }];
      return [
        { type: 'overlay', source: 'overlay', options: [`lowerdir=${(await this.planned(key, stack, [])).join(':')}`] },
      ];
    }
    if (stack.length === 0) return [{ type: 'bind', source: join(own, 'fs'), options: ['rbind', 'rw'] }];
    const others = ['index=off', `workdir=${join(own, 'work')}`, `upperdir=${join(own, 'fs')}`];
    return [
      {
        type: 'overlay',
        source: 'overlay',
        options: [...others, `lowerdir=${(await this.planned(key, stack, others)).join(':')}`],
      },
    ];
  }

  /** Group mounts in use → the snapshot keys using them. */
  private readonly groupUsers = new Map<string, Set<string>>();

  /** `stack` as the overlay's lowerdir list, the group mounts it needs mounted and recorded as used by `key`. */
  private async planned(key: string, stack: string[], others: string[]): Promise<string[]> {
    const plan = planLowers(this.root, stack, others);
    for (const g of plan.groups) {
      await mountGroup(g);
      const users = this.groupUsers.get(g.dir) ?? new Set<string>();
      users.add(key);
      this.groupUsers.set(g.dir, users);
    }
    return plan.lowers;
  }

  /** Unmounts the group mounts no snapshot but `key` used. */
  private async releaseGroups(key: string): Promise<void> {
    for (const [dir, users] of this.groupUsers) {
      if (!users.delete(key) || users.size > 0) continue;
      this.groupUsers.delete(dir);
      await unmountGroup(dir);
    }
  }

  info(key: string): SnapshotInfo {
    const r = this.s.snapshots[key];
    if (!r) throw notFound(key);
    return {
      name: key,
      parent: r.parent,
      kind: r.kind,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      labels: { ...r.labels },
    };
  }

  /**
   * The fragment-cache layer that makes `chain` on top of `parent`: the diffID whose chain ID on
   * the parent's is `chain`, when all its directories are present.
   */
  cachedLayer(parent: string, chain: string): string[] | undefined {
    const parentChain = parent ? (chainOfKey(parent) ?? '') : '';
    if (parent && !parentChain) return undefined;
    for (const [diffId, ids] of Object.entries(this.s.layers)) {
      if (chainId(parentChain, diffId) !== chain) continue;
      if (ids.every((id) => this.s.fragments[id])) return ids;
    }
    return undefined;
  }

  /**
   * While `fn` runs, a remote-snapshot Prepare of `chain` without parent makes one committed
   * snapshot whose layer is the whole stack `ids` (top first): the agent's seeding creates an
   * image's top snapshot in one call instead of one per layer (containerd needs only the top
   * chain ID to run a container; the directories are the same either way).
   */
  async withFlatChain<T>(chain: string, ids: string[], fn: () => Promise<T>): Promise<T> {
    this.flat.set(chain, ids);
    try {
      return await fn();
    } finally {
      this.flat.delete(chain);
    }
  }

  async prepare(
    key: string,
    parent: string,
    labels: Record<string, string>,
    kind: 'active' | 'view' = 'active',
  ): Promise<Mount[]> {
    const target = labels[LABEL_SNAPSHOT_REF];
    if (kind === 'active' && target) {
      const chain = chainOfKey(target);
      const flat = chain && !parent ? this.flat.get(chain) : undefined;
      const ids = flat?.every((id) => this.s.fragments[id])
        ? flat
        : chain
          ? this.cachedLayer(parent, chain)
          : undefined;
      if (ids) {
        const made = await this.st.change((s) => {
          if (s.snapshots[target]) return false;
          if (parent && !s.snapshots[parent]) throw notFound(parent);
          const at = new Date().toISOString();
          s.snapshots[target] = {
            kind: 'committed',
            parent,
            labels: { ...labels },
            createdAt: at,
            updatedAt: at,
            n: s.next++,
            fragments: ids,
          };
          for (const id of ids) s.fragments[id]!.usedAt = at;
          this.st.count('layersFromCache');
          return true;
        });
        // No own directory: its layer is the fragment directories (usage counts 0, remove has nothing to delete).
        throw new LseError(
          'SNAPSHOT_EXISTS',
          `target snapshot '${target}' ${made ? 'was made from the fragment cache' : 'already exists'}`,
          { key: target },
        );
      }
    }
    const extract = kind === 'active' && !target ? EXTRACT_KEY.exec(key)?.[1] : undefined;
    if (extract) {
      // containerd is about to apply a layer tar into this snapshot (its extract path).
      await this.st.change(() => this.st.count('extractPrepares'));
      if (this.hooks.onExtract) await this.hooks.onExtract(key, parent, extract);
    }
    const r = await this.st.change((s) => {
      if (s.snapshots[key]) throw exists(key);
      if (parent) {
        const p = s.snapshots[parent];
        if (!p) throw notFound(parent);
        if (p.kind !== 'committed')
          throw new LseError('SNAPSHOT_INVALID', `parent '${parent}' is not a committed snapshot`, { key, parent });
      }
      const at = new Date().toISOString();
      const rec: SnapshotRecord = { kind, parent, labels: { ...labels }, createdAt: at, updatedAt: at, n: s.next++ };
      s.snapshots[key] = rec;
      return rec;
    });
    await mkdir(join(this.own(r), 'fs'), { recursive: true, mode: 0o755 });
    if (kind === 'active') await mkdir(join(this.own(r), 'work'), { recursive: true, mode: 0o700 });
    return this.mountsOf(key);
  }

  async mounts(key: string): Promise<Mount[]> {
    const r = this.s.snapshots[key];
    if (!r) throw notFound(key);
    if (r.kind === 'committed')
      throw new LseError(
        'SNAPSHOT_INVALID',
        `snapshot '${key}' is committed: mount a view or an active snapshot of it`,
        { key },
      );
    return this.mountsOf(key);
  }

  async commit(name: string, key: string, labels: Record<string, string>): Promise<void> {
    const dedup = await this.st.change((s) => {
      const r = s.snapshots[key];
      if (!r) throw notFound(key);
      if (r.kind !== 'active')
        throw new LseError(
          'SNAPSHOT_INVALID',
          `snapshot '${key}' is ${r.kind}; only active snapshots can be committed`,
          { key },
        );
      if (s.snapshots[name]) throw exists(name);
      const chain = chainOfKey(name);
      const ids = chain ? this.cachedLayer(r.parent, chain) : undefined;
      delete s.snapshots[key];
      const at = new Date().toISOString();
      s.snapshots[name] = {
        ...r,
        kind: 'committed',
        labels: { ...r.labels, ...labels },
        updatedAt: at,
        ...(ids ? { fragments: ids } : {}),
      };
      this.st.count(ids ? 'layersExtractedThenShared' : 'layersExtracted');
      return ids ? r : undefined;
    });
    if (dedup) {
      // containerd extracted a layer the cache holds: keep the shared directories, drop the copy.
      await rm(join(this.own(dedup), 'fs'), { recursive: true, force: true });
      await mkdir(join(this.own(dedup), 'fs'), { recursive: true });
    }
    await rm(join(this.own(this.s.snapshots[name]!), 'work'), { recursive: true, force: true });
  }

  async remove(key: string): Promise<void> {
    const r = await this.st.change((s) => {
      const rec = s.snapshots[key];
      if (!rec) throw notFound(key);
      const child = Object.entries(s.snapshots).find(([, c]) => c.parent === key);
      if (child)
        throw new LseError('SNAPSHOT_IN_USE', `snapshot '${key}' has a child '${child[0]}'; remove that first`, {
          key,
          child: child[0],
        });
      delete s.snapshots[key];
      return rec;
    });
    // The snapshot's own directory (upper/work: the ephemeral layer); fragment directories stay.
    await rm(this.own(r), { recursive: true, force: true });
    await this.releaseGroups(key);
    this.hooks.onRemoved?.();
  }

  async update(name: string, labels: Record<string, string>, paths: string[]): Promise<SnapshotInfo> {
    await this.st.change((s) => {
      const r = s.snapshots[name];
      if (!r) throw notFound(name);
      if (paths.length === 0 || paths.includes('labels')) r.labels = { ...labels };
      else {
        for (const p of paths) {
          const m = /^labels\.(.+)$/.exec(p);
          if (!m)
            throw new LseError('SNAPSHOT_INVALID', `cannot update '${p}': only labels are mutable`, {
              key: name,
              path: p,
            });
          const k = m[1]!;
          if (labels[k] === undefined) delete r.labels[k];
          else r.labels[k] = labels[k]!;
        }
      }
      r.updatedAt = new Date().toISOString();
    });
    return this.info(name);
  }

  /** Snapshots matching any of containerd's `filters` (filters.ts; none = all), by name. */
  list(filters: string[] = []): SnapshotInfo[] {
    const match = parseFilters(filters);
    return Object.keys(this.s.snapshots)
      .sort()
      .map((k) => this.info(k))
      .filter((i) => match(snapshotFields(i)));
  }

  /** Bytes and inodes of the snapshot's own directory (fragment directories are shared: counted by the cache). */
  async usage(key: string): Promise<{ size: number; inodes: number }> {
    const r = this.s.snapshots[key];
    if (!r) throw notFound(key);
    return diskUsage(join(this.own(r), 'fs'));
  }

  /** Removes snapshot directories no snapshot owns (left by a crash between state and disk). */
  async cleanup(): Promise<number> {
    const owned = new Set(Object.values(this.s.snapshots).map((r) => String(r.n)));
    let removed = 0;
    for (const n of await readdir(join(this.root, 's')).catch(() => [] as string[])) {
      if (owned.has(n)) continue;
      await rm(join(this.root, 's', n), { recursive: true, force: true });
      removed++;
    }
    await rm(join(this.root, 'tmp'), { recursive: true, force: true });
    // Group mounts left by an agent that stopped, which no snapshot of this run has asked for.
    for (const dir of await mountsUnder(join(this.root, 'g') + '/'))
      if (!this.groupUsers.has(dir)) await unmountGroup(dir);
    return removed;
  }
}
