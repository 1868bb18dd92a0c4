/**
 * The SBOM, signature and provenance of images, made at the gateway when a client first asks for
 * them (the referrers API, cosign's `sha256-<hex>.sig`/`.att` tags), never on the pull path: a
 * manifest or blob request does not wait for them.
 *
 * They are a pure function of the image manifest (its layers' fragment ids, its base and synthesis
 * key annotations), the fragments' signed descriptors, the base's package list and the image key
 * (deterministic signatures), so every gateway makes the same bytes. Their blobs go into the layer
 * store content-addressed (conditional writes: a second writer changes nothing) and are held by a
 * lease of their own (`reg-ref-<hex>`, renewed on every request like an index's), so the
 * collector keeps them as long as they are asked for. A gateway remembers the answer per subject
 * for MEMO_MS, so repeat referrers requests cost no store reads or writes; after that the next
 * request renews the lease (or makes them again if the lease is gone).
 */
import {
  buildAttachments,
  epochToRfc3339,
  imageFacts,
  isLseError,
  type Attachment,
  type Fragment,
  type ImageSigningKey,
} from '@lse/core';
import type { GatewayDeps } from './deps';

const MEMO = 1024;
const MEMO_MS = 60_000;

export class Attachments {
  private readonly memo = new Map<string, { at: number; value: Promise<Attachment[]> }>();

  constructor(
    private readonly d: GatewayDeps,
    private readonly key: ImageSigningKey | undefined,
  ) {}

  /** The attachments of the image manifest `digest`; none for an unknown digest or anything that is not an image. */
  async of(digest: string): Promise<Attachment[]> {
    const hit = this.memo.get(digest);
    if (hit && Date.now() - hit.at < MEMO_MS) return hit.value; // the lease was written or renewed when the entry was made
    // After MEMO_MS: renew the lease, or make them again when it is gone (released, or collected with the blobs).
    const value = hit
      ? hit.value.then(async (v) =>
          v.length && !(await this.d.leases.renew(leaseId(digest), this.ttlIso())) ? this.make(digest) : v,
        )
      : this.make(digest);
    this.memo.set(digest, { at: Date.now(), value });
    value.catch(() => this.memo.delete(digest));
    if (this.memo.size > MEMO) this.memo.delete(this.memo.keys().next().value!);
    return value;
  }

  private ttlIso(): string {
    return new Date(this.d.now().getTime() + this.d.leaseTtlSeconds * 1000).toISOString();
  }

  private async make(digest: string): Promise<Attachment[]> {
    let bytes: Buffer;
    try {
      bytes = await this.d.ports.layers.get(digest);
    } catch (e) {
      if (isLseError(e, 'BLOB_UNKNOWN')) return [];
      throw e;
    }
    const facts = imageFacts(bytes);
    if (!facts) return [];
    const fragments = (
      await Promise.all([...new Set(facts.fragmentIds)].map((id) => this.d.ports.fragments.get(id)))
    ).filter((f): f is Fragment => f !== undefined);
    const base = facts.base?.digest ? await this.d.ports.bases.get(facts.base.digest) : undefined;
    const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType: string }).mediaType;
    const atts = buildAttachments(
      {
        subject: { mediaType, digest, size: bytes.length },
        facts,
        fragments,
        ...(base?.packages ? { basePackages: base.packages } : {}),
        created: epochToRfc3339(this.d.epoch),
      },
      this.key,
    );
    const blobs = new Map(atts.flatMap((a) => a.blobs).map((b) => [b.digest, b.bytes]));
    // The lease first, so the collector never sees the blobs unreferenced.
    await this.d.leases.put({
      synthesisId: leaseId(digest),
      key: digest,
      expiresAt: this.ttlIso(),
      blobs: [...blobs.keys()],
    });
    await Promise.all([...blobs].map(([dg, b]) => this.d.ports.layers.put(dg, b, b.length)));
    return atts;
  }
}

export const leaseId = (subject: string) => `reg-ref-${subject.slice(7, 39)}`;
