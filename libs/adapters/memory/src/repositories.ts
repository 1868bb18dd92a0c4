import { stageAfter } from '@lse/contracts';
import {
  LseError,
  fragmentSetDigest,
  type BaseImage,
  type BaseRepository,
  type Fragment,
  type FragmentRepository,
  type FragmentVerdict,
  type LayerRecord,
  type LayerRecordRepository,
  type Lease,
  type LeaseRepository,
  type SynthesisRecord,
  type SynthesisRepository,
  type TrustStore,
  type TrustedKey,
  type VerdictRepository,
  type DebianReleaseLog,
  type DebianReleaseRecord,
} from '@lse/core';

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryFragmentRepository implements FragmentRepository {
  private readonly byId = new Map<string, Fragment>();
  async put(f: Fragment): Promise<'created' | 'exists'> {
    if (this.byId.has(f.id)) return 'exists';
    this.byId.set(f.id, clone(f));
    return 'created';
  }
  async get(id: string): Promise<Fragment | undefined> {
    const f = this.byId.get(id);
    return f && clone(f);
  }
  async byName(name: string): Promise<Fragment[]> {
    return [...this.byId.values()].filter((f) => f.descriptor.name === name).map(clone);
  }
  async list(): Promise<Fragment[]> {
    return [...this.byId.values()].map(clone);
  }
  async candidates(names: string[]): Promise<Fragment[]> {
    const want = new Set(names);
    return [...this.byId.values()]
      .filter((f) => want.has(f.descriptor.name) || f.descriptor.provides.some((p) => want.has(p.name)))
      .map(clone);
  }
  private readonly sets = new Set<string>();
  async putMany(fs: Fragment[]): Promise<{ created: number; existing: number }> {
    let created = 0;
    for (const f of fs) if ((await this.put(f)) === 'created') created++;
    this.sets.add(fragmentSetDigest(fs.map((f) => f.id)));
    return { created, existing: fs.length - created };
  }
  async storedSets(digests: string[]): Promise<boolean[]> {
    return digests.map((d) => this.sets.has(d));
  }
}

export class MemoryTrustStore implements TrustStore {
  private readonly keys = new Map<string, TrustedKey>();
  async list(): Promise<TrustedKey[]> {
    return [...this.keys.values()].sort((a, b) => a.name.localeCompare(b.name)).map(clone);
  }
  async get(name: string): Promise<TrustedKey | undefined> {
    const k = this.keys.get(name);
    return k && clone(k);
  }
  async add(key: TrustedKey): Promise<void> {
    const old = this.keys.get(key.name);
    if (old && old.publicKey !== key.publicKey) {
      throw new LseError(
        'KEY_INVALID',
        `a different key named '${key.name}' is already trusted; revoke it and choose another name`,
        { name: key.name },
      );
    }
    this.keys.set(key.name, {
      ...clone(key),
      revoked: old?.revoked ?? key.revoked,
      ...(old?.revokedAt ? { revokedAt: old.revokedAt } : {}),
    });
  }
  async revoke(name: string, at: string): Promise<void> {
    const k = this.keys.get(name);
    if (!k) throw new LseError('KEY_UNTRUSTED', `no key named '${name}' in the trust store`, { name });
    if (!k.revoked) this.keys.set(name, { ...k, revoked: true, revokedAt: at });
  }
}

export class MemoryBaseRepository implements BaseRepository {
  private readonly bases = new Map<string, BaseImage>();
  private readonly pointers = new Map<string, string>();
  async put(base: BaseImage): Promise<void> {
    const old = this.bases.get(base.digest);
    if (!old || (!old.packages && base.packages)) this.bases.set(base.digest, clone(base));
  }
  async get(digest: string): Promise<BaseImage | undefined> {
    const b = this.bases.get(digest);
    return b && clone(b);
  }
  async tag(name: string, tag: string, digest: string): Promise<void> {
    if (!this.bases.has(digest)) throw new LseError('BASE_UNKNOWN', `no base with digest ${digest}`, { digest });
    this.pointers.set(`${name}:${tag}`, digest);
  }
  async resolveTag(name: string, tag: string): Promise<string | undefined> {
    return this.pointers.get(`${name}:${tag}`);
  }
  async tags(): Promise<{ name: string; tag: string; digest: string }[]> {
    return [...this.pointers.entries()]
      .map(([k, digest]) => {
        const i = k.lastIndexOf(':');
        return { name: k.slice(0, i), tag: k.slice(i + 1), digest };
      })
      .sort((a, b) => (a.name + ':' + a.tag).localeCompare(b.name + ':' + b.tag));
  }
}

export class MemorySynthesisRepository implements SynthesisRepository {
  private readonly recs = new Map<string, SynthesisRecord>();
  async create(rec: SynthesisRecord): Promise<'created' | 'exists'> {
    if (this.recs.has(rec.id)) return 'exists';
    this.recs.set(rec.id, clone(rec));
    return 'created';
  }
  async get(id: string): Promise<SynthesisRecord | undefined> {
    const r = this.recs.get(id);
    return r && clone(r);
  }
  async progress(id: string, fields: { stage: string; key?: string; at: string }): Promise<void> {
    const r = this.recs.get(id);
    if (!r || r.status !== 'pending') return;
    if (stageAfter(r.stage, fields.stage)) return;
    Object.assign(r, { stage: fields.stage, updatedAt: fields.at, ...(fields.key ? { key: fields.key } : {}) });
  }
  async finish(
    id: string,
    f: {
      status: 'completed' | 'failed';
      at: string;
      result?: Record<string, unknown>;
      error?: SynthesisRecord['error'];
    },
  ): Promise<boolean> {
    const r = this.recs.get(id);
    if (!r || r.status !== 'pending') return false;
    const key = !r.key && typeof f.result?.['key'] === 'string' ? { key: f.result['key'] } : {};
    Object.assign(r, {
      status: f.status,
      updatedAt: f.at,
      ...key,
      ...(f.result ? { result: clone(f.result), stage: 'assembled' } : {}),
      ...(f.error ? { error: clone(f.error) } : {}),
    });
    return true;
  }
  async completedByKey(key: string): Promise<SynthesisRecord | undefined> {
    const hits = [...this.recs.values()]
      .filter((r) => r.key === key && r.status === 'completed')
      .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
    return hits[0] && clone(hits[0]);
  }
}

export class MemoryLeaseRepository implements LeaseRepository {
  private readonly leases = new Map<string, Lease>();
  async put(lease: Lease): Promise<void> {
    this.leases.set(lease.synthesisId, clone(lease));
  }
  async get(id: string): Promise<Lease | undefined> {
    const l = this.leases.get(id);
    return l && clone(l);
  }
  async renew(id: string, expiresAt: string): Promise<boolean> {
    const l = this.leases.get(id);
    if (!l) return false;
    l.expiresAt = expiresAt;
    return true;
  }
  async release(id: string): Promise<void> {
    this.leases.delete(id);
  }
  async list(): Promise<Lease[]> {
    return [...this.leases.values()].map(clone);
  }
}

/** Insert-once records by key, handed out as copies. */
class InsertOnce<T> {
  private readonly m = new Map<string, T>();
  get(k: string): T | undefined {
    const v = this.m.get(k);
    return v && clone(v);
  }
  put(k: string, v: T): 'created' | 'exists' {
    if (this.m.has(k)) return 'exists';
    this.m.set(k, clone(v));
    return 'created';
  }
}

export class MemoryLayerRecordRepository implements LayerRecordRepository {
  private readonly recs = new InsertOnce<LayerRecord>();
  async get(key: string): Promise<LayerRecord | undefined> {
    return this.recs.get(key);
  }
  async put(r: LayerRecord): Promise<'created' | 'exists'> {
    return this.recs.put(r.key, r);
  }
}

export class MemoryVerdictRepository implements VerdictRepository {
  private readonly recs = new InsertOnce<FragmentVerdict>();
  async get(id: string): Promise<FragmentVerdict | undefined> {
    return this.recs.get(id);
  }
  async put(v: FragmentVerdict): Promise<'created' | 'exists'> {
    return this.recs.put(v.id, v);
  }
}

export class MemoryDebianReleaseLog implements DebianReleaseLog {
  private readonly bySuite = new Map<string, DebianReleaseRecord>();
  async newest(suite: string): Promise<DebianReleaseRecord | undefined> {
    const r = this.bySuite.get(suite);
    return r && clone(r);
  }
  private readonly all = new Set<string>();
  async record(r: DebianReleaseRecord): Promise<void> {
    this.all.add(releaseKey(r));
    const had = this.bySuite.get(r.suite);
    if (!had || Date.parse(had.date) < Date.parse(r.date)) this.bySuite.set(r.suite, clone(r));
  }
  async has(r: DebianReleaseRecord): Promise<boolean> {
    return this.all.has(releaseKey(r));
  }
}

function releaseKey(r: DebianReleaseRecord): string {
  return JSON.stringify([r.suite, new Date(Date.parse(r.date)).toISOString(), r.inRelease]);
}
