import { LseError, sha256Hex } from '@lse/core';

/** How long one download of a .deb may take before it counts as a mirror that did not answer. */
const FETCH_TIMEOUT_MS = 120_000;

/**
 * Fetches a .deb by URL and checks it against the SHA256 (and size) its Packages index names
 * before anyone uses a byte of it.
 */
export async function fetchVerified(url: string, sha256: string, size?: number): Promise<Buffer> {
  // A mirror that does not answer (or answers 5xx/429) is unavailable: worth retrying. A 4xx means
  // the archive does not have the file: the index is stale, which waiting does not fix.
  const unreachable = (e: unknown) =>
    new LseError(
      'UNAVAILABLE',
      `cannot fetch ${url}: ${(e as Error).message}; check the apt source URL and the network`,
      { url },
      { cause: e },
    );
  const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }).catch((e: unknown) => {
    throw unreachable(e);
  });
  if (res.status >= 500 || res.status === 429)
    throw new LseError(
      'UNAVAILABLE',
      `fetching ${url} answered HTTP ${res.status}; the mirror is having trouble, try again later`,
      { url, status: res.status },
    );
  if (!res.ok)
    throw new LseError(
      'BLOB_UNKNOWN',
      `fetching ${url} answered HTTP ${res.status}; the index may be stale (run apt-get update / re-import the index)`,
      { url, status: res.status },
    );
  const buf = Buffer.from(
    await res.arrayBuffer().catch((e: unknown) => {
      throw unreachable(e);
    }),
  );
  if (size !== undefined && buf.length !== size)
    throw new LseError('SIZE_MISMATCH', `${url} has ${buf.length} bytes, the index says ${size}`, { url });
  const hex = sha256Hex(buf);
  if (hex !== sha256.replace(/^sha256:/, '').toLowerCase())
    throw new LseError('DIGEST_MISMATCH', `${url} hashes to sha256:${hex}, the index says ${sha256}`, { url });
  return buf;
}
