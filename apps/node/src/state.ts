/**
 * The agent's metadata on disk: one JSON document (`<root>/state.json`) rewritten whole with an
 * atomic rename after every change, so a crash leaves the old or the new state, never half of
 * one. Changes are serialized through one queue. Small on purpose: a node holds hundreds of
 * snapshots and a few thousand fragments, which is a few hundred kilobytes of JSON.
 *
 * Layout under the root (short names keep overlay option strings short):
 *   s/<n>/fs, s/<n>/work   a snapshot's own directory (upper and work dir, or what containerd extracted)
 *   f/<n>                  one fragment's verified content, shared read-only by every snapshot using it
 *   tmp/                   extraction in progress (renamed into f/ when complete)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@lse/adapter-fs';

export type SnapshotKind = 'view' | 'active' | 'committed';

export interface SnapshotRecord {
  kind: SnapshotKind;
  /** Key of the parent (a committed snapshot), '' for none. */
  parent: string;
  labels: Record<string, string>;
  createdAt: string;
  updatedAt: string;
  /** Number of its own directory `s/<n>`. */
  n: number;
  /**
   * For a committed snapshot served from the fragment cache: its layer's content as fragment
   * directories (`f/<n>`, top first) instead of `s/<n>/fs`.
   */
  fragments?: string[];
}

export interface FragmentDir {
  /** Directory number: content in `f/<n>`. */
  n: number;
  /** Bytes of regular files extracted (what the collector budgets). */
  bytes: number;
  /** Fragment label (name@version) for people. */
  label: string;
  /** Last time a snapshot started using it (the collector removes the oldest unused first). */
  usedAt: string;
}

export interface AgentState {
  next: number;
  snapshots: Record<string, SnapshotRecord>;
  /** Fragment id → its directory. */
  fragments: Record<string, FragmentDir>;
  /** Layer diffID → fragment ids whose directories make that layer, top first. */
  layers: Record<string, string[]>;
  /**
   * Counters (metrics): fragmentsMaterialized, fragmentsRefused, bytesFetched (blobs read to
   * materialize), layersExtracted (through containerd's extract path), layersExtractedThenShared,
   * layersFromCache (remote-snapshot path), dirsCollected.
   */
  counters: Record<string, number>;
}

const empty = (): AgentState => ({ next: 1, snapshots: {}, fragments: {}, layers: {}, counters: {} });

export class StateFile {
  private queue: Promise<void> = Promise.resolve();
  private constructor(
    readonly root: string,
    readonly state: AgentState,
  ) {}

  static async open(root: string): Promise<StateFile> {
    let state = empty();
    try {
      state = { ...empty(), ...(JSON.parse(await readFile(join(root, 'state.json'), 'utf8')) as AgentState) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return new StateFile(root, state);
  }

  /** Changes made by `apply` and not written yet. */
  private dirty = false;

  /** Runs `fn` on the state alone (no other change in between), then writes the state. */
  change<T>(fn: (s: AgentState) => T | Promise<T>): Promise<T> {
    return this.enqueue(async () => {
      const out = await fn(this.state);
      await this.write();
      return out;
    });
  }

  /**
   * Runs `fn` like `change` but leaves the write to the next `change` or `flush` (one write for
   * many changes). Only for changes nothing outside the agent relies on until then: a fragment
   * directory put in place (a crash before the write leaves an unrecorded `f/<n>`, which the next
   * directory given that number replaces), never a snapshot containerd is told about.
   */
  apply<T>(fn: (s: AgentState) => T | Promise<T>): Promise<T> {
    return this.enqueue(async () => {
      const out = await fn(this.state);
      this.dirty = true;
      return out;
    });
  }

  /** Writes the changes `apply` left, if any (after every change queued before it). */
  flush(): Promise<void> {
    return this.enqueue(async () => {
      if (this.dirty) await this.write();
    });
  }

  private async write(): Promise<void> {
    this.dirty = false;
    try {
      await writeFileAtomic(join(this.root, 'state.json'), JSON.stringify(this.state));
    } catch (e) {
      this.dirty = true;
      throw e;
    }
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  count(name: string, by = 1): void {
    this.state.counters[name] = (this.state.counters[name] ?? 0) + by;
  }
}
