/**
 * Hostile archives: each is refused with TAR_INVALID / TAR_UNSAFE instead of looping, and the
 * reader keeps working afterwards. Headers are built by hand here, since writeTar cannot produce
 * any of them.
 */
import { gzipSync } from 'node:zlib';
import { isLseError, LseError } from '../errors';
import { MAX_PATH_BYTES, MAX_PSEUDO_RUN, readTar } from './read';
import { writeTar } from './write';

const BLOCK = 512;
type Field = 'mode' | 'uid' | 'gid' | 'size' | 'mtime' | 'devmajor' | 'devminor';
const FIELDS: Record<Field, [start: number, len: number]> = {
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  devmajor: [329, 8],
  devminor: [337, 8],
};

/** A ustar header with octal zeros everywhere, `raw` bytes written over fields, and a valid checksum. */
function header(flag: string, raw: Partial<Record<Field, Buffer>> = {}, name = 'member', size = 0): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  for (const [start, len] of Object.values(FIELDS)) h.write(`${'0'.repeat(len - 1)}\0`, start, len, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  for (const [field, bytes] of Object.entries(raw)) bytes.copy(h, FIELDS[field as Field][0]);
  h.write(flag, 156, 1, 'latin1');
  h.write('ustar\x0000', 257, 8, 'latin1');
  return withChecksum(h);
}

function withChecksum(h: Buffer): Buffer {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

/** GNU base-256 (two's complement, marker bit set) of `value` in `len` bytes. */
function base256(value: bigint, len: number): Buffer {
  const b = Buffer.alloc(len);
  let v = BigInt.asUintN(8 * len, value);
  for (let i = len - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  b[0] = (b[0] ?? 0) | 0x80;
  return b;
}

const END = Buffer.alloc(2 * BLOCK);
const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((BLOCK - (b.length % BLOCK)) % BLOCK)]);
const paxData = (records: string) => pad(Buffer.from(records));

function refusal(input: Buffer): LseError {
  try {
    readTar(input);
  } catch (e) {
    if (isLseError(e, 'TAR_INVALID') || isLseError(e, 'TAR_UNSAFE')) return e;
    throw e;
  }
  throw new Error('expected the archive to be refused');
}

const good = writeTar([
  { path: 'ok', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 2, data: Buffer.from('ok') },
]);

afterEach(() => {
  // the reader is still serving: a valid archive right after a hostile one reads normally
  expect(readTar(good).map((e) => e.path)).toEqual(['ok']);
});

describe('readTar: negative base-256 sizes (used to loop for ever, or 200,000 times)', () => {
  // -512 moves the offset back exactly onto the same header.
  it.each(['g', 'x', 'L', 'K', '0', '5', '2'])("a '%s' header with size -512", (flag) => {
    const tar = Buffer.concat([header(flag, { size: base256(-512n, 12) }), END]);
    const e = refusal(tar);
    expect(e.code).toBe('TAR_INVALID');
    expect(e.details).toEqual({ offset: 0, field: 'size' });
    expect(e.message).toMatch(/size is negative/);
  });

  it('the same header after a valid member, and gzipped as a base rootfs upload would be', () => {
    const tar = Buffer.concat([good.subarray(0, 2 * BLOCK), header('x', { size: base256(-1024n, 12) }), END]);
    expect(refusal(tar).details).toEqual({ offset: 2 * BLOCK, field: 'size' });
    expect(refusal(gzipSync(tar)).details).toEqual({ offset: 2 * BLOCK, field: 'size' });
  });
});

describe('readTar: other numeric fields', () => {
  it.each(['mode', 'uid', 'gid', 'devmajor', 'devminor'] as const)('a negative base-256 %s', (field) => {
    const flag = field.startsWith('dev') ? '3' : '0';
    expect(refusal(Buffer.concat([header(flag, { [field]: base256(-1n, 8) }), END])).details).toEqual({
      offset: 0,
      field,
    });
  });

  it('a negative base-256 mtime is a date before 1970, not an error', () => {
    const [e] = readTar(Buffer.concat([header('0', { mtime: base256(-86400n, 12) }), END]));
    expect(e?.mtime).toBe(-86400);
  });

  it.each([
    ['size beyond 2^53', 'size', base256(1n << 60n, 12), /out of range/],
    ['size larger than the archive', 'size', base256(1n << 40n, 12), /truncated/],
    ['non-octal size', 'size', Buffer.from('0000000009\0'), /not octal/],
    ['uid beyond 2^53', 'uid', base256(1n << 55n, 8), /out of range/],
  ] as const)('%s', (_name, field, bytes, message) => {
    expect(refusal(Buffer.concat([header('0', { [field]: bytes }), END])).message).toMatch(message);
  });
});

/** `"<len> key=value\n"` with the right length. */
function rec(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

describe('readTar: PAX records', () => {
  const pax = (records: string, flag = '0', size = 0) => {
    const data = paxData(records);
    return Buffer.concat([
      header('x', {}, 'PaxHeader', Buffer.byteLength(records)),
      data,
      header(flag, {}, 'm', size),
      Buffer.alloc(Math.ceil(size / BLOCK) * BLOCK),
      END,
    ]);
  };

  it.each([
    ['negative size', rec('size', '-512'), /size='-512'.*non-negative integer/],
    ['exponent size', rec('size', '1.5e3'), /non-negative integer/],
    ['fractional size', rec('size', '1.5'), /non-negative integer/],
    ['hex size', rec('size', '0x200'), /non-negative integer/],
    ['negative uid', rec('uid', '-1'), /uid='-1'/],
    ['gid beyond 2^53', rec('gid', '99999999999999999999'), /gid=/],
    ['mtime that is not a number', rec('mtime', 'yesterday'), /number of seconds/],
    ['record length 0 (would not advance)', '0 size=1\n', /malformed PAX record/],
    ['record length shorter than its digits', '1 size=1\n', /malformed PAX record/],
    ['record length with a sign', '+9 uid=1\n', /malformed PAX record/],
    ['record length in hex', '0x9 uid=1\n', /malformed PAX record/],
    ['record length past the data', '99 uid=1\n', /malformed PAX record/],
    ['record not ending in a newline', '9 uid=12x', /malformed PAX record/],
    ['no length at all', 'uid=1\n', /malformed PAX record/],
  ])('%s', (_name, records, message) => {
    const e = refusal(pax(records));
    expect(e.code).toBe('TAR_INVALID');
    expect(e.message).toMatch(message);
  });

  it('a negative mtime with a fraction is accepted', () => {
    expect(readTar(pax(rec('mtime', '-12.5')))[0]?.mtime).toBe(-13);
  });

  it('a PAX size applies to the next member, and must fit the archive', () => {
    expect(readTar(pax(rec('size', '700'), '0', 700))[0]?.size).toBe(700);
    expect(refusal(pax(rec('size', '9999999'), '0', 700)).message).toMatch(/truncated/);
  });

  it('a path over PATH_MAX, from PAX or a GNU L header', () => {
    const long = 'a/'.repeat(MAX_PATH_BYTES / 2 + 1);
    const e = refusal(pax(rec('path', long)));
    expect(e.details).toEqual({ offset: 0, reason: 'path-length' });
    expect(e.message.length).toBeLessThan(300);
    const l = Buffer.concat([header('L', {}, '././@LongLink', long.length), paxData(long), header('0'), END]);
    expect(refusal(l).details).toEqual({ offset: 0, reason: 'path-length' });
    expect(readTar(pax(rec('path', long.slice(0, MAX_PATH_BYTES))))[0]?.path).toHaveLength(MAX_PATH_BYTES);
  });

  it('quotes at most an excerpt of a huge bad value or key', () => {
    const e = refusal(pax(rec('uid', '9'.repeat(500_000))));
    expect(e.message).toMatch(/uid='9{80}… \(500000 chars\)'/);
    expect(e.message.length).toBeLessThan(300);
    expect(JSON.stringify(e.details).length).toBeLessThan(200);
  });
});

describe('readTar: runs of pseudo-members', () => {
  it(`more than ${MAX_PSEUDO_RUN} extension headers in a row`, () => {
    const run = (n: number) => Buffer.concat([...Array.from({ length: n }, () => header('g')), header('0'), END]);
    expect(readTar(run(MAX_PSEUDO_RUN))).toHaveLength(1);
    const e = refusal(run(MAX_PSEUDO_RUN + 1));
    expect(e.code).toBe('TAR_INVALID');
    expect(e.details).toEqual({ offset: MAX_PSEUDO_RUN * BLOCK });
  });

  it('absurd numbers of members stop at maxEntries', () => {
    const many = Buffer.concat([...Array.from({ length: 1001 }, (_, i) => header('5', {}, `d${i}/`)), END]);
    expect(readTar(many, { maxEntries: 1001 })).toHaveLength(1001);
    expect(() => readTar(many, { maxEntries: 1000 })).toThrow(
      expect.objectContaining({ code: 'TAR_UNSAFE', details: { path: 'd1000/', reason: 'max-entries' } }),
    );
  });

  it('an archive cut inside a pseudo-member, or right after one', () => {
    const x = Buffer.concat([header('x', {}, 'PaxHeader', 11), paxData(rec('uid', '1'))]);
    expect(refusal(x.subarray(0, BLOCK + 5)).message).toMatch(/truncated/);
    expect(refusal(x).message).toMatch(/truncated/);
  });
});
