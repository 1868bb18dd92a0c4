/**
 * Debian's chain of trust at the gateway (docs/DEBIAN.md, "Debian's chain of trust"): the proof
 * blobs a client uploads (InRelease, or Release + Release.gpg, and uncompressed Packages files),
 * the registration of a release (signature by the gateway's keyring, Valid-Until, the rollback
 * rule against the release log, every Packages file listed), and the check of each published
 * fragment that carries a proof (`source.debian`). Routes in routes/debian.ts and
 * routes/catalog.ts call these; nothing here is HTTP.
 */
import { createHash } from 'node:crypto';
import {
  LseError,
  checkReleaseFresh,
  isLseError,
  debianProofOf,
  fragmentLabel,
  isDigest,
  packagesPathIn,
  releaseSuiteKey,
  type BlobStore,
  type DebianReleaseLog,
  type Fragment,
} from '@lse/core';
import { DebianChainVerifier, verifyInRelease, type DebianKeyring } from '@lse/adapter-deb';

/** What the gateway needs to take Debian proofs (GatewayDeps.debian). */
export interface DebianProofSettings {
  /** LSE_DEBIAN_KEYRING, read once at start; absent when the default keyring is not installed. */
  keyring?: DebianKeyring;
  /** The newest release per suite (MongoStore.debianReleases). */
  releases: DebianReleaseLog;
  /** LSE_DEBIAN_PROOF_LIMIT_BYTES: largest proof blob taken. */
  blobLimitBytes: number;
}

function keyringOf(s: DebianProofSettings | undefined): DebianKeyring {
  if (!s?.keyring)
    throw new LseError(
      'DEBIAN_KEY_UNKNOWN',
      'this gateway has no Debian archive keyring, so it cannot check Debian signatures: install debian-archive-keyring on the gateway host or set LSE_DEBIAN_KEYRING to a keyring file, and restart it',
      {},
    );
  return s.keyring;
}

/**
 * Receives a proof blob (an async iterable of chunks, e.g. the request stream), hashing while
 * receiving: more than `limit` bytes is TOO_LARGE as soon as it is seen, and bytes whose sha256
 * is not `digest` are DIGEST_MISMATCH. Nothing is stored on refusal.
 */
export async function receiveProofBlob(
  digest: string,
  body: AsyncIterable<Buffer | string>,
  limit: number,
  declaredLength?: number,
): Promise<Buffer> {
  if (!isDigest(digest)) throw new LseError('DIGEST_INVALID', `'${digest}' is not a sha256:<64 hex> digest`);
  const tooLarge = (n: number) =>
    new LseError(
      'TOO_LARGE',
      `the proof blob ${digest} has more than ${limit} bytes (${n}); LSE_DEBIAN_PROOF_LIMIT_BYTES is the limit of an InRelease or uncompressed Packages file`,
      { digest, limit },
    );
  if (declaredLength !== undefined && declaredLength > limit) throw tooLarge(declaredLength);
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    n += b.length;
    if (n > limit) throw tooLarge(n);
    hash.update(b);
    chunks.push(b);
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== digest)
    throw new LseError(
      'DIGEST_MISMATCH',
      `the uploaded bytes (${n}) have digest ${got}, not ${digest} named in the path; upload the file exactly as it is, under its own digest`,
      { expected: digest, actual: got },
    );
  return Buffer.concat(chunks, n);
}

export interface ReleaseRegistration {
  inRelease: string;
  releaseGpg?: string;
  packages: string[];
  allowOlder?: boolean;
}

export interface RegisteredRelease {
  suite: string;
  date: string;
  validUntil?: string;
  signedBy: string[];
  /** Each Packages file given and where the release lists it. */
  packages: { digest: string; path: string; size: number }[];
  /** The newest date recorded for the suite before this registration, if any. */
  previous?: string;
}

async function requireBlob(origin: BlobStore, digest: string, what: string): Promise<Buffer> {
  if (!(await origin.has(digest)))
    throw new LseError(
      'DEBIAN_PROOF_UNKNOWN',
      `the gateway does not hold the ${what} ${digest}; upload it first (PUT /v1/debian/blobs/${digest}, as lse import debian-index --server does)`,
      { digest, what },
    );
  return origin.get(digest);
}

/**
 * Registers a Debian release whose blobs were uploaded: its signature must verify against the
 * gateway's keyring, it must not have expired and must not be older than the newest release of
 * its suite recorded here (unless `allowOlder`), and every Packages digest given must be listed
 * in it (by sha256 and size). Only then is it recorded; a refusal records nothing.
 */
export async function registerDebianRelease(
  s: DebianProofSettings | undefined,
  origin: BlobStore,
  r: ReleaseRegistration,
  now: Date,
): Promise<RegisteredRelease> {
  const keyring = keyringOf(s);
  for (const d of [r.inRelease, ...(r.releaseGpg ? [r.releaseGpg] : []), ...r.packages])
    if (!isDigest(d)) throw new LseError('DIGEST_INVALID', `'${String(d)}' is not a sha256:<64 hex> digest`);
  const bytes = await requireBlob(origin, r.inRelease, r.releaseGpg ? 'Release' : 'InRelease');
  const gpg = r.releaseGpg ? await requireBlob(origin, r.releaseGpg, 'Release.gpg') : undefined;
  const label = `${gpg ? 'Release' : 'InRelease'} ${r.inRelease.slice(0, 19)}…`;
  const signed = await verifyInRelease(bytes, keyring, label, gpg);
  const suite = releaseSuiteKey(signed.release);
  const newest = await s!.releases.newest(suite);
  checkReleaseFresh(
    signed.release,
    { now, ...(newest ? { newest: newest.date } : {}), allowOlder: Boolean(r.allowOlder) },
    label,
  );
  const packages: RegisteredRelease['packages'] = [];
  for (const digest of r.packages) {
    const size = await origin.stat(digest);
    if (size === undefined)
      throw new LseError(
        'DEBIAN_PROOF_UNKNOWN',
        `the gateway does not hold the Packages file ${digest}; upload it first (PUT /v1/debian/blobs/${digest})`,
        { digest, what: 'Packages file' },
      );
    packages.push({
      digest,
      size,
      path: packagesPathIn(signed.release, digest.slice(7), size, `Packages file ${digest.slice(0, 19)}…`),
    });
  }
  await s!.releases.record({ suite, date: signed.release.date, inRelease: r.inRelease });
  return {
    suite,
    date: signed.release.date,
    ...(signed.release.validUntil ? { validUntil: signed.release.validUntil } : {}),
    signedBy: signed.signedBy,
    packages,
    ...(newest ? { previous: newest.date } : {}),
  };
}

/**
 * The check publishing (POST /v1/fragments, /v1/fragments/batch) runs on every fragment, in
 * addition to the signature and key-scope checks: a fragment that carries a Debian proof
 * (`source.debian`) must verify along Debian's chain with the gateway's keyring and the proof
 * blobs this gateway holds (DebianChainVerifier: InRelease signature, Packages hash, paragraph,
 * the descriptor recomputed, or for a fragment made from a .deb the .deb's SHA256 and size).
 * Its release must have been registered here (so the rollback rule applied to it), and the
 * proof's suite and date must be that release's. A fragment without `source.debian` passes
 * unchanged; `{ unsigned: true }` passes, marked so. A fragment accepted by a derivation
 * signature (`chainVerified`) had its chain verified by core acceptFragment already; only the
 * held-blob and registration checks run for it.
 *
 * The verdict on each InRelease and the bytes of each Packages file are kept across requests
 * (sharedVerifier): a batch of 5,000 fragments, and the next batches of the same import, cost one
 * signature check and one Packages read (`lse import apt --server` publishes one fragment per
 * request; without this each would read bookworm's 50 MB Packages file again). Both are pure
 * functions of content-addressed blobs and the keyring, so keeping them is safe.
 */
export function debianChainCheck(
  s: DebianProofSettings | undefined,
  origin: BlobStore,
): (f: Fragment, chainVerified?: boolean) => Promise<void> {
  const held = new Map<string, Promise<boolean>>();
  const registered = new Map<string, Promise<boolean>>();
  const has = (digest: string) => {
    let p = held.get(digest);
    if (!p) held.set(digest, (p = origin.has(digest)));
    return p;
  };
  return async (f, chainVerified = false) => {
    const raw = f.descriptor.source?.['debian'];
    if (raw === undefined) return;
    const proof = debianProofOf(f.descriptor.source);
    if (!proof) {
      if (typeof raw === 'object' && raw !== null && (raw as { unsigned?: unknown }).unsigned === true) return;
      throw new LseError(
        'DEBIAN_INDEX_MISMATCH',
        `${fragmentLabel(f)}: source.debian is neither a Debian proof (inRelease, packages, path, paragraph, suite, date) nor { unsigned: true }`,
        { fragment: f.id },
      );
    }
    for (const [digest, what] of [
      [proof.inRelease, proof.releaseGpg ? 'Release' : 'InRelease'],
      ...(proof.releaseGpg ? [[proof.releaseGpg, 'Release.gpg'] as const] : []),
      [proof.packages, 'Packages file'],
    ] as const) {
      if (!isDigest(digest) || !(await has(digest)))
        throw new LseError(
          'DEBIAN_PROOF_UNKNOWN',
          `${fragmentLabel(f)} names the ${what} ${String(digest)} of ${proof.suite}, which this gateway does not hold; upload the release first (lse import … --server uploads and registers it)`,
          { fragment: f.id, digest, what },
        );
    }
    // registered here: signature, freshness and rollback were checked for exactly this suite,
    // date and InRelease (POST /v1/debian/releases), so the proof cannot skip the rollback rule
    const key = JSON.stringify([proof.suite, proof.date, proof.inRelease]);
    let known = registered.get(key);
    if (!known) {
      const rec = { suite: String(proof.suite), date: String(proof.date), inRelease: proof.inRelease };
      known = s && Number.isFinite(Date.parse(rec.date)) ? s.releases.has(rec) : Promise.resolve(false);
      registered.set(key, known);
    }
    if (!(await known))
      throw new LseError(
        'DEBIAN_PROOF_UNKNOWN',
        `${fragmentLabel(f)} names a release (${String(proof.suite)} dated ${String(proof.date)}, ${proof.inRelease.slice(0, 19)}…) not registered with this gateway; register it first (POST /v1/debian/releases, as lse import … --server does)`,
        { fragment: f.id, suite: proof.suite, date: proof.date, inRelease: proof.inRelease },
      );
    // a derivation signature was accepted only with this chain verified (core acceptFragment)
    if (chainVerified) return;
    const shared = await sharedVerifier(s, origin, proof.packages);
    try {
      await shared.verify(f);
    } catch (e) {
      // a verdict on Debian's bytes is kept; a store that did not answer, or whose copy of a blob
      // was damaged or missing, is read again next time
      if (isLseError(e) && (e.retryable || e.code === 'DIGEST_MISMATCH' || e.code === 'BLOB_UNKNOWN'))
        verifiers.delete(s!);
      throw e;
    }
  };
}

/** Packages bytes a gateway keeps for chain checks, at most (then it starts afresh). */
const CHAIN_CACHE_BYTES = 256 * 1024 * 1024;

const verifiers = new WeakMap<DebianProofSettings, { verifier: DebianChainVerifier; packages: Map<string, number> }>();

/**
 * The gateway's verifier (one per settings, i.e. per gateway), replaced by a fresh one when the
 * Packages files it holds would pass CHAIN_CACHE_BYTES.
 */
async function sharedVerifier(
  s: DebianProofSettings | undefined,
  origin: BlobStore,
  packages: string,
): Promise<DebianChainVerifier> {
  const keyring = keyringOf(s);
  let v = verifiers.get(s!);
  if (!v?.packages.has(packages)) {
    const size = (await origin.stat(packages)) ?? 0;
    const total = [...(v?.packages.values() ?? [])].reduce((a, b) => a + b, 0);
    if (!v || total + size > CHAIN_CACHE_BYTES) {
      v = { verifier: new DebianChainVerifier(origin, keyring), packages: new Map() };
      verifiers.set(s!, v);
    }
    v.packages.set(packages, size);
  }
  return v.verifier;
}
