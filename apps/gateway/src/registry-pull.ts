/**
 * What a registry name means (docs/REGISTRY.md has the grammar) and the images behind it:
 *
 *  - `synth/<synthesis id | key hex>`: the image of a completed synthesis; a key names the newest
 *    completed synthesis with that key. Tag `latest` (or the manifest digest).
 *  - `pkgs/<pkg>[/<pkg>...]`, tag `<base>[--<arch>[-<variant>]][--in-<region>]` (`latest` = the default base):
 *    the packages synthesized on the base on first pull, through the same pipeline as
 *    `POST /v1/syntheses` (the resolver reuses a completed result with the same key, so a repeat
 *    pull costs a resolve, not an assembly). Several configured platforms give an image index.
 *
 * Concurrent pulls of one `name:tag` share one in-flight promise (synthesize once), and a result
 * is remembered for a short while (RECENT_MS) so a client's HEAD, GET and re-GET of one tag do not
 * each run the resolver. Every pull takes or extends the lease of the image(s) it serves.
 */
import {
  LseError,
  lseErrorFrom,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  buildImageIndex,
  imageFacts,
  isLseError,
  ociPlatform,
  sha256Digest,
  type Platform,
  type SynthesisRecord,
} from '@lse/core';
import { isValidSynthesisId, type ImageRef } from '@lse/contracts';
import { imageBlobs } from '@lse/engine';
import { admit, newSynthesisId } from './admit';
import { recordOf } from './watch';
import type { GatewayDeps, RegistrySettings } from './deps';

const RECENT_MS = 30_000;
export const PKGS_PREFIX = 'pkgs/';
export const SYNTH_PREFIX = 'synth/';

/** An OCI error (`{ errors: [{ code, message, detail }] }`) with its HTTP status. */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A manifest (or index) a tag resolved to, with the syntheses whose leases hold it. */
export interface Resolved {
  digest: string;
  mediaType: string;
  synthesisIds: string[];
  /** Extra blobs (an index) held by a lease of its own. */
  indexLease?: string;
}

export interface PkgsRef {
  packages: string[];
  base: string;
  platforms: Platform[];
}

/** `pkgs/curl/jq` + tag → packages, base and platforms. MANIFEST_UNKNOWN (404) when the tag does not parse. */
const packagesOf = (name: string) => [...new Set(name.slice(PKGS_PREFIX.length).split('/'))];

export function parsePkgsRef(name: string, tag: string, s: RegistrySettings): PkgsRef {
  const packages = packagesOf(name);
  const m = /^(.+?)(?:--(amd64|arm64|arm|386|ppc64le|s390x|riscv64)(?:-(v\d))?)?(?:--in-([a-z][a-z0-9-]{0,62}))?$/.exec(
    tag,
  );
  if (!m)
    throw new RegistryError(
      404,
      'MANIFEST_UNKNOWN',
      `tag '${tag}' must be <base>[--<arch>[-<variant>]][--in-<region>], e.g. latest, minimal, minimal--amd64-v3 or minimal--in-eu-west`,
    );
  const base = m[1] === 'latest' ? s.pkgsBase : m[1]!;
  const region = m[4] ? { region: m[4] } : {};
  const platforms = (m[2] ? [{ os: 'linux', arch: m[2], ...(m[3] ? { variant: m[3] } : {}) }] : s.pkgsPlatforms).map(
    (p) => ({ ...p, ...region }),
  );
  return { packages, base, platforms };
}

function manifestFor(ref: PkgsRef) {
  const name = `pkgs-${ref.packages.join('-')}`
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+$/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return {
    apiVersion: 'lse.dev/v1' as const,
    kind: 'DependencyManifest' as const,
    metadata: { name },
    base: ref.base,
    require: ref.packages.map((p) => ({ name: p })),
    files: [],
    env: {},
    labels: {},
  };
}

export class Puller {
  private readonly inFlight = new Map<string, Promise<Resolved>>();
  private readonly recent = new Map<string, { at: number; value: Resolved }>();
  private readonly owned = new Map<string, boolean>();

  constructor(
    private readonly d: GatewayDeps,
    private readonly s: RegistrySettings,
  ) {}

  private ttlIso(): string {
    return new Date(this.d.now().getTime() + this.d.leaseTtlSeconds * 1000).toISOString();
  }

  /** Extends the lease of a synthesis, or takes a new one when it was released or expired. */
  async lease(rec: SynthesisRecord): Promise<void> {
    const image = rec.result as unknown as ImageRef;
    const expiresAt = this.ttlIso();
    if (await this.d.leases.renew(rec.id, expiresAt)) return;
    const blobs = imageBlobs(image);
    for (const b of blobs) {
      if (!(await this.d.ports.layers.has(b)))
        throw new RegistryError(
          404,
          'MANIFEST_UNKNOWN',
          `the image of synthesis '${rec.id}' was collected (blob ${b} is gone) after its lease ended; request the synthesis again`,
          { synthesis: rec.id, blob: b },
        );
    }
    await this.d.leases.put({ synthesisId: rec.id, key: rec.key ?? '', expiresAt, blobs });
  }

  /** The completed synthesis `synth/<ref>` names. */
  async synthRecord(ref: string): Promise<SynthesisRecord> {
    const hex = /^(?:sha256-)?([0-9a-f]{64})$/.exec(ref)?.[1];
    const fresh = !hex && isValidSynthesisId(ref) ? this.d.watch.state(ref) : undefined; // the projection may lag its events
    const rec =
      fresh && fresh.status !== 'pending'
        ? recordOf(fresh)
        : hex
          ? await this.d.syntheses.completedByKey(`sha256:${hex}`)
          : isValidSynthesisId(ref)
            ? await this.d.syntheses.get(ref)
            : undefined;
    if (!rec)
      throw new RegistryError(
        404,
        'NAME_UNKNOWN',
        `no ${hex ? 'completed synthesis with key sha256:' + hex : `synthesis '${ref}'`}; register one with POST /v1/syntheses`,
        { name: SYNTH_PREFIX + ref },
      );
    if (rec.status !== 'completed' || !rec.result) {
      const why =
        rec.status === 'failed'
          ? `failed at the ${rec.error?.stage}: ${rec.error?.message}`
          : `is still ${rec.stage}; pull again when it has completed`;
      throw new RegistryError(404, 'MANIFEST_UNKNOWN', `synthesis '${rec.id}' ${why}`, {
        synthesis: rec.id,
        status: rec.status,
      });
    }
    return rec;
  }

  /** Resolves `name:tag` to a manifest or index digest, synthesizing on first pull; leases it. */
  async resolveTag(name: string, tag: string): Promise<Resolved> {
    if (name.startsWith(SYNTH_PREFIX)) {
      if (tag !== 'latest')
        throw new RegistryError(
          404,
          'MANIFEST_UNKNOWN',
          `${name} has only the tag 'latest' (or pull it by manifest digest)`,
          { name, tag },
        );
      const rec = await this.synthRecord(name.slice(SYNTH_PREFIX.length));
      await this.lease(rec);
      const image = rec.result as unknown as ImageRef;
      return { digest: image.manifestDigest, mediaType: MEDIA_TYPE_OCI_MANIFEST, synthesisIds: [rec.id] };
    }
    const ref = parsePkgsRef(name, tag, this.s);
    const key = `${[...ref.packages].sort().join('/')}:${ref.base}:${ref.platforms.map((p) => [p.os, p.arch, p.variant ?? '', p.region ?? ''].join('/')).join(',')}`;
    const hit = this.recent.get(key);
    if (hit && Date.now() - hit.at < RECENT_MS) {
      await this.renew(hit.value);
      return hit.value;
    }
    let p = this.inFlight.get(key);
    if (!p) {
      p = this.synthesize(ref).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    const value = await p;
    this.recent.set(key, { at: Date.now(), value });
    return value;
  }

  private async renew(r: Resolved): Promise<void> {
    const expiresAt = this.ttlIso();
    for (const id of r.synthesisIds) await this.d.leases.renew(id, expiresAt);
    if (r.indexLease) await this.d.leases.renew(r.indexLease, expiresAt);
  }

  /** NAME_UNKNOWN unless a fragment names or provides each package of a `pkgs/` name. */
  async checkPackages(name: string): Promise<void> {
    const packages = packagesOf(name);
    const known = await this.d.ports.fragments.candidates(packages);
    const missing = packages.filter(
      (p) => !known.some((f) => f.descriptor.name === p || f.descriptor.provides.some((x) => x.name === p)),
    );
    if (missing.length)
      throw new RegistryError(
        404,
        'NAME_UNKNOWN',
        `no fragment named or providing ${missing.join(', ')}; publish or import it first (lse import apt ${missing.join(' ')})`,
        { name, packages: missing },
      );
  }

  /**
   * Whether the manifest `digest` (bytes given) is an image of the `pkgs/` name: an image with a
   * fragment named or providing each package, an index of such images, or an artifact whose
   * subject is one. Remembered per name and digest (manifests are immutable).
   */
  async pkgsOwns(name: string, digest: string, bytes: Buffer, depth = 0): Promise<boolean> {
    const memoKey = `${name}@${digest}`;
    const hit = this.owned.get(memoKey);
    if (hit !== undefined) return hit;
    const doc = JSON.parse(bytes.toString('utf8')) as {
      subject?: { digest?: string };
      manifests?: { digest: string }[];
    };
    let owns = false;
    if (depth < 2 && doc.subject?.digest) {
      const subject = await this.d.ports.layers.get(doc.subject.digest).catch(() => undefined);
      owns = subject !== undefined && (await this.pkgsOwns(name, doc.subject.digest, subject, depth + 1));
    } else if (depth < 2 && Array.isArray(doc.manifests)) {
      owns = doc.manifests.length > 0;
      for (const c of doc.manifests) {
        const child = await this.d.ports.layers.get(c.digest).catch(() => undefined);
        if (!child || !(await this.pkgsOwns(name, c.digest, child, depth + 1))) {
          owns = false;
          break;
        }
      }
    } else {
      const facts = imageFacts(bytes);
      if (facts) {
        const frags = await Promise.all([...new Set(facts.fragmentIds)].map((id) => this.d.ports.fragments.get(id)));
        const names = new Set(
          frags.flatMap((f) => (f ? [f.descriptor.name, ...f.descriptor.provides.map((p) => p.name)] : [])),
        );
        owns = packagesOf(name).every((p) => names.has(p));
      }
    }
    this.owned.set(memoKey, owns);
    if (this.owned.size > 4096) this.owned.delete(this.owned.keys().next().value!);
    return owns;
  }

  /** One synthesis per platform (in parallel); several platforms → an image index stored as a blob. */
  private async synthesize(ref: PkgsRef): Promise<Resolved> {
    await this.checkPackages(PKGS_PREFIX + ref.packages.join('/'));
    const settled = await Promise.allSettled(ref.platforms.map((p) => this.synthesizeOne(ref, p)));
    const done = settled.flatMap((r, i) =>
      r.status === 'fulfilled' ? [{ image: r.value.image, id: r.value.id, platform: ref.platforms[i]! }] : [],
    );
    if (!done.length) throw (settled[0] as PromiseRejectedResult).reason;
    if (ref.platforms.length === 1)
      return { digest: done[0]!.image.manifestDigest, mediaType: MEDIA_TYPE_OCI_MANIFEST, synthesisIds: [done[0]!.id] };
    const index = buildImageIndex(
      done.map((x) => ({
        descriptor: { mediaType: MEDIA_TYPE_OCI_MANIFEST, digest: x.image.manifestDigest, size: x.image.manifestSize },
        platform: ociPlatform(x.platform),
      })),
    );
    const digest = sha256Digest(index);
    await this.d.ports.layers.put(digest, index, index.length);
    const indexLease = `reg-index-${digest.slice(7, 39)}`;
    await this.d.leases.put({ synthesisId: indexLease, key: digest, expiresAt: this.ttlIso(), blobs: [digest] });
    return { digest, mediaType: MEDIA_TYPE_OCI_INDEX, synthesisIds: done.map((x) => x.id), indexLease };
  }

  private async synthesizeOne(ref: PkgsRef, platform: Platform): Promise<{ id: string; image: ImageRef }> {
    const manifest = manifestFor(ref);
    try {
      const id = await admit(this.d, { manifest, platform, id: newSynthesisId('reg') });
      this.d.metrics.inc('lse_syntheses_requested_total', { answered: 'pipeline' });
      const st = await this.d.watch.waitFinished(id, this.d.waitMaxSeconds);
      if (st?.completed) return { id, image: st.completed.image };
      if (st?.failed) throw lseErrorFrom({ ...st.failed, details: { ...st.failed.details, stage: st.failed.stage } });
      throw new RegistryError(
        503,
        'UNAVAILABLE',
        `synthesis ${id} of ${ref.packages.join(', ')} on ${ref.base} did not finish within ${this.d.waitMaxSeconds} s; pull again later (it keeps running)`,
        { synthesis: id },
      );
    } catch (e) {
      throw pullError(e, ref, platform);
    }
  }
}

/** A failed synthesis as an OCI error: unknown package → NAME_UNKNOWN, unknown base or nothing fits → MANIFEST_UNKNOWN. */
function pullError(e: unknown, ref: PkgsRef, platform: Platform): unknown {
  if (!isLseError(e)) return e;
  const where = `${ref.packages.join(', ')} on base ${ref.base} for ${[platform.os, platform.arch, platform.variant].filter(Boolean).join('/')}`;
  const detail = { code: e.code, ...e.details };
  if (e.code === 'FRAGMENT_UNKNOWN') return new RegistryError(404, 'NAME_UNKNOWN', `${where}: ${e.message}`, detail);
  if (
    e.code === 'BASE_UNKNOWN' ||
    e.code === 'UNSATISFIABLE' ||
    e.code === 'NO_VARIANT' ||
    e.code === 'MANIFEST_INVALID'
  ) {
    return new RegistryError(404, 'MANIFEST_UNKNOWN', `${where}: ${e.message}`, detail);
  }
  return new LseError(e.code, `${where}: ${e.message}`, e.details);
}
