/**
 * Tar reader for untrusted input.
 *
 * An archive is a sequence of 512-byte header blocks, each followed by its data rounded up to
 * 512 bytes, and ends with a zero block. Three dialects are understood:
 * - ustar: name (100 bytes) optionally prefixed by `prefix` (155 bytes, POSIX magic only);
 * - GNU: a `L` (long name) or `K` (long link) pseudo-member carries the next member's name or
 *   link target as its data; numbers may be base-256 (high bit of the first byte set);
 * - PAX: an `x` pseudo-member carries `"<len> key=value\n"` records overriding the next member's
 *   fields (path, linkpath, size, uid, gid, mtime, uname, gname); `g` (global) is ignored.
 * Every header checksum is verified. Limits (member size, total size, member count, gzip
 * expansion) are enforced while reading, before any large buffer is produced.
 *
 * The input is hostile until proven otherwise, so the loop is bounded by construction: every
 * number is checked (no negative base-256 sizes, modes, ids or devices; only mtime may be
 * negative), so each step moves the offset forward by at least one block; at most
 * {@link MAX_PSEUDO_RUN} pseudo-members may precede a member; paths and link targets are capped.
 * Messages quote at most a short excerpt of any name or value taken from the archive.
 */
import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { LseError } from '../errors';
import { excerpt } from '../util/excerpt';
import { DEFAULT_TAR_LIMITS, type TarEntry, type TarLimits } from './types';

const BLOCK = 512;
/** Output a gzip stream may always expand to, whatever its ratio (an empty tar is 10 KiB of zeros). */
const RATIO_FREE_BYTES = 1024 * 1024;
/** Cap for GNU long-name and PAX pseudo-members: real ones are a few KiB. */
const MAX_META_SIZE = 1024 * 1024;
/** Pseudo-members (`x`, `g`, `L`, `K`) allowed in a row before a real member; writers use 1 to 3. */
export const MAX_PSEUDO_RUN = 16;
/** Longest path or link target, bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;

type Overrides = {
  path?: string;
  linkname?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  uname?: string;
  gname?: string;
};

export function readTar(input: Buffer, limits: Partial<TarLimits> = {}): TarEntry[] {
  const lim: TarLimits = { ...DEFAULT_TAR_LIMITS, ...limits };
  const buf = isGzip(input) ? gunzipLimited(input, lim) : input;
  const entries: TarEntry[] = [];
  let total = 0;
  let pending: Overrides = {};
  let pseudoRun = 0;
  let offset = 0;
  while (offset + BLOCK <= buf.length) {
    const header = buf.subarray(offset, offset + BLOCK);
    if (isZeroBlock(header)) break;
    verifyChecksum(header, offset);
    const flag = String.fromCharCode(header[156] ?? 0);
    const pseudo = flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K';
    const headerSize = num(header, 124, 12, offset, 'size');
    const size = pseudo ? headerSize : (pending.size ?? headerSize);
    const dataStart = offset + BLOCK;
    if (dataStart + size > buf.length) {
      throw new LseError(
        'TAR_INVALID',
        `tar truncated: member at offset ${offset} announces ${size} bytes but the archive ends at ${buf.length}; re-fetch or rebuild it`,
        { offset, size },
      );
    }
    const data = buf.subarray(dataStart, dataStart + size);
    const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (!(next > offset)) {
      // Unreachable while num() refuses negative sizes; kept so no future change can loop.
      throw new LseError(
        'TAR_INVALID',
        `tar header at offset ${offset} does not advance (size ${size}); the archive is malformed or hostile`,
        { offset, size },
      );
    }
    offset = next;

    if (pseudo) {
      const at = dataStart - BLOCK;
      if (size > MAX_META_SIZE)
        unsafe(
          `tar: ${flag} header at offset ${at} is ${size} bytes (limit ${MAX_META_SIZE}); the archive is malformed or hostile`,
          at,
          'meta-size',
        );
      if (++pseudoRun > MAX_PSEUDO_RUN) {
        throw new LseError(
          'TAR_INVALID',
          `tar: more than ${MAX_PSEUDO_RUN} extended/long-name headers in a row at offset ${at}; the archive is malformed or hostile`,
          { offset: at },
        );
      }
      if (flag === 'L') pending.path = pathValue(cString(data), 'L long name', at);
      else if (flag === 'K') pending.linkname = pathValue(cString(data), 'K long link', at);
      else if (flag === 'x') pending = { ...pending, ...parsePax(data, at) };
      continue;
    }

    const entry = parseHeader(header, flag, dataStart - BLOCK, pending, size);
    pending = {};
    pseudoRun = 0;
    if (entries.length + 1 > lim.maxEntries) {
      unsafe(
        `tar has more than ${lim.maxEntries} members; split the content or raise the limit`,
        entry.path,
        'max-entries',
      );
    }
    if (entry.type === 'file') {
      if (size > lim.maxEntrySize)
        unsafe(
          `tar member '${excerpt(entry.path)}' is ${size} bytes, over the ${lim.maxEntrySize}-byte limit; split it out or raise the limit`,
          entry.path,
          'max-entry-size',
        );
      total += size;
      if (total > lim.maxTotalSize)
        unsafe(
          `tar content exceeds ${lim.maxTotalSize} bytes at member '${excerpt(entry.path)}'; split the content or raise the limit`,
          entry.path,
          'max-total-size',
        );
      entry.size = size;
      entry.data = data;
    }
    entries.push(entry);
  }
  if (offset + BLOCK > buf.length) {
    // No end-of-archive block: cut inside a header, or exactly after a member (which would
    // silently lose the rest).
    throw new LseError(
      'TAR_INVALID',
      `tar truncated at offset ${offset} (archive is ${buf.length} bytes, no end-of-archive block); re-fetch or rebuild it`,
      { offset },
    );
  }
  return entries;
}

function isGzip(buf: Buffer): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

function gunzipLimited(input: Buffer, lim: TarLimits): Buffer {
  const byRatio = Math.max(RATIO_FREE_BYTES, input.length * lim.maxRatio);
  // Room for the content plus one header and padding per member.
  const bySize = lim.maxTotalSize + (lim.maxEntries + 2) * 2 * BLOCK;
  const max = Math.min(byRatio, bySize, bufferConstants.MAX_LENGTH);
  try {
    return gunzipSync(input, { maxOutputLength: max });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new LseError(
        'TAR_UNSAFE',
        `gzip data (${input.length} bytes) expands beyond ${max} bytes (ratio limit ${lim.maxRatio}, size limit ${lim.maxTotalSize}); refusing a possible decompression bomb`,
        { reason: 'max-ratio', compressed: input.length, limit: max },
        { cause: e },
      );
    }
    throw new LseError(
      'TAR_INVALID',
      `not valid gzip data (${(e as Error).message}); re-fetch or rebuild the archive`,
      { offset: 0 },
      { cause: e },
    );
  }
}

function parseHeader(h: Buffer, flag: string, offset: number, o: Overrides, size: number): TarEntry {
  const posix = h.toString('latin1', 257, 263) === 'ustar\0';
  let path = o.path;
  if (path === undefined) {
    const name = cString(h.subarray(0, 100));
    const prefix = posix ? cString(h.subarray(345, 500)) : '';
    path = prefix ? `${prefix}/${name}` : name;
  }
  const type = typeOf(flag, path);
  // Every header field is parsed (and so checked) even where an override replaces it.
  const uid = num(h, 108, 8, offset, 'uid');
  const gid = num(h, 116, 8, offset, 'gid');
  const mtime = num(h, 136, 12, offset, 'mtime', true);
  const entry: TarEntry = {
    path,
    type,
    mode: num(h, 100, 8, offset, 'mode') & 0o7777,
    uid: o.uid ?? uid,
    gid: o.gid ?? gid,
    mtime: o.mtime ?? mtime,
    size: 0,
  };
  const uname = o.uname ?? cString(h.subarray(265, 297));
  const gname = o.gname ?? cString(h.subarray(297, 329));
  if (uname) entry.uname = uname;
  if (gname) entry.gname = gname;
  if (type === 'symlink' || type === 'hardlink') entry.linkname = o.linkname ?? cString(h.subarray(157, 257));
  if (type === 'chardev' || type === 'blockdev') {
    entry.devmajor = num(h, 329, 8, offset, 'devmajor');
    entry.devminor = num(h, 337, 8, offset, 'devminor');
  }
  if (type !== 'file' && type !== 'hardlink' && type !== 'other' && size > 0 && o.size === undefined) {
    // Directories, links and devices carry no data; a size there means a corrupt header.
    throw new LseError(
      'TAR_INVALID',
      `tar member '${excerpt(path)}' at offset ${offset} is a ${type} with ${size} bytes of data; rebuild the archive`,
      { offset, path },
    );
  }
  return entry;
}

function typeOf(flag: string, path: string): TarEntry['type'] {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return path.endsWith('/') ? 'dir' : 'file'; // pre-POSIX tars mark directories by a trailing '/'
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'chardev';
    case '4':
      return 'blockdev';
    case '5':
      return 'dir';
    case '6':
      return 'fifo';
    default:
      return 'other';
  }
}

/** PAX records: `"<len> <key>=<value>\n"`, where len counts the whole record in bytes. */
function parsePax(data: Buffer, offset: number): Overrides {
  const o: Overrides = {};
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    // The length is decimal digits, then one space; it counts the whole record, so it always
    // moves `pos` past at least the digits, the space and the newline.
    const space = data.indexOf(0x20, pos);
    const digits = space < 0 ? '' : data.toString('latin1', pos, space);
    const len = /^[1-9][0-9]{0,15}$/.test(digits) ? Number(digits) : NaN;
    if (!(len > digits.length + 1) || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new LseError(
        'TAR_INVALID',
        `tar: malformed PAX record at byte ${pos} of the extended header at offset ${offset}; rebuild the archive`,
        { offset },
      );
    }
    const record = data.toString('utf8', space + 1, pos + len - 1);
    pos += len;
    const eq = record.indexOf('=');
    if (eq < 0)
      throw new LseError('TAR_INVALID', `tar: PAX record without '=' at offset ${offset}; rebuild the archive`, {
        offset,
      });
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    /** A non-negative integer (size, uid, gid) or, for mtime, seconds with an optional sign and fraction. */
    const int = (signedFraction = false): number => {
      const n = Math.floor(Number(value));
      if (!(signedFraction ? /^-?\d{1,20}(\.\d{1,20})?$/ : /^\d{1,20}$/).test(value) || !Number.isSafeInteger(n)) {
        const what = signedFraction ? 'a number of seconds' : 'a non-negative integer';
        throw new LseError(
          'TAR_INVALID',
          `tar: PAX ${excerpt(key)}='${excerpt(value)}' at offset ${offset} is not ${what}; rebuild the archive`,
          { offset, key: excerpt(key) },
        );
      }
      return n;
    };
    if (key === 'path') o.path = pathValue(value, 'PAX path', offset);
    else if (key === 'linkpath') o.linkname = pathValue(value, 'PAX linkpath', offset);
    else if (key === 'size') o.size = int();
    else if (key === 'uid') o.uid = int();
    else if (key === 'gid') o.gid = int();
    else if (key === 'mtime') o.mtime = int(true);
    else if (key === 'uname') o.uname = value;
    else if (key === 'gname') o.gname = value;
  }
  return o;
}

/** A path or link target from an extension header, refused past {@link MAX_PATH_BYTES}. */
function pathValue(value: string, what: string, offset: number): string {
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_PATH_BYTES)
    unsafe(
      `tar: ${what} '${excerpt(value)}' at offset ${offset} is ${bytes} bytes (limit ${MAX_PATH_BYTES}); shorten it`,
      offset,
      'path-length',
    );
  return value;
}

/**
 * Octal ASCII (space/NUL terminated) or GNU base-256 (high bit of the first byte set; two's
 * complement, so a first byte with 0x40 set is negative). Only `mtime` may be negative: a
 * negative size would move the reader backwards, and no mode, id or device number is negative.
 */
function num(h: Buffer, start: number, len: number, offset: number, field: string, negativeOk = false): number {
  const first = h[start] ?? 0;
  if (first & 0x80) {
    let v = BigInt(first & 0x7f) - (first & 0x40 ? 0x80n : 0n);
    for (let i = start + 1; i < start + len; i++) v = (v << 8n) + BigInt(h[i] ?? 0);
    if (v < 0n && !negativeOk) {
      throw new LseError(
        'TAR_INVALID',
        `tar header at offset ${offset}: ${field} is negative (${v}); the archive is malformed or hostile`,
        { offset, field },
      );
    }
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new LseError(
        'TAR_INVALID',
        `tar header at offset ${offset}: ${field} is out of range; rebuild the archive`,
        { offset, field },
      );
    }
    return Number(v);
  }
  const text = h
    .toString('latin1', start, start + len)
    .replace(/[\0 ]+$/, '')
    .replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new LseError(
      'TAR_INVALID',
      `tar header at offset ${offset}: ${field} ${JSON.stringify(text)} is not octal; rebuild the archive`,
      { offset, field },
    );
  }
  return parseInt(text, 8);
}

function verifyChecksum(h: Buffer, offset: number): void {
  const stored = num(h, 148, 8, offset, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new LseError(
      'TAR_INVALID',
      `tar header at offset ${offset} has a bad checksum (stored ${stored}, computed ${unsigned}); the archive is corrupt, re-fetch or rebuild it`,
      { offset },
    );
  }
}

const ZERO_BLOCK = Buffer.alloc(BLOCK);

function isZeroBlock(b: Buffer): boolean {
  return b.equals(ZERO_BLOCK);
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end < 0 ? b.length : end);
}

function unsafe(message: string, path: string | number, reason: string): never {
  throw new LseError('TAR_UNSAFE', message, typeof path === 'number' ? { offset: path, reason } : { path, reason });
}
