/**
 * Mutators for the fuzzer: generic byte-level ones (flip, overwrite, insert, delete, duplicate,
 * repeat, splice with another seed, truncate) and structure-aware ones that keep an input deep
 * enough in the parser to matter: for tar, rewriting one header field (size, mode, ids, mtime,
 * typeflag, name) with octal, base-256 or garbage and then fixing the checksum, or inserting a
 * crafted PAX / GNU long-name member; for manifests, inserting YAML tokens (flow brackets,
 * anchors, aliases, tags, indicators, quotes, indentation) and repeating them thousands of times.
 */
import type { Rng } from './rng';

const BLOCK = 512;
/** Bytes that sit on boundaries: NUL, space, digits, sign bits, newline, high bytes. */
const INTERESTING_BYTES = [0x00, 0x01, 0x0a, 0x20, 0x30, 0x37, 0x38, 0x7f, 0x80, 0xfe, 0xff, 0x40, 0xc0];

export type Mutator = (input: Buffer, rng: Rng, seeds: readonly Buffer[]) => Buffer;

/** Upper bound on a mutated input, so a run of repeats cannot make inputs grow without end. */
export const MAX_INPUT = 2 * 1024 * 1024;

function clamp(b: Buffer): Buffer {
  return b.length > MAX_INPUT ? b.subarray(0, MAX_INPUT) : b;
}

export const byteMutators: Mutator[] = [
  function flipBit(b, rng) {
    if (b.length === 0) return b;
    const out = Buffer.from(b);
    const i = rng.int(out.length);
    out[i] = (out[i] ?? 0) ^ (1 << rng.int(8));
    return out;
  },
  function interestingByte(b, rng) {
    if (b.length === 0) return Buffer.from([rng.pick(INTERESTING_BYTES)]);
    const out = Buffer.from(b);
    out[rng.int(out.length)] = rng.pick(INTERESTING_BYTES);
    return out;
  },
  function randomBytes(b, rng) {
    const out = Buffer.from(b);
    const n = Math.min(out.length, 1 + rng.size(32));
    const at = rng.int(Math.max(1, out.length - n + 1));
    for (let i = 0; i < n && at + i < out.length; i++) out[at + i] = rng.int(256);
    return out;
  },
  function insertBytes(b, rng) {
    const at = rng.int(b.length + 1);
    const ins = Buffer.alloc(1 + rng.size(64), rng.pick(INTERESTING_BYTES));
    return clamp(Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]));
  },
  function deleteRange(b, rng) {
    if (b.length === 0) return b;
    const at = rng.int(b.length);
    const n = 1 + rng.size(b.length - at);
    return Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
  },
  function repeatRange(b, rng) {
    if (b.length === 0) return b;
    const at = rng.int(b.length);
    const n = 1 + rng.size(Math.min(64, b.length - at - 1));
    const chunk = b.subarray(at, at + n);
    const times = 1 + rng.size(5000);
    return clamp(Buffer.concat([b.subarray(0, at), Buffer.alloc(chunk.length * times).fill(chunk), b.subarray(at)]));
  },
  function splice(b, rng, seeds) {
    const other = rng.pick(seeds);
    if (!other || other.length === 0) return b;
    const cut = rng.int(b.length + 1);
    const from = rng.int(other.length);
    return clamp(Buffer.concat([b.subarray(0, cut), other.subarray(from, from + 1 + rng.size(other.length - from))]));
  },
  function truncate(b, rng) {
    return b.subarray(0, rng.int(b.length + 1));
  },
];

// ---- tar ------------------------------------------------------------------------------------

const FIELDS: Array<[start: number, len: number]> = [
  [100, 8],
  [108, 8],
  [116, 8],
  [124, 12],
  [136, 12],
  [329, 8],
  [337, 8],
];
const FLAGS = ['0', '1', '2', '3', '4', '5', '6', '7', 'g', 'x', 'L', 'K', 'S', 'V', 'M', 'N', 'D', 'A', '\0', 'X'];

/** Rewrites the 8-byte checksum of the header at `at` so the reader looks past it. */
export function fixChecksum(b: Buffer, at: number): void {
  if (at + BLOCK > b.length) return;
  b.fill(0x20, at + 148, at + 156);
  let sum = 0;
  for (let i = at; i < at + BLOCK; i++) sum += b[i] ?? 0;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 8, 'latin1');
}

function numberField(rng: Rng, len: number): Buffer {
  const out = Buffer.alloc(len);
  switch (rng.int(6)) {
    case 0: {
      // octal, any magnitude that fits
      const digits = rng.int(len);
      const v = Math.floor(rng.next() * 2 ** rng.int(22)) % 8 ** Math.min(digits, 17);
      out.write(
        `${v
          .toString(8)
          .padStart(len - 1, '0')
          .slice(-(len - 1))}\0`,
        0,
        len,
        'latin1',
      );
      break;
    }
    case 1: {
      // base-256, negative (two's complement) or positive, small or huge
      const negative = rng.chance(0.5);
      out.fill(negative ? 0xff : 0x00);
      const tail = 1 + rng.int(len - 1);
      for (let i = len - tail; i < len; i++) out[i] = rng.int(256);
      out[0] = negative ? 0xff : 0x80 | (out[0] ?? 0);
      break;
    }
    case 2: {
      // exact multiples of the block size, positive or negative
      const v = BigInt((rng.int(8) - 4) * BLOCK);
      let u = BigInt.asUintN(8 * len, v);
      for (let i = len - 1; i >= 0; i--) {
        out[i] = Number(u & 0xffn);
        u >>= 8n;
      }
      out[0] = (out[0] ?? 0) | 0x80;
      break;
    }
    case 3:
      out.write(rng.pick(['77777777777', '-1', ' 12 ', '0x10', '1e9', '9', '', '00000001000 ']), 0, len, 'latin1');
      break;
    case 4:
      for (let i = 0; i < len; i++) out[i] = rng.pick(INTERESTING_BYTES);
      break;
    default:
      out.write(
        `${rng
          .size(1 << 20)
          .toString(8)
          .padStart(len - 1, '0')}\0`,
        0,
        len,
        'latin1',
      );
  }
  return out;
}

function paxRecords(rng: Rng): Buffer {
  const keys = ['path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'uname', 'gname', 'GNU.sparse.size', 'comment', ''];
  const values = [
    '-512',
    '0',
    '1',
    '512',
    '1.5',
    '-1.25',
    '1e3',
    '0x10',
    '99999999999999999999',
    'a/b',
    '../../etc/passwd',
    '',
    'x'.repeat(5000),
  ];
  const parts: string[] = [];
  for (let i = 1 + rng.int(4); i > 0; i--) {
    const body = ` ${rng.pick(keys)}=${rng.pick(values)}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    const shown = rng.chance(0.8)
      ? String(len)
      : rng.pick(['0', '1', '-5', String(len + 1), String(len - 1), '', ' 7', '08']);
    parts.push(`${shown}${body}`);
  }
  return Buffer.from(parts.join(''), 'utf8');
}

function headerAt(b: Buffer, rng: Rng): number {
  const blocks = Math.floor(b.length / BLOCK);
  return blocks === 0 ? -1 : rng.int(blocks) * BLOCK;
}

export const tarMutators: Mutator[] = [
  function tarNumber(b, rng) {
    const at = headerAt(b, rng);
    if (at < 0) return b;
    const out = Buffer.from(b);
    const [start, len] = rng.pick(FIELDS);
    numberField(rng, len).copy(out, at + start);
    if (rng.chance(0.95)) fixChecksum(out, at);
    return out;
  },
  function tarFlag(b, rng) {
    const at = headerAt(b, rng);
    if (at < 0) return b;
    const out = Buffer.from(b);
    out.write(rng.pick(FLAGS), at + 156, 1, 'latin1');
    if (rng.chance(0.5)) numberField(rng, 12).copy(out, at + 124);
    fixChecksum(out, at);
    return out;
  },
  function tarName(b, rng) {
    const at = headerAt(b, rng);
    if (at < 0) return b;
    const out = Buffer.from(b);
    const names = ['', '/', '..', '../x', './', 'a/../../b', '.wh.x', 'a\0b', 'x'.repeat(100), 'ü/€', 'dir/'];
    out.fill(0, at, at + 100);
    out.write(rng.pick(names), at, 100, 'utf8');
    if (rng.chance(0.3)) out.write(rng.pick(['ustar\x0000', 'ustar  \0', 'yyyyyy']), at + 257, 8, 'latin1');
    fixChecksum(out, at);
    return out;
  },
  function tarInsertMember(b, rng) {
    // A crafted x / g / L / K member (with data), inserted at a block boundary.
    const at = Math.max(0, headerAt(b, rng));
    const flag = rng.pick(['x', 'g', 'L', 'K', '0', '5']);
    const data =
      flag === 'x' || flag === 'g'
        ? paxRecords(rng)
        : Buffer.from(rng.pick(['long/name', 'x'.repeat(300), '', '../up', 'a'.repeat(5000)]));
    const h = Buffer.alloc(BLOCK);
    h.write(flag === 'L' || flag === 'K' ? '././@LongLink' : 'PaxHeader/x', 0, 100, 'utf8');
    for (const [start, len] of FIELDS) h.write(`${'0'.repeat(len - 1)}\0`, start, len, 'latin1');
    const size = rng.chance(0.8) ? data.length : rng.int(4096);
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
    if (rng.chance(0.2)) numberField(rng, 12).copy(h, 124);
    h.write(flag, 156, 1, 'latin1');
    h.write('ustar\x0000', 257, 8, 'latin1');
    fixChecksum(h, 0);
    const padded = Buffer.concat([data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK)]);
    const times = rng.chance(0.1) ? 1 + rng.size(40) : 1;
    const member = Buffer.concat(Array.from({ length: times }, () => Buffer.concat([h, padded])));
    return clamp(Buffer.concat([b.subarray(0, at), member, b.subarray(at)]));
  },
  function tarDuplicateBlocks(b, rng) {
    const at = headerAt(b, rng);
    if (at < 0) return b;
    const n = 1 + rng.int(3);
    const chunk = b.subarray(at, at + n * BLOCK);
    const times = 1 + rng.size(500);
    return clamp(Buffer.concat([b.subarray(0, at), Buffer.alloc(chunk.length * times).fill(chunk), b.subarray(at)]));
  },
];

// ---- manifests ------------------------------------------------------------------------------

const YAML_TOKENS = [
  '{',
  '}',
  '[',
  ']',
  '{"a":',
  '[[',
  '- ',
  '? ',
  ': ',
  ',',
  '&a ',
  '*a',
  '&b [*a,*a,*a] ',
  '!!binary ',
  '!!str ',
  '!x ',
  '!<tag:x> ',
  '"',
  "'",
  '\\',
  '#',
  '|',
  '>',
  '|-',
  '>+2',
  '\n',
  '\n  ',
  '\n- ',
  '\t',
  '---\n',
  '...\n',
  '%YAML 1.2\n',
  '%TAG ! tag:x:\n',
  '~',
  'null',
  'true',
  '0x1F',
  '0o17',
  '1e999',
  '.nan',
  '-.inf',
  '0644',
  '1.10',
  '"\\u0000"',
  '"\\uD800"',
  '\u2028',
  '\ufeff',
  '€',
  '\u0000',
  'apiVersion: lse.dev/v1\n',
  'kind: DependencyManifest\n',
  'require:\n  - name: a\n',
  'files:\n  - { path: /x, content: y }\n',
  'env: { A: b }\n',
  'platform: { arch: arm, variant: v7 }\n',
  'base: "minimal@sha256:',
  '<<: *a\n',
  '? [a]\n: b\n',
];

function text(b: Buffer): string {
  return b.toString('utf8');
}

export const manifestMutators: Mutator[] = [
  function insertToken(b, rng) {
    const s = text(b);
    const at = rng.int(s.length + 1);
    const token = rng.pick(YAML_TOKENS);
    const times = rng.chance(0.05) ? 1 + rng.size(3000) : 1;
    return clamp(Buffer.from(s.slice(0, at) + token.repeat(times) + s.slice(at), 'utf8'));
  },
  function replaceLine(b, rng, seeds) {
    const lines = text(b).split('\n');
    const other = text(rng.pick(seeds) ?? b).split('\n');
    lines[rng.int(lines.length)] = rng.pick(other);
    return Buffer.from(lines.join('\n'), 'utf8');
  },
  function indent(b, rng) {
    const lines = text(b).split('\n');
    const i = rng.int(lines.length);
    lines[i] = ' '.repeat(rng.size(40)) + (lines[i] ?? '').trimStart();
    return Buffer.from(lines.join('\n'), 'utf8');
  },
  function repeatLines(b, rng) {
    const lines = text(b).split('\n');
    const i = rng.int(lines.length);
    const n = 1 + rng.int(3);
    const chunk = lines.slice(i, i + n);
    const chunkChars = chunk.reduce((sum, l) => sum + l.length + 1, 0);
    const times = Math.min(1 + rng.size(2000), Math.max(1, Math.floor(MAX_INPUT / Math.max(1, chunkChars))));
    const out = [...lines.slice(0, i), ...Array.from({ length: times }, () => chunk).flat(), ...lines.slice(i)];
    return clamp(Buffer.from(out.join('\n'), 'utf8'));
  },
  function longScalar(b, rng) {
    const s = text(b);
    const at = rng.int(s.length + 1);
    const ch = rng.pick(['x', '9', ' ', '€', '\\n', 'a: ', '"']);
    return clamp(Buffer.from(s.slice(0, at) + ch.repeat(1 + rng.size(300_000)) + s.slice(at), 'utf8'));
  },
];

/** One mutated input from `base`: 1 to 4 stacked mutations, structure-aware ones favoured. */
export function mutate(base: Buffer, rng: Rng, seeds: readonly Buffer[], structured: readonly Mutator[]): Buffer {
  let out = base;
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const pool = rng.chance(0.6) ? structured : byteMutators;
    out = rng.pick(pool)(out, rng, seeds);
  }
  return out;
}
