/**
 * The resolver's catalog in memory (issue 9): every fragment indexed by name and by provided
 * name, and the bases and their tags, so resolving a manifest reads no database.
 *
 * Start: record the feed's position, load the snapshot (every fragment record, every base tag and
 * the bases they name), then follow the feed from the recorded position. A writer publishes an
 * event only after its change is durable, so a change is either in the snapshot (stored before
 * the position was recorded) or replayed (its event comes after it); one in both is applied
 * once (records are immutable, keyed by id). Following starts at once, so a fragment published
 * and acknowledged is visible as soon as its event arrives (milliseconds); a resolution that
 * fails first waits for the events stored so far (`catchUp`) and is tried once more.
 *
 * Events carry the fragment records when small (catalog-events.ts); their ids are checked
 * (id = hash of the descriptor) before they are indexed. Records announced by id only are
 * fetched by `_id`, retried until found (the event comes after the store). Trust changes only
 * advance the position (`generation`): the resolver does not judge trust, the verifier does.
 *
 * Memory: records are kept slim (no file list, no source, metadata reduced to the Debian
 * Priority the solver orders providers by): the lock needs ids, names, versions and relations.
 */
import {
  LseError,
  MemoryCatalog,
  fragmentId,
  type BaseImage,
  type BaseRepository,
  type CatalogEvent,
  type CatalogFeed,
  type Fragment,
  type FragmentRepository,
} from '@lse/core';
import { CATALOG_SUBJECTS, validateBaseTagged, validateFragmentsPublished } from '@lse/contracts';
import type { Log } from './log';
import type { ResolveView } from './ports';

export interface LiveCatalogDeps {
  fragments: Pick<FragmentRepository, 'list' | 'get'>;
  bases: Pick<BaseRepository, 'tags' | 'get' | 'resolveTag'>;
  feed: CatalogFeed;
  log: Log;
  /** Delay between attempts to fetch a fragment announced by id only (default 200 ms). */
  retryMs?: number;
}

export class LiveCatalog implements ResolveView {
  /** The fragments, slim (see the header), by name and provided name. */
  private readonly fragments = new MemoryCatalog();
  private readonly tagged = new Map<string, string>();
  private readonly baseRecords = new Map<string, BaseImage>();
  private applied = 0;
  private stopFeed?: () => Promise<void>;

  private constructor(private readonly deps: LiveCatalogDeps) {}

  /** Loads the snapshot and starts following the feed (see the header). */
  static async start(deps: LiveCatalogDeps): Promise<LiveCatalog> {
    const c = new LiveCatalog(deps);
    const started = Date.now();
    const at = await deps.feed.position();
    for (const f of await deps.fragments.list()) c.index(f);
    for (const t of await deps.bases.tags()) {
      c.tagged.set(`${t.name}:${t.tag}`, t.digest);
      await c.loadBase(t.digest);
    }
    c.applied = at;
    c.stopFeed = await deps.feed.follow(at, (e) => c.apply(e));
    deps.log.info(
      { fragments: c.fragments.size, tags: c.tagged.size, position: at, ms: Date.now() - started },
      'catalog loaded; following catalog events',
    );
    return c;
  }

  /** Fragments indexed. */
  get size(): number {
    return this.fragments.size;
  }

  /** Position of the last catalog event applied: changes whenever the catalog (or trust) changes. */
  get generation(): number {
    return this.applied;
  }

  has(id: string): boolean {
    return this.fragments.has(id);
  }

  byName(name: string): readonly Fragment[] {
    return this.fragments.byName(name);
  }

  providersOf(name: string): readonly Fragment[] {
    return this.fragments.providersOf(name);
  }

  names(): readonly string[] {
    return this.fragments.names();
  }

  readonly bases: ResolveView['bases'] = {
    resolveTag: async (name, tag) => this.tagged.get(`${name}:${tag}`) ?? (await this.missedTag(name, tag)),
    get: async (digest) => this.baseRecords.get(digest) ?? (await this.loadBase(digest)),
  };

  /**
   * Waits (at most `timeoutMs`) until every event stored so far is applied; true when the
   * catalog changed meanwhile. Resolution calls it only after a failure, so that a fragment
   * acknowledged before the request was made is always seen (its event may still be on its way).
   */
  async catchUp(timeoutMs = 15_000): Promise<boolean> {
    const before = this.applied;
    const target = await this.deps.feed.position();
    const deadline = Date.now() + timeoutMs;
    while (this.applied < target && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    if (this.applied < target) {
      // The feed is behind (NATS restarting, the consumer being recreated): an answer now could
      // wrongly say "no such fragment". Retryable, so the stage tries again later.
      throw new LseError(
        'UNAVAILABLE',
        `the in-memory catalog is ${target - this.applied} event(s) behind the catalog stream after ${timeoutMs / 1000} s; retrying`,
        { applied: this.applied, target },
      );
    }
    return this.applied !== before;
  }

  async stop(): Promise<void> {
    await this.stopFeed?.();
  }

  private async apply(e: CatalogEvent): Promise<void> {
    try {
      if (e.subject === CATALOG_SUBJECTS.fragmentsPublished) {
        const m = validateFragmentsPublished(e.data);
        const carried = new Set<string>();
        for (const f of m.fragments ?? []) {
          if (fragmentId(f.descriptor) !== f.id) {
            this.deps.log.warn(
              { seq: e.seq, id: f.id },
              'catalog event carries a fragment whose id is not the hash of its descriptor; fetching it by id instead',
            );
            continue;
          }
          carried.add(f.id);
          this.index(f);
        }
        for (const id of m.ids) if (!carried.has(id) && !this.fragments.has(id)) await this.fetch(id, e.seq);
      } else if (e.subject === CATALOG_SUBJECTS.baseTagged) {
        const t = validateBaseTagged(e.data);
        if (await this.loadBase(t.digest)) this.tagged.set(`${t.name}:${t.tag}`, t.digest);
      }
    } catch (err) {
      this.deps.log.error(
        { seq: e.seq, subject: e.subject, err: (err as Error).message },
        'catalog event could not be applied',
      );
    } finally {
      this.applied = Math.max(this.applied, e.seq);
    }
  }

  /** A record announced by id: stored before the event, so it is there (retried a few times through outages). */
  private async fetch(id: string, seq: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const f = await this.deps.fragments.get(id);
        if (f) return this.index(f);
        if (attempt >= 5)
          return this.deps.log.error({ seq, id }, 'fragment announced by a catalog event is not in the database');
      } catch (err) {
        if (attempt >= 50)
          return this.deps.log.error(
            { seq, id, err: (err as Error).message },
            'fragment announced by a catalog event could not be read',
          );
      }
      await new Promise((r) => setTimeout(r, this.deps.retryMs ?? 200));
    }
  }

  private async loadBase(digest: string): Promise<BaseImage | undefined> {
    const b = await this.deps.bases.get(digest);
    if (b) this.baseRecords.set(digest, b); // immutable by digest (packages may be completed once; see BaseRepository.put)
    return b;
  }

  /** A tag no event announced (a writer that does not publish): asked once, on this miss only. */
  private async missedTag(name: string, tag: string): Promise<string | undefined> {
    const d = await this.deps.bases.resolveTag(name, tag);
    if (d && (await this.loadBase(d))) this.tagged.set(`${name}:${tag}`, d);
    return d;
  }

  private index(full: Fragment): void {
    if (!this.fragments.has(full.id)) this.fragments.add(slim(full));
  }
}

function slim(f: Fragment): Fragment {
  const d = f.descriptor;
  const priority = (d.metadata['debian'] as { control?: Record<string, string> } | undefined)?.control?.['Priority'];
  return {
    id: f.id,
    signatures: [],
    descriptor: {
      ...d,
      files: [],
      source: {},
      metadata: priority ? { debian: { control: { Priority: priority } } } : {},
    },
  };
}
