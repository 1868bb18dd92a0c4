import { existsSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  LseError,
  fragmentSetDigest,
  isDigest,
  sha256Digest,
  type BaseImage,
  type BaseRepository,
  type DebianReleaseLog,
  type DebianReleaseRecord,
  type Fragment,
  type FragmentRepository,
  type FragmentVerdict,
  type LayerRecord,
  type LayerRecordRepository,
  type TrustStore,
  type TrustedKey,
  type VerdictRepository,
} from '@lse/core';
import { isNotFound, writeFileAtomic } from './atomic';
import { randomBytes } from 'node:crypto';

const NAME_RE = /^[a-z0-9][a-z0-9+._-]*$/;

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).filter((n) => !n.includes('.tmp-')).sort();
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

/**
 * Fragments on disk. `by-id/<hex>.json` holds the record; the empty markers
 * `by-provide/<virtual>/<hex>` (one per provided name) and then `by-name/<name>/<hex>` are written
 * after it, and the by-name marker is the commit point: listing goes through the markers, so a
 * crash before it leaves an unlisted (and harmless) record, never a listed half-written one.
 * Candidates for a name are therefore two directory listings, also in a store of a whole Debian
 * index (63,000 records). Stores written before by-provide existed are indexed once, on the first
 * `candidates` call (`by-provide/.complete` records that it was done).
 */
export class FsFragmentRepository implements FragmentRepository {
  private providesReady?: Promise<void>;
  constructor(private readonly root: string) {}

  private recordPath(id: string): string {
    if (!isDigest(id)) throw new LseError('FRAGMENT_UNKNOWN', `'${id}' is not a fragment id (sha256:<64 hex>)`, { id });
    return join(this.root, 'by-id', `${id.slice(7)}.json`);
  }

  private async committed(f: Fragment): Promise<boolean> {
    return (
      existsSync(join(this.root, 'by-name', f.descriptor.name, f.id.slice(7))) && existsSync(this.recordPath(f.id))
    );
  }

  async put(f: Fragment): Promise<'created' | 'exists'> {
    const name = f.descriptor.name;
    if (!NAME_RE.test(name)) throw new LseError('FRAGMENT_INVALID', `fragment name '${name}' is not valid`, { name });
    const provides = f.descriptor.provides.map((p) => p.name);
    const bad = provides.find((p) => !NAME_RE.test(p));
    if (bad)
      throw new LseError('FRAGMENT_INVALID', `fragment ${name} provides '${bad}', which is not a valid name`, {
        name,
        provides: bad,
      });
    if (await this.committed(f)) return 'exists';
    await (this.providesReady ??= this.indexProvides());
    if (!existsSync(this.recordPath(f.id))) await writeFileAtomic(this.recordPath(f.id), JSON.stringify(f));
    for (const p of new Set(provides)) await this.marker('by-provide', p, f.id);
    await this.marker('by-name', name, f.id);
    return 'created';
  }

  private async marker(kind: string, name: string, id: string): Promise<void> {
    const dir = join(this.root, kind, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, id.slice(7)), '');
  }

  async putMany(fs: Fragment[]): Promise<{ created: number; existing: number }> {
    let created = 0;
    await inParallel(fs, 16, async (f) => {
      if ((await this.put(f)) === 'created') created++;
    });
    await mkdir(join(this.root, 'sets'), { recursive: true });
    await writeFile(join(this.root, 'sets', fragmentSetDigest(fs.map((f) => f.id)).slice(7)), '');
    return { created, existing: fs.length - created };
  }

  /** `sets/<hex>` is written after every fragment of a putMany is committed. */
  async storedSets(digests: string[]): Promise<boolean[]> {
    return digests.map((d) => isDigest(d) && existsSync(join(this.root, 'sets', d.slice(7))));
  }

  async get(id: string): Promise<Fragment | undefined> {
    return readJson<Fragment>(this.recordPath(id));
  }

  private async idsIn(kind: string, name: string): Promise<string[]> {
    if (!NAME_RE.test(name)) return [];
    return (await listDir(join(this.root, kind, name))).map((hex) => `sha256:${hex}`);
  }

  async byName(name: string): Promise<Fragment[]> {
    const out: Fragment[] = [];
    for (const id of await this.idsIn('by-name', name)) {
      const f = await this.get(id);
      if (f) out.push(f);
    }
    return out;
  }

  async list(): Promise<Fragment[]> {
    const out: Fragment[] = [];
    for (const name of await listDir(join(this.root, 'by-name'))) out.push(...(await this.byName(name)));
    return out;
  }

  async candidates(names: string[]): Promise<Fragment[]> {
    if (!names.length) return [];
    await (this.providesReady ??= this.indexProvides());
    const ids = new Set<string>();
    for (const n of new Set(names)) {
      for (const id of await this.idsIn('by-name', n)) ids.add(id);
      for (const id of await this.idsIn('by-provide', n)) ids.add(id);
    }
    const out: Fragment[] = [];
    await inParallel([...ids], 16, async (id) => {
      const f = await this.get(id);
      // a by-provide marker whose by-name marker is not written yet is not a fragment yet
      if (f && (await this.committed(f))) out.push(f);
    });
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** One-time backfill of by-provide markers for stores written before they existed. */
  private async indexProvides(): Promise<void> {
    const done = join(this.root, 'by-provide', '.complete');
    if (existsSync(done)) return;
    for (const f of await this.list())
      for (const p of new Set(f.descriptor.provides.map((x) => x.name)))
        if (NAME_RE.test(p)) await this.marker('by-provide', p, f.id);
    await mkdir(join(this.root, 'by-provide'), { recursive: true });
    await writeFile(done, '');
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Trust store on disk: one JSON file, replaced atomically. */
export class FsTrustStore implements TrustStore {
  private readonly file: string;
  constructor(root: string) {
    this.file = join(root, 'keys.json');
  }
  private async load(): Promise<TrustedKey[]> {
    return (await readJson<TrustedKey[]>(this.file)) ?? [];
  }
  private async save(keys: TrustedKey[]): Promise<void> {
    keys.sort((a, b) => a.name.localeCompare(b.name));
    await writeFileAtomic(this.file, JSON.stringify(keys, null, 2) + '\n');
  }
  async list(): Promise<TrustedKey[]> {
    return this.load();
  }
  async get(name: string): Promise<TrustedKey | undefined> {
    return (await this.load()).find((k) => k.name === name);
  }
  async add(key: TrustedKey): Promise<void> {
    const keys = await this.load();
    const i = keys.findIndex((k) => k.name === key.name);
    if (i >= 0) {
      const old = keys[i]!;
      if (old.publicKey !== key.publicKey) {
        throw new LseError(
          'KEY_INVALID',
          `a different key named '${key.name}' is already trusted; revoke it and choose another name`,
          { name: key.name },
        );
      }
      keys[i] = { ...key, revoked: old.revoked, ...(old.revokedAt ? { revokedAt: old.revokedAt } : {}) };
    } else keys.push(key);
    await this.save(keys);
  }
  async revoke(name: string, at: string): Promise<void> {
    const keys = await this.load();
    const k = keys.find((x) => x.name === name);
    if (!k) throw new LseError('KEY_UNTRUSTED', `no key named '${name}' in the trust store`, { name });
    if (!k.revoked) Object.assign(k, { revoked: true, revokedAt: at });
    await this.save(keys);
  }
}

/** Bases on disk: `<hex>.json` per base (immutable), `tags.json` for the name:tag pointers. */
export class FsBaseRepository implements BaseRepository {
  constructor(private readonly root: string) {}
  private path(digest: string): string {
    if (!isDigest(digest))
      throw new LseError('BASE_UNKNOWN', `'${digest}' is not a base digest (sha256:<64 hex>)`, { digest });
    return join(this.root, `${digest.slice(7)}.json`);
  }
  async put(base: BaseImage): Promise<void> {
    const old = await this.get(base.digest);
    if (old && (old.packages || !base.packages)) return;
    await writeFileAtomic(this.path(base.digest), JSON.stringify(base));
  }
  async get(digest: string): Promise<BaseImage | undefined> {
    return readJson<BaseImage>(this.path(digest));
  }
  private async pointers(): Promise<Record<string, string>> {
    return (await readJson<Record<string, string>>(join(this.root, 'tags.json'))) ?? {};
  }
  async tag(name: string, tag: string, digest: string): Promise<void> {
    if (!(await this.get(digest))) throw new LseError('BASE_UNKNOWN', `no base with digest ${digest}`, { digest });
    const p = await this.pointers();
    p[`${name}:${tag}`] = digest;
    await writeFileAtomic(join(this.root, 'tags.json'), JSON.stringify(p, Object.keys(p).sort(), 2) + '\n');
  }
  async resolveTag(name: string, tag: string): Promise<string | undefined> {
    return (await this.pointers())[`${name}:${tag}`];
  }
  async tags(): Promise<{ name: string; tag: string; digest: string }[]> {
    return Object.entries(await this.pointers())
      .map(([k, digest]) => {
        const i = k.lastIndexOf(':');
        return { name: k.slice(0, i), tag: k.slice(i + 1), digest };
      })
      .sort((a, b) => (a.name + ':' + a.tag).localeCompare(b.name + ':' + b.tag));
  }
}

/**
 * Writes `data` at `path` only if nothing is there: the whole file is written beside it and then
 * hard-linked into place (`link` fails with EEXIST when the name exists, atomically), so readers
 * see nothing or all of it and the first writer wins. False when the file existed.
 */
async function insertOnceFile(path: string, data: string): Promise<boolean> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFileAtomic(tmp, data);
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Layer records on disk: `<hex of the input key>.json`, insert-once. */
export class FsLayerRecordRepository implements LayerRecordRepository {
  constructor(private readonly root: string) {}
  private path(key: string): string {
    if (!isDigest(key)) throw new LseError('INTERNAL', `'${key}' is not a layer input key (sha256:<64 hex>)`, { key });
    return join(this.root, `${key.slice(7)}.json`);
  }
  async get(key: string): Promise<LayerRecord | undefined> {
    return readJson<LayerRecord>(this.path(key));
  }
  async put(r: LayerRecord): Promise<'created' | 'exists'> {
    return (await insertOnceFile(this.path(r.key), JSON.stringify(r))) ? 'created' : 'exists';
  }
}

const VERDICT_ID_RE = /^sha256:([0-9a-f]{64})@sha256:([0-9a-f]{64})$/;

/** Verdicts on disk: `<fragment hex>@<generation hex>.json`, insert-once. */
export class FsVerdictRepository implements VerdictRepository {
  constructor(private readonly root: string) {}
  private path(id: string): string {
    const m = VERDICT_ID_RE.exec(id);
    if (!m) throw new LseError('INTERNAL', `'${id}' is not a verdict id (<fragment id>@<trust generation>)`, { id });
    return join(this.root, `${m[1]}@${m[2]}.json`);
  }
  async get(id: string): Promise<FragmentVerdict | undefined> {
    return readJson<FragmentVerdict>(this.path(id));
  }
  async put(v: FragmentVerdict): Promise<'created' | 'exists'> {
    return (await insertOnceFile(this.path(v.id), JSON.stringify(v))) ? 'created' : 'exists';
  }
}

/**
 * `<root>/<sha256 of the suite>.json`: the newest Debian release imported per suite. Read, compare
 * and replace atomically; two imports of one suite at the same moment may both pass the rollback
 * check, which the check tolerates (both are at least as new as what was there).
 */
export class FsDebianReleaseLog implements DebianReleaseLog {
  constructor(private readonly root: string) {}
  private path(suite: string): string {
    return join(this.root, `${sha256Digest(Buffer.from(suite, 'utf8')).slice(7)}.json`);
  }
  async newest(suite: string): Promise<DebianReleaseRecord | undefined> {
    return readJson<DebianReleaseRecord>(this.path(suite));
  }
  /** `<root>/all/<sha256 of suite, date and InRelease>`: every release recorded (insert-once). */
  private recordPath(r: DebianReleaseRecord): string {
    const key = JSON.stringify([r.suite, new Date(Date.parse(r.date)).toISOString(), r.inRelease]);
    return join(this.root, 'all', `${sha256Digest(Buffer.from(key, 'utf8')).slice(7)}.json`);
  }
  async record(r: DebianReleaseRecord): Promise<void> {
    await mkdir(join(this.root, 'all'), { recursive: true });
    await insertOnceFile(this.recordPath(r), JSON.stringify(r));
    const had = await this.newest(r.suite);
    if (had && Date.parse(had.date) >= Date.parse(r.date)) return;
    await writeFileAtomic(this.path(r.suite), JSON.stringify(r));
  }
  async has(r: DebianReleaseRecord): Promise<boolean> {
    return existsSync(this.recordPath(r));
  }
}
