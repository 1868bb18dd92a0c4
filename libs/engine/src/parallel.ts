import { LseError, type Fragment, type Lock } from '@lse/core';
import type { EnginePorts } from './ports';

/**
 * Round trips (S3 HEADs and GETs, database lookups) a stage keeps in flight at once: enough to
 * overlap their latency, few enough not to flood a shared server or hold many blobs in memory.
 */
export const IO_CONCURRENCY = 8;

/**
 * `fn` over `items`, at most `limit` at a time; the results in the order of `items`. After the
 * first failure no further item is started, and that failure is thrown once the calls already
 * running have settled (so nothing keeps running behind the caller's back).
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
  return out;
}

/** The lock's fragment records, looked up in parallel, in lock order (FRAGMENT_UNKNOWN if one is missing). */
export async function fragmentsOfLock(ports: EnginePorts, lock: Lock): Promise<Fragment[]> {
  return mapLimited(lock.fragments, IO_CONCURRENCY, async (lf) => {
    const f = await ports.fragments.get(lf.id);
    if (!f)
      throw new LseError(
        'FRAGMENT_UNKNOWN',
        `fragment ${lf.name}@${lf.version} (${lf.id}) is in the lock but not in the fragment database`,
        { fragment: lf.id },
      );
    return f;
  });
}
