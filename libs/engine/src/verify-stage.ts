import {
  DEB_MEDIA_TYPE,
  LseError,
  checkPolicy,
  isLseError,
  deriveFromDeb,
  fragmentLabel,
  readTar,
  sha256Digest,
  trustGeneration,
  verdictId,
  acceptFragment,
  type Acceptance,
  type Fragment,
  type Lock,
  type TarEntry,
  type TrustedKey,
} from '@lse/core';
import { fileIndexOf, indexDifference } from './file-index';
import { IO_CONCURRENCY, fragmentsOfLock, mapLimited } from './parallel';
import type { EnginePorts } from './ports';
import { verdictFor } from './verdicts';

/**
 * Stage 3: nothing unverified goes further. For every fragment of the lock:
 *  1. the record's id is the hash of its descriptor, and a trusted, unrevoked key whose scope
 *     covers the name signed it (checked every time: in memory, well under a millisecond); or,
 *     for a fragment imported from a signed Debian index and signed over its derivation only,
 *     such a key signed the derivation and Debian's chain of trust vouches for the rest
 *     (`ports.debianChain`; core acceptFragment; the chain's verdict is kept per process);
 *  2. the cached blob has the signed digest (checked on read) and size;
 *  3. the tar passes the safety policy (setuid only where the signed descriptor allows it);
 *  4. the tar's contents are exactly the signed file index (so conflict checks made from indexes
 *     at assembly are truthful).
 * For a fragment from a Packages index (blob = .deb, no signed file index), 2 holds for the .deb,
 * and 3 for the content derived from it (core debian/derive.ts).
 *
 * 2–4 are done once per fragment and trust generation (the digest of the trust store's state,
 * core trustGeneration): with `ports.verdicts`, a fragment that has a verdict for the current
 * generation is not read again; one that has none is read, checked, and its verdict recorded
 * (with the derived file index and metadata of a Debian index package, see verdicts.ts). Any
 * change to the trust store (a key added, scoped or revoked) changes the generation, so every
 * fragment is read again once. Records and blobs are read a few at a time (IO_CONCURRENCY).
 * Returns the key that vouched for each fragment id (`accepted`: and what its signature covers).
 */
export async function verifyFragments(
  ports: EnginePorts,
  lock: Lock,
  onProgress?: (done: number, total: number) => void,
  accepted?: Record<string, Acceptance>,
): Promise<Record<string, string>> {
  const trusted = await ports.trust.list();
  const keys = new Map<string, TrustedKey>(trusted.map((k) => [k.name, k]));
  const generation = trustGeneration(trusted);
  const fragments = await fragmentsOfLock(ports, lock);
  const verifiedBy: Record<string, string> = {};
  // every fragment is accepted before any blob is read; chains of one release share its reads
  await mapLimited(fragments, IO_CONCURRENCY, async (f) => {
    const a = await acceptFragment(f, keys, ports.debianChain);
    verifiedBy[f.id] = a.keyName;
    if (accepted) accepted[f.id] = a;
  });
  let done = 0;
  await mapLimited(fragments, IO_CONCURRENCY, async (f) => {
    const keyName = verifiedBy[f.id]!;
    if (!ports.verdicts || !(await ports.verdicts.get(verdictId(f.id, generation)))) {
      const content = await readVerifiedContent(ports, f);
      await ports.verdicts?.put(verdictFor(f, content, generation, keyName, new Date().toISOString()));
    }
    onProgress?.(++done, fragments.length);
  });
  return verifiedBy;
}

/** Reads a fragment's blob from the cache and checks digest, size, policy and index. */
export async function readVerifiedEntries(ports: EnginePorts, f: Fragment): Promise<TarEntry[]> {
  return (await readVerifiedContent(ports, f)).entries;
}

/**
 * A fragment's verified entries, and the fragment as assembly should see it: the stored one, or,
 * for a fragment from a Packages index, the view with the file index and Debian metadata derived
 * from its verified .deb.
 */
export async function readVerifiedContent(
  ports: EnginePorts,
  f: Fragment,
): Promise<{ fragment: Fragment; entries: TarEntry[] }> {
  const blob = await readBlob(ports, f);
  if (f.descriptor.blob.mediaType !== DEB_MEDIA_TYPE) return { fragment: f, entries: checkFragmentBlob(f, blob) };
  checkBlobBytes(f, blob);
  if (!ports.debian)
    throw new LseError(
      'INTERNAL',
      `${fragmentLabel(f)} is a Debian package from an index, and this service cannot read .deb files (no Debian support configured)`,
      { fragment: f.id },
    );
  const derived = deriveFromDeb(f, await ports.debian.read(blob, fragmentLabel(f)));
  checkPolicy(derived.entries, { allowSetuid: true, label: fragmentLabel(f) });
  return { fragment: derived.fragment, entries: derived.entries };
}

async function readBlob(ports: EnginePorts, f: Fragment): Promise<Buffer> {
  const label = fragmentLabel(f);
  const { digest } = f.descriptor.blob;
  try {
    // A blob the fetcher refused is not in the cache: read the origin (or, for a package from a
    // Debian index, the archive), whose verifying read names what is wrong with it. (One GET, no
    // HEAD first: a missing blob is the exception.)
    try {
      return await ports.cache.get(digest);
    } catch (e) {
      if (!isLseError(e, 'BLOB_UNKNOWN')) throw e;
    }
    if (f.descriptor.blob.mediaType === DEB_MEDIA_TYPE && ports.debian && !(await ports.origin.has(digest)))
      return await ports.debian.download(f);
    return await ports.origin.get(digest);
  } catch (e) {
    if (e instanceof LseError)
      throw new LseError(
        e.code,
        e.message.startsWith(label) ? e.message : `${label}: ${e.message}`,
        { ...e.details, fragment: f.id },
        { cause: e },
      );
    throw e;
  }
}

function checkBlobBytes(f: Fragment, blob: Buffer): void {
  const label = fragmentLabel(f);
  const { digest, size } = f.descriptor.blob;
  if (blob.length !== size) {
    throw new LseError(
      'SIZE_MISMATCH',
      `${label}: blob ${digest} has ${blob.length} bytes, the signed descriptor says ${size}`,
      { fragment: f.id, digest },
    );
  }
  const actual = sha256Digest(blob);
  if (actual !== digest) {
    throw new LseError('DIGEST_MISMATCH', `${label}: blob hashes to ${actual}, the signed descriptor says ${digest}`, {
      fragment: f.id,
      digest,
      actual,
    });
  }
}

/**
 * Checks bytes claimed to be a fragment's blob: signed digest and size, tar policy (setuid only
 * where the signed descriptor allows it), and exact agreement with the signed file index.
 * Returns the tar entries.
 */
export function checkFragmentBlob(f: Fragment, blob: Buffer): TarEntry[] {
  const label = fragmentLabel(f);
  checkBlobBytes(f, blob);
  const entries = readTar(blob);
  checkPolicy(entries, { allowSetuid: f.descriptor.metadata['allowSetuid'] === true, label });
  const diff = indexDifference(f.descriptor.files, fileIndexOf(entries));
  if (diff)
    throw new LseError('FRAGMENT_INVALID', `${label}: blob does not match its signed file index: ${diff}`, {
      fragment: f.id,
    });
  return entries;
}
