import { LseError, type Lock } from '@lse/core';
import type { EnginePorts } from './ports';

/**
 * Stage 2: make sure every fragment blob of the lock is in the cache, copying it from the origin
 * when it is not. Only bytes that match their digest enter the cache (BlobStore.get and put both
 * check); a blob that fails that check is left out and named in `refused`, and the verifier,
 * which owns every verdict on content, fails the synthesis with the reason. Transient errors
 * (a server unreachable) throw and the message is redelivered.
 */
export async function fetchFragments(ports: EnginePorts, lock: Lock, onProgress?: (done: number, total: number) => void): Promise<{ copied: number; bytes: number; refused: string[] }> {
  let copied = 0;
  const refused: string[] = [];
  let bytes = 0;
  let done = 0;
  for (const lf of lock.fragments) {
    const f = await ports.fragments.get(lf.id);
    if (!f) throw new LseError('FRAGMENT_UNKNOWN', `fragment ${lf.name}@${lf.version} (${lf.id}) is in the lock but not in the fragment database`, { fragment: lf.id });
    const { digest, size } = f.descriptor.blob;
    if (ports.cache !== ports.origin && !(await ports.cache.has(digest))) {
      try {
        const data = await ports.origin.get(digest);
        await ports.cache.put(digest, data, size);
        copied++;
        bytes += data.length;
      } catch (e) {
        if (!(e instanceof LseError) || !['DIGEST_MISMATCH', 'SIZE_MISMATCH', 'BLOB_UNKNOWN'].includes(e.code)) throw e;
        refused.push(`${lf.name}@${lf.version}: ${e.message}`);
      }
    } else if (!(await ports.cache.has(digest))) {
      throw new LseError('BLOB_UNKNOWN', `blob of fragment ${lf.name}@${lf.version} (${digest}) is missing from the store; re-pack or re-import the fragment`, { fragment: lf.id, digest });
    }
    onProgress?.(++done, lock.fragments.length);
  }
  return { copied, bytes, refused };
}
