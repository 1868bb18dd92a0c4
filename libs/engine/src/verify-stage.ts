import {
  DEB_MEDIA_TYPE, LseError, checkPolicy, deriveFromDeb, fragmentLabel, readTar, sha256Digest, verifyFragment,
  type Fragment, type Lock, type TarEntry, type TrustedKey,
} from '@lse/core';
import { fileIndexOf, indexDifference } from './file-index';
import type { EnginePorts } from './ports';

/**
 * Stage 3: nothing unverified goes further. For every fragment of the lock:
 *  1. the record's id is the hash of its descriptor, and a trusted, unrevoked key whose scope
 *     covers the name signed it;
 *  2. the cached blob has the signed digest (checked on read) and size;
 *  3. the tar passes the safety policy (setuid only where the signed descriptor allows it);
 *  4. the tar's contents are exactly the signed file index (so conflict checks made from indexes
 *     at assembly are truthful).
 * For a fragment from a Packages index (blob = .deb, no signed file index), 2 holds for the .deb,
 * and 3 for the content derived from it (core debian/derive.ts); its file index is that derived
 * content's, computed again wherever it is used.
 * Returns the key that vouched for each fragment id.
 */
export async function verifyFragments(ports: EnginePorts, lock: Lock, onProgress?: (done: number, total: number) => void): Promise<Record<string, string>> {
  const keys = new Map<string, TrustedKey>((await ports.trust.list()).map((k) => [k.name, k]));
  const verifiedBy: Record<string, string> = {};
  let done = 0;
  for (const lf of lock.fragments) {
    const f = await ports.fragments.get(lf.id);
    if (!f) throw new LseError('FRAGMENT_UNKNOWN', `fragment ${lf.name}@${lf.version} (${lf.id}) is not in the fragment database`, { fragment: lf.id });
    verifiedBy[f.id] = verifyFragment(f, keys);
    await readVerifiedEntries(ports, f);
    onProgress?.(++done, lock.fragments.length);
  }
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
export async function readVerifiedContent(ports: EnginePorts, f: Fragment): Promise<{ fragment: Fragment; entries: TarEntry[] }> {
  const blob = await readBlob(ports, f);
  if (f.descriptor.blob.mediaType !== DEB_MEDIA_TYPE) return { fragment: f, entries: checkFragmentBlob(f, blob) };
  checkBlobBytes(f, blob);
  if (!ports.debian) throw new LseError('INTERNAL', `${fragmentLabel(f)} is a Debian package from an index, and this service cannot read .deb files (no Debian support configured)`, { fragment: f.id });
  const derived = deriveFromDeb(f, await ports.debian.read(blob, fragmentLabel(f)));
  checkPolicy(derived.entries, { allowSetuid: true, label: fragmentLabel(f) });
  return { fragment: derived.fragment, entries: derived.entries };
}

async function readBlob(ports: EnginePorts, f: Fragment): Promise<Buffer> {
  const label = fragmentLabel(f);
  const { digest } = f.descriptor.blob;
  try {
    // A blob the fetcher refused is not in the cache: read the origin (or, for a package from a
    // Debian index, the archive), whose verifying read names what is wrong with it.
    if (await ports.cache.has(digest)) return await ports.cache.get(digest);
    if (f.descriptor.blob.mediaType === DEB_MEDIA_TYPE && ports.debian && !(await ports.origin.has(digest))) return await ports.debian.download(f);
    return await ports.origin.get(digest);
  } catch (e) {
    if (e instanceof LseError) throw new LseError(e.code, e.message.startsWith(label) ? e.message : `${label}: ${e.message}`, { ...e.details, fragment: f.id }, { cause: e });
    throw e;
  }
}

function checkBlobBytes(f: Fragment, blob: Buffer): void {
  const label = fragmentLabel(f);
  const { digest, size } = f.descriptor.blob;
  if (blob.length !== size) {
    throw new LseError('SIZE_MISMATCH', `${label}: blob ${digest} has ${blob.length} bytes, the signed descriptor says ${size}`, { fragment: f.id, digest });
  }
  const actual = sha256Digest(blob);
  if (actual !== digest) {
    throw new LseError('DIGEST_MISMATCH', `${label}: blob hashes to ${actual}, the signed descriptor says ${digest}`, { fragment: f.id, digest, actual });
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
  if (diff) throw new LseError('FRAGMENT_INVALID', `${label}: blob does not match its signed file index: ${diff}`, { fragment: f.id });
  return entries;
}
