/**
 * Deterministic ustar writer: the same entries in the same order give the same bytes.
 *
 * Each member is a 512-byte ustar header (magic `ustar\0`, version `00`, numbers as zero-padded
 * octal ending in NUL) followed by its data padded to 512 bytes. When a field does not fit ustar
 * (path or link target over 100 bytes, names over 32 bytes, size/uid/gid/mtime over the octal
 * range) a PAX `x` member with a fixed name and zero metadata carries the exact value just
 * before it. No GNU extensions, no atime/ctime, no host facts. Two zero blocks end the archive.
 */
import { LseError } from '../errors';
import type { TarEntry } from './types';

const BLOCK = 512;
const TYPEFLAG: Record<TarEntry['type'], string | undefined> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  chardev: '3',
  blockdev: '4',
  dir: '5',
  fifo: '6',
  other: undefined,
};

export function writeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const flag = TYPEFLAG[e.type];
    if (flag === undefined)
      throw new LseError('TAR_INVALID', `cannot write tar member '${e.path}' of type '${e.type}'; remove it`, {
        path: e.path,
      });
    const data = e.type === 'file' ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    if (e.type === 'file' && e.data === undefined && e.size > 0) {
      throw new LseError('TAR_INVALID', `tar member '${e.path}' has size ${e.size} but no data; provide its content`, {
        path: e.path,
      });
    }
    const pax: [string, string][] = [];
    const fields = ustarFields(e, data.length, pax);
    if (pax.length > 0) {
      const records = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
      parts.push(header(paxFields(e.path, records.length), 'x'), records, padding(records.length));
    }
    parts.push(header(fields, flag), data, padding(data.length));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

interface Fields {
  name: string;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

/** The ustar fields for `e`; whatever does not fit is pushed to `pax` and zeroed/emptied here. */
function ustarFields(e: TarEntry, size: number, pax: [string, string][]): Fields {
  const text = (key: string, value: string, max: number): string => {
    if (Buffer.byteLength(value) <= max) return value;
    pax.push([key, value]);
    return '';
  };
  const number = (key: string, value: number, digits: number): number => {
    if (Number.isSafeInteger(value) && value >= 0 && value < 8 ** digits) return value;
    if (!Number.isSafeInteger(value) || (value < 0 && key !== 'mtime'))
      throw new LseError('TAR_INVALID', `tar member '${e.path}': ${key} ${value} is not a valid ${key}`, {
        path: e.path,
        field: key,
      });
    pax.push([key, String(value)]);
    return 0;
  };
  const device = (key: string, value: number): number => {
    if (Number.isSafeInteger(value) && value >= 0 && value < 8 ** 7) return value;
    throw new LseError('TAR_INVALID', `tar member '${e.path}': ${key} ${value} does not fit ustar`, {
      path: e.path,
      field: key,
    });
  };
  return {
    name: text('path', e.path, 100),
    linkname: e.type === 'symlink' || e.type === 'hardlink' ? text('linkpath', e.linkname ?? '', 100) : '',
    mode: e.mode & 0o7777,
    uid: number('uid', e.uid, 7),
    gid: number('gid', e.gid, 7),
    size: number('size', size, 11),
    mtime: number('mtime', e.mtime, 11),
    uname: text('uname', e.uname ?? '', 32),
    gname: text('gname', e.gname ?? '', 32),
    devmajor: device('devmajor', e.devmajor ?? 0),
    devminor: device('devminor', e.devminor ?? 0),
  };
}

/** Fixed metadata for the PAX member, so it carries nothing but the overridden fields. */
function paxFields(path: string, size: number): Fields {
  const base = path.split('/').filter(Boolean).pop() ?? 'entry';
  const name = truncateUtf8(`PaxHeader/${base}`, 100);
  return {
    name,
    linkname: '',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size,
    mtime: 0,
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  };
}

/** `"<len> key=value\n"` where len is the byte length of the whole record, itself included. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return Buffer.from(`${len}${body}`, 'utf8');
}

function padding(n: number): Buffer {
  return Buffer.alloc((BLOCK - (n % BLOCK)) % BLOCK);
}

function header(f: Fields, flag: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(f.name, 0, 100, 'utf8');
  octal(h, 100, 8, f.mode);
  octal(h, 108, 8, f.uid);
  octal(h, 116, 8, f.gid);
  octal(h, 124, 12, f.size);
  octal(h, 136, 12, f.mtime);
  h.fill(0x20, 148, 156);
  h.write(flag, 156, 1, 'latin1');
  h.write(f.linkname, 157, 100, 'utf8');
  h.write('ustar\x0000', 257, 8, 'latin1');
  h.write(f.uname, 265, 32, 'utf8');
  h.write(f.gname, 297, 32, 'utf8');
  octal(h, 329, 8, f.devmajor);
  octal(h, 337, 8, f.devminor);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

/** Zero-padded octal filling `len - 1` digits, then NUL. */
function octal(h: Buffer, start: number, len: number, value: number): void {
  h.write(`${value.toString(8).padStart(len - 1, '0')}\0`, start, len, 'latin1');
}

function truncateUtf8(s: string, max: number): string {
  let out = s;
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}
