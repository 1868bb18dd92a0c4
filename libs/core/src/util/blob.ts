import { LseError } from '../errors';
import { isDigest, sha256Digest } from '../digest';

/** Refuses bytes that do not match the digest (and size, when given) they are stored under. */
export function checkBlob(digest: string, data: Buffer, size?: number): void {
  if (!isDigest(digest))
    throw new LseError('DIGEST_MISMATCH', `'${digest}' is not a sha256 digest (sha256:<64 hex>)`, { digest });
  if (size !== undefined && data.length !== size) {
    throw new LseError('SIZE_MISMATCH', `blob ${digest}: expected ${size} bytes, got ${data.length}`, {
      digest,
      expected: size,
      actual: data.length,
    });
  }
  const actual = sha256Digest(data);
  if (actual !== digest)
    throw new LseError('DIGEST_MISMATCH', `blob ${digest}: content hashes to ${actual}`, { digest, actual });
}
