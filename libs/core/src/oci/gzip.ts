import { gunzipSync, gzipSync, constants } from 'node:zlib';
import { LseError } from '../errors';

/**
 * Deterministic gzip: the same bytes in give the same bytes out, so a layer's compressed digest
 * is stable. All deflate parameters are fixed (never zlib's defaults), and the two header fields
 * that carry host facts are overwritten: MTIME (bytes 4-7) is 0 and OS (byte 9) is 255
 * ("unknown") instead of the builder's OS code. Node writes no file name or comment.
 */
export const GZIP_LEVEL = 6;
const GZIP_OS_UNKNOWN = 255;

export function gzipDeterministic(buf: Buffer): Buffer {
  const out = gzipSync(buf, {
    level: GZIP_LEVEL,
    memLevel: 8,
    windowBits: 15,
    strategy: constants.Z_DEFAULT_STRATEGY,
  });
  out.writeUInt32LE(0, 4);
  out[9] = GZIP_OS_UNKNOWN;
  return out;
}

/** True when `buf` starts with the gzip magic bytes. */
export function isGzip(buf: Buffer): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

export function gunzip(buf: Buffer, what = 'blob'): Buffer {
  try {
    return gunzipSync(buf);
  } catch (e) {
    throw new LseError(
      'TAR_INVALID',
      `${what}: not valid gzip data (${(e as Error).message}); re-fetch or rebuild it`,
      { what },
      { cause: e },
    );
  }
}
