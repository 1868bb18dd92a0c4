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
 */
import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { LseError } from '../errors';
import { DEFAULT_TAR_LIMITS, type TarEntry, type TarLimits } from './types';

const BLOCK = 512;
/** Output a gzip stream may always expand to, whatever its ratio (an empty tar is 10 KiB of zeros). */
const RATIO_FREE_BYTES = 1024 * 1024;
/** Cap for GNU long-name and PAX pseudo-members: real ones are a few KiB. */
const MAX_META_SIZE = 1024 * 1024;

type Overrides = { path?: string; linkname?: string; size?: number; uid?: number; gid?: number; mtime?: number; uname?: string; gname?: string };

export function readTar(input: Buffer, limits: Partial<TarLimits> = {}): TarEntry[] {
  const lim: TarLimits = { ...DEFAULT_TAR_LIMITS, ...limits };
  const buf = isGzip(input) ? gunzipLimited(input, lim) : input;
  const entries: TarEntry[] = [];
  let total = 0;
  let pending: Overrides = {};
  let offset = 0;
  while (offset + BLOCK <= buf.length) {
    const header = buf.subarray(offset, offset + BLOCK);
    if (isZeroBlock(header)) break;
    verifyChecksum(header, offset);
    const flag = String.fromCharCode(header[156] ?? 0);
    const headerSize = num(header, 124, 12, offset, 'size');
    const size = flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K' ? headerSize : pending.size ?? headerSize;
    const dataStart = offset + BLOCK;
    if (dataStart + size > buf.length) {
      throw new LseError('TAR_INVALID', `tar truncated: member at offset ${offset} announces ${size} bytes but the archive ends at ${buf.length}; re-fetch or rebuild it`, { offset, size });
    }
    const data = buf.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
      if (size > MAX_META_SIZE) unsafe(`tar: ${flag} header at offset ${dataStart - BLOCK} is ${size} bytes (limit ${MAX_META_SIZE}); the archive is malformed or hostile`, dataStart - BLOCK, 'meta-size');
      if (flag === 'L') pending.path = cString(data);
      else if (flag === 'K') pending.linkname = cString(data);
      else if (flag === 'x') pending = { ...pending, ...parsePax(data, dataStart - BLOCK) };
      continue;
    }

    const entry = parseHeader(header, flag, dataStart - BLOCK, pending, size);
    pending = {};
    if (entries.length + 1 > lim.maxEntries) {
      unsafe(`tar has more than ${lim.maxEntries} members; split the content or raise the limit`, entry.path, 'max-entries');
    }
    if (entry.type === 'file') {
      if (size > lim.maxEntrySize) unsafe(`tar member '${entry.path}' is ${size} bytes, over the ${lim.maxEntrySize}-byte limit; split it out or raise the limit`, entry.path, 'max-entry-size');
      total += size;
      if (total > lim.maxTotalSize) unsafe(`tar content exceeds ${lim.maxTotalSize} bytes at member '${entry.path}'; split the content or raise the limit`, entry.path, 'max-total-size');
      entry.size = size;
      entry.data = data;
    }
    entries.push(entry);
  }
  if (offset + BLOCK > buf.length) {
    // No end-of-archive block: cut inside a header, or exactly after a member (which would
    // silently lose the rest).
    throw new LseError('TAR_INVALID', `tar truncated at offset ${offset} (archive is ${buf.length} bytes, no end-of-archive block); re-fetch or rebuild it`, { offset });
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
      throw new LseError('TAR_UNSAFE', `gzip data (${input.length} bytes) expands beyond ${max} bytes (ratio limit ${lim.maxRatio}, size limit ${lim.maxTotalSize}); refusing a possible decompression bomb`, { reason: 'max-ratio', compressed: input.length, limit: max }, { cause: e });
    }
    throw new LseError('TAR_INVALID', `not valid gzip data (${(e as Error).message}); re-fetch or rebuild the archive`, { offset: 0 }, { cause: e });
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
  const entry: TarEntry = {
    path,
    type,
    mode: num(h, 100, 8, offset, 'mode') & 0o7777,
    uid: o.uid ?? num(h, 108, 8, offset, 'uid'),
    gid: o.gid ?? num(h, 116, 8, offset, 'gid'),
    mtime: o.mtime ?? num(h, 136, 12, offset, 'mtime'),
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
    throw new LseError('TAR_INVALID', `tar member '${path}' at offset ${offset} is a ${type} with ${size} bytes of data; rebuild the archive`, { offset, path });
  }
  return entry;
}

function typeOf(flag: string, path: string): TarEntry['type'] {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return path.endsWith('/') ? 'dir' : 'file'; // pre-POSIX tars mark directories by a trailing '/'
    case '1': return 'hardlink';
    case '2': return 'symlink';
    case '3': return 'chardev';
    case '4': return 'blockdev';
    case '5': return 'dir';
    case '6': return 'fifo';
    default: return 'other';
  }
}

/** PAX records: `"<len> <key>=<value>\n"`, where len counts the whole record in bytes. */
function parsePax(data: Buffer, offset: number): Overrides {
  const o: Overrides = {};
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const space = data.indexOf(0x20, pos);
    const len = Number(data.toString('latin1', pos, space));
    if (space < 0 || !Number.isInteger(len) || len <= space - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new LseError('TAR_INVALID', `tar: malformed PAX record in header at offset ${offset}; rebuild the archive`, { offset });
    }
    const record = data.toString('utf8', space + 1, pos + len - 1);
    pos += len;
    const eq = record.indexOf('=');
    if (eq < 0) throw new LseError('TAR_INVALID', `tar: PAX record without '=' at offset ${offset}; rebuild the archive`, { offset });
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    const int = (): number => {
      const n = Math.floor(Number(value));
      if (!/^-?\d+(\.\d+)?$/.test(value) || !Number.isSafeInteger(n)) {
        throw new LseError('TAR_INVALID', `tar: PAX ${key}='${value}' at offset ${offset} is not a number; rebuild the archive`, { offset, key });
      }
      return n;
    };
    if (key === 'path') o.path = value;
    else if (key === 'linkpath') o.linkname = value;
    else if (key === 'size') o.size = int();
    else if (key === 'uid') o.uid = int();
    else if (key === 'gid') o.gid = int();
    else if (key === 'mtime') o.mtime = int();
    else if (key === 'uname') o.uname = value;
    else if (key === 'gname') o.gname = value;
  }
  if (o.size !== undefined && o.size < 0) throw new LseError('TAR_INVALID', `tar: negative PAX size at offset ${offset}`, { offset });
  return o;
}

/** Octal ASCII (space/NUL terminated) or GNU base-256 (first byte 0x80 positive, 0xff negative). */
function num(h: Buffer, start: number, len: number, offset: number, field: string): number {
  const first = h[start] ?? 0;
  if (first & 0x80) {
    let v = BigInt(first & 0x7f) - (first === 0xff ? 0x80n : 0n);
    for (let i = start + 1; i < start + len; i++) v = (v << 8n) + BigInt(h[i] ?? 0);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new LseError('TAR_INVALID', `tar header at offset ${offset}: ${field} is out of range; rebuild the archive`, { offset, field });
    }
    return Number(v);
  }
  const text = h.toString('latin1', start, start + len).replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new LseError('TAR_INVALID', `tar header at offset ${offset}: ${field} '${text}' is not octal; rebuild the archive`, { offset, field });
  }
  return parseInt(text, 8);
}

function verifyChecksum(h: Buffer, offset: number): void {
  const stored = num(h, 148, 8, offset, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i] ?? 0;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new LseError('TAR_INVALID', `tar header at offset ${offset} has a bad checksum (stored ${stored}, computed ${unsigned}); the archive is corrupt, re-fetch or rebuild it`, { offset });
  }
}

function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('utf8', 0, end < 0 ? b.length : end);
}

function unsafe(message: string, path: string | number, reason: string): never {
  throw new LseError('TAR_UNSAFE', message, typeof path === 'number' ? { offset: path, reason } : { path, reason });
}
