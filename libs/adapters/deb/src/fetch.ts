import { createHash } from 'node:crypto';
import { LseError } from '@lse/core';

/**
 * Fetches a .deb by URL and checks it against the SHA256 (and size) its Packages index names
 * before anyone uses a byte of it.
 */
export async function fetchVerified(url: string, sha256: string, size?: number): Promise<Buffer> {
  const res = await fetch(url).catch((e: unknown) => {
    throw new LseError('BLOB_UNKNOWN', `cannot fetch ${url}: ${(e as Error).message}; check the apt source URL and the network`, { url });
  });
  if (!res.ok) throw new LseError('BLOB_UNKNOWN', `fetching ${url} answered HTTP ${res.status}; the index may be stale (run apt-get update / re-import the index)`, { url, status: res.status });
  const buf = Buffer.from(await res.arrayBuffer());
  if (size !== undefined && buf.length !== size) throw new LseError('SIZE_MISMATCH', `${url} has ${buf.length} bytes, the index says ${size}`, { url });
  const hex = createHash('sha256').update(buf).digest('hex');
  if (hex !== sha256.replace(/^sha256:/, '').toLowerCase()) throw new LseError('DIGEST_MISMATCH', `${url} hashes to sha256:${hex}, the index says ${sha256}`, { url });
  return buf;
}
