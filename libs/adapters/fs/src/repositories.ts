import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  LseError, isDigest, type BaseImage, type BaseRepository, type Fragment, type FragmentRepository, type TrustStore, type TrustedKey,
} from '@lse/core';
import { isNotFound, writeFileAtomic } from './atomic';

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
 * Fragments on disk. `by-id/<hex>.json` holds the record; the empty marker
 * `by-name/<name>/<hex>` is written after it and is the commit point: listing goes through the
 * markers, so a crash between the two leaves an unlisted (and harmless) record, never a listed
 * half-written one.
 */
export class FsFragmentRepository implements FragmentRepository {
  constructor(private readonly root: string) {}

  private recordPath(id: string): string {
    if (!isDigest(id)) throw new LseError('FRAGMENT_UNKNOWN', `'${id}' is not a fragment id (sha256:<64 hex>)`, { id });
    return join(this.root, 'by-id', `${id.slice(7)}.json`);
  }

  async put(f: Fragment): Promise<'created' | 'exists'> {
    const name = f.descriptor.name;
    if (!NAME_RE.test(name)) throw new LseError('FRAGMENT_INVALID', `fragment name '${name}' is not valid`, { name });
    const marker = join(this.root, 'by-name', name, f.id.slice(7));
    const existed = (await readJson<Fragment>(this.recordPath(f.id))) !== undefined && (await listDir(join(this.root, 'by-name', name))).includes(f.id.slice(7));
    if (existed) return 'exists';
    await writeFileAtomic(this.recordPath(f.id), JSON.stringify(f));
    await mkdir(join(this.root, 'by-name', name), { recursive: true });
    await writeFile(marker, '');
    return 'created';
  }

  async get(id: string): Promise<Fragment | undefined> {
    return readJson<Fragment>(this.recordPath(id));
  }

  async byName(name: string): Promise<Fragment[]> {
    if (!NAME_RE.test(name)) return [];
    const out: Fragment[] = [];
    for (const hex of await listDir(join(this.root, 'by-name', name))) {
      const f = await this.get(`sha256:${hex}`);
      if (f) out.push(f);
    }
    return out;
  }

  async list(): Promise<Fragment[]> {
    const out: Fragment[] = [];
    for (const name of await listDir(join(this.root, 'by-name'))) out.push(...(await this.byName(name)));
    return out;
  }

  /** Names are directories, so named fragments are cheap; providers need the full scan. */
  async candidates(names: string[]): Promise<Fragment[]> {
    const want = new Set(names);
    return (await this.list()).filter((f) => want.has(f.descriptor.name) || f.descriptor.provides.some((p) => want.has(p.name)));
  }
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
        throw new LseError('KEY_INVALID', `a different key named '${key.name}' is already trusted; revoke it and choose another name`, { name: key.name });
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
    if (!isDigest(digest)) throw new LseError('BASE_UNKNOWN', `'${digest}' is not a base digest (sha256:<64 hex>)`, { digest });
    return join(this.root, `${digest.slice(7)}.json`);
  }
  async put(base: BaseImage): Promise<void> {
    if (await this.get(base.digest)) return;
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
      .map(([k, digest]) => { const i = k.lastIndexOf(':'); return { name: k.slice(0, i), tag: k.slice(i + 1), digest }; })
      .sort((a, b) => (a.name + ':' + a.tag).localeCompare(b.name + ':' + b.tag));
  }
}
