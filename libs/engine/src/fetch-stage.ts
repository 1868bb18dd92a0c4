import { DEB_MEDIA_TYPE, LseError, type Lock } from '@lse/core';
import { IO_CONCURRENCY, fragmentsOfLock, mapLimited } from './parallel';
import type { EnginePorts } from './ports';

/**
 * Stage 2: make sure every fragment blob of the lock is in the cache, copying it from the origin
 * when it is not. Only bytes that match their digest enter the cache (BlobStore.get and put both
 * check); a blob that fails that check is left out and named in `refused`, and the verifier,
 * which owns every verdict on content, fails the synthesis with the reason. Transient errors
 * (a server unreachable) throw and the message is redelivered.
 *
 * Fragments imported from a Packages index have a .deb as their blob and no copy in the origin:
 * their .deb is downloaded from the Debian archive on first use (checked against the signed
 * digest and size before it enters the cache) and is then served from the cache like any blob.
 * Records are looked up and blobs HEADed and copied a few at a time (IO_CONCURRENCY).
 */
export async function fetchFragments(
  ports: EnginePorts,
  lock: Lock,
  onProgress?: (done: number, total: number) => void,
): Promise<{ copied: number; bytes: number; refused: string[] }> {
  let copied = 0;
  const refused: string[] = [];
  let bytes = 0;
  let done = 0;
  const fragments = await fragmentsOfLock(ports, lock);
  // HEADs and copies overlap, a few at a time (IO_CONCURRENCY).
  await mapLimited(fragments, IO_CONCURRENCY, async (f) => {
    const label = `${f.descriptor.name}@${f.descriptor.version}`;
    const { digest, size, mediaType } = f.descriptor.blob;
    const inCache = await ports.cache.has(digest);
    let source: (() => Promise<Buffer>) | undefined;
    if (!inCache && mediaType === DEB_MEDIA_TYPE && !(await ports.origin.has(digest))) {
      const archive = ports.debian;
      if (!archive)
        throw new LseError(
          'BLOB_UNKNOWN',
          `${label} is a package from a Debian index, and this service has no Debian archive configured to fetch it from`,
          { fragment: f.id, digest },
        );
      source = () => archive.download(f);
    } else if (!inCache && ports.cache !== ports.origin) {
      source = () => ports.origin.get(digest);
    } else if (!inCache) {
      throw new LseError(
        'BLOB_UNKNOWN',
        `blob of fragment ${label} (${digest}) is missing from the store; re-pack or re-import the fragment`,
        { fragment: f.id, digest },
      );
    }
    if (source) {
      try {
        const data = await source();
        await ports.cache.put(digest, data, size);
        copied++;
        bytes += data.length;
      } catch (e) {
        if (!(e instanceof LseError) || !['DIGEST_MISMATCH', 'SIZE_MISMATCH', 'BLOB_UNKNOWN'].includes(e.code)) throw e;
        refused.push(`${label}: ${e.message}`);
      }
    }
    onProgress?.(++done, fragments.length);
  });
  return { copied, bytes, refused };
}
