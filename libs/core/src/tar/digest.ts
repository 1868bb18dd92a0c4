import { createHash } from 'node:crypto';

export function sha256Hex(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** `sha256:<hex>` of the bytes. */
export function digestOf(buf: Buffer): string {
  return `sha256:${sha256Hex(buf)}`;
}
