import { createHash } from 'node:crypto';
import { canonicalBytes } from './canonical-json';

/**
 * The one digest module: every `sha256:<hex>` the project computes over whole bytes comes from here
 * (streams hash incrementally in oci/verify-stream.ts with the same algorithm).
 */

/** Lower-case hex SHA-256 of the bytes (no `sha256:` prefix). */
export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `sha256:<hex>` of the bytes. */
export function sha256Digest(data: Buffer | string): string {
  return 'sha256:' + sha256Hex(data);
}

/** `sha256:<hex>` of a value's canonical JSON. */
export function digestOfValue(value: unknown): string {
  return sha256Digest(canonicalBytes(value));
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** `sha256:ab12cd34ef56` — short form for messages. */
export function shortDigest(d: string): string {
  return d.startsWith('sha256:') ? d.slice(0, 19) : d.slice(0, 12);
}
