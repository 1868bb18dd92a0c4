import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLseError } from '../errors';
import { parseDebian } from './debian';
import { assertValidVersion, compareVersions, isValidVersion, parseConstraint, satisfies } from './index';

const cmp = (a: string, b: string) => compareVersions('debian', a, b);

describe('Debian versions: parsing', () => {
  it('splits epoch, upstream and revision (revision after the last hyphen)', () => {
    expect(parseDebian('1:2.36-9+deb12u4')).toMatchObject({ epoch: 1, upstream: '2.36', revision: '9+deb12u4' });
    expect(parseDebian('2.0-beta-1')).toMatchObject({ epoch: 0, upstream: '2.0-beta', revision: '1' });
    expect(parseDebian('1.0')).toMatchObject({ epoch: 0, upstream: '1.0', revision: '' });
    expect(parseDebian('0:1.0~rc1')).toMatchObject({ epoch: 0, upstream: '1.0~rc1', revision: '' });
  });

  it.each([
    ['', 'empty'],
    [':1.0', 'epoch'],
    ['a:1.0', 'epoch'],
    ['-1:1.0', 'epoch'],
    ['99999999999:1.0', 'too big'],
    ['1.0-', 'revision'],
    ['-1', 'upstream version is empty'],
    ['1:-1', 'upstream version is empty'],
    ['a1.0', 'start with a digit'],
    ['1.0_1', "'_'"],
    ['1:1.0:2', "':'"],
    ['1.0-1_2', "'_'"],
    ['1.0-1-', 'revision'],
    ['1.0 1', 'whitespace'],
  ])('rejects %p (%s)', (v, hint) => {
    expect(isValidVersion('debian', v)).toBe(false);
    let err: unknown;
    try {
      assertValidVersion('debian', v);
    } catch (e) {
      err = e;
    }
    expect(isLseError(err, 'VERSION_INVALID')).toBe(true);
    expect((err as Error).message).toContain(`'${v}'`);
    expect((err as Error).message).toContain(hint);
    expect(() => cmp('1.0', v)).toThrow(/not a Debian version/);
  });

  it('accepts policy-conforming versions', () => {
    for (const v of [
      '0',
      '1.0',
      '2:1.0+dfsg-3~bpo12+1',
      '1.2.3a~beta1-0ubuntu0.22.04.1',
      '1.0-A',
      '7.88.1-10+deb12u5',
      '0:0-0',
    ]) {
      expect(isValidVersion('debian', v)).toBe(true);
    }
  });
});

describe('Debian versions: comparison (hand cases)', () => {
  const cases: [string, '<' | '=' | '>', string][] = [
    ['1.0', '<', '1.1'],
    ['1.0', '=', '1.0'],
    ['1.0', '=', '0:1.0'],
    ['1.0', '=', '1.0-0'],
    ['1.0', '=', '01.00'],
    ['1:0.1', '>', '9.9'],
    ['2:1.0', '>', '1:9.9'],
    ['10:1', '>', '9:1'],
    ['1.0~rc1', '<', '1.0'],
    ['1.0~rc1', '<', '1.0~rc2'],
    ['1.0~~', '<', '1.0~'],
    ['1.0~', '<', '1.0'],
    ['1.0~rc1~1', '<', '1.0~rc1'],
    ['1.0', '<', '1.0a'],
    ['1.0a', '<', '1.0+'],
    ['1.0a', '<', '1.0.'],
    ['1.0Z', '<', '1.0a'], // ASCII among letters
    ['1.0+', '<', '1.0.'], // ASCII among non-letters: '+' (43) < '.' (46)
    ['1.0', '<', '1.0.0'],
    ['1.0', '<', '1.0+dfsg'],
    ['1.9', '<', '1.10'],
    ['1.002', '=', '1.2'],
    ['1.0-1', '<', '1.0-2'],
    ['1.0-9', '<', '1.0-10'],
    ['1.0-1', '<', '1.0-1+b1'],
    ['1.0-1~bpo1', '<', '1.0-1'],
    ['1.0-1', '>', '1.0'],
    ['1.0-1', '<', '1.0.1-0'],
    ['2.36-9+deb12u4', '>', '2.36-9'],
    ['2.36-9+deb12u4', '<', '2.36-9+deb12u10'],
    ['1.2.3-0ubuntu1', '<', '1.2.3-1'],
    ['0', '<', '0a'],
    ['1.0', '=', '1.0'],
    ['1:1.0-1', '=', '01:1.0-01'],
  ];

  it.each(cases)('%s %s %s', (a, op, b) => {
    const want = op === '<' ? -1 : op === '=' ? 0 : 1;
    expect(cmp(a, b)).toBe(want);
    expect(cmp(b, a)).toBe(want === 0 ? 0 : -want);
  });
});

describe('Debian relations', () => {
  const table: [string, string, boolean][] = [
    ['>= 2.36', '2.36', true],
    ['(>= 2.36)', '2.36-9+deb12u4', true],
    ['(>= 2.36)', '2.35', false],
    ['>=2.36', '1:2.0', true],
    ['<< 2.0', '2.0~rc1', true],
    ['<< 2.0', '2.0', false],
    ['(<= 2.0)', '2.0', true],
    ['(<= 2.0)', '2.0-1', false],
    ['= 1.0-1', '1.0-1', true],
    ['= 1.0', '1.0-0', true],
    ['= 1.0', '1.0-1', false],
    ['>> 1.0', '1.0', false],
    ['>> 1.0', '1.0+b1', true],
    ['< 1.0', '1.0', true], // obsolete '<' means '<='
    ['> 1.0', '1.0', true], // obsolete '>' means '>='
    ['> 1.0', '0.9', false],
    ['1.0-1', '1.0-1', true], // bare version means '='
    ['>= 1.0, << 2.0', '1.5', true],
    ['(>= 1.0) (<< 2.0)', '2.0', false],
    ['*', '0:0', true],
    ['', '3.0', true],
  ];
  it.each(table)('%p satisfied by %p: %p', (raw, version, expected) => {
    expect(satisfies('debian', version, raw)).toBe(expected);
  });

  it('never lets an invalid version satisfy, even with no constraint', () => {
    expect(satisfies('debian', 'abc', undefined)).toBe(false);
    expect(satisfies('debian', '1.0-', '>= 0')).toBe(false);
  });

  it.each([
    ['^1.0', 'use a Debian relation'],
    ['~1.2', 'use a Debian relation'],
    ['1.x', 'use a Debian relation'],
    ['>=1.2 <2 || 3', 'use a Debian relation'],
    ['(>= 1.0', "'('"],
    ['>= 1.0)', "')'"],
    ['>=', 'OP VERSION'],
    ['>= a1', 'start with a digit'],
    ['=> 1.0', 'Debian relation'],
  ])('rejects %p (%s)', (raw, hint) => {
    let err: unknown;
    try {
      parseConstraint('debian', raw);
    } catch (e) {
      err = e;
    }
    expect(isLseError(err, 'CONSTRAINT_INVALID')).toBe(true);
    expect((err as Error).message).toContain(`'${raw}'`);
    expect((err as Error).message).toContain(hint);
  });
});

// ---------------------------------------------------------------------------------------------
// Cross-check against the real dpkg on a deterministic random set.

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generatePairs(count: number, seed: number): [string, string][] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const digits = () => pick(['0', '1', '2', '9', '10', '01', '001', '100', '09', '00']);
  const piece = () => pick(['.', '+', '~', 'a', 'b', 'z', 'A', 'Z', 'rc', '~rc', '+dfsg', '.', '~~', '+b', 'a.']);
  const upstream = (hyphens: boolean) => {
    let s = digits();
    const n = Math.floor(rnd() * 5);
    for (let i = 0; i < n; i++) {
      s += rnd() < 0.55 ? piece() : digits();
      if (hyphens && rnd() < 0.1) s += '-' + digits();
    }
    return s;
  };
  const revision = () => {
    let s = rnd() < 0.8 ? digits() : pick(['a', '~', '+b', 'x.']);
    const n = Math.floor(rnd() * 3);
    for (let i = 0; i < n; i++) s += rnd() < 0.5 ? pick(['.', '+', '~', 'deb', 'u', 'ubuntu', 'bpo']) : digits();
    return s;
  };
  const version = () => {
    const epoch = rnd() < 0.25 ? pick(['0', '1', '2', '00', '10']) + ':' : '';
    const hasRev = rnd() < 0.5;
    return epoch + upstream(hasRev) + (hasRev ? '-' + revision() : '');
  };
  // Mutate a version slightly so many pairs are near-equal (the interesting cases).
  const mutate = (v: string) => {
    switch (Math.floor(rnd() * 7)) {
      case 0:
        return v + pick(['~', '+', '.', 'a', '0', '-0', '~1']);
      case 1:
        return v.includes(':') ? v.slice(v.indexOf(':') + 1) : '0:' + v;
      case 2: {
        const i = Math.floor(rnd() * v.length);
        const c = v[i]!;
        const repl = /\d/.test(c) ? pick(['0', '1', '9', '00']) : pick(['~', '+', '.', 'a', 'B']);
        const out = v.slice(0, i) + repl + v.slice(i + 1);
        return isValidVersion('debian', out) ? out : v;
      }
      case 3:
        return v.replace(/\d+/, (d) => '0' + d);
      case 4:
        return v;
      default:
        return version();
    }
  };
  const pairs: [string, string][] = [];
  while (pairs.length < count) {
    const a = version();
    const b = mutate(a);
    if (!isValidVersion('debian', a) || !isValidVersion('debian', b))
      throw new Error(`generator made an invalid version: ${a} / ${b}`);
    pairs.push([a, b]);
  }
  return pairs;
}

describe('Debian comparison matches dpkg --compare-versions', () => {
  it('on 3000 generated pairs', () => {
    const which = spawnSync('sh', ['-c', 'command -v dpkg'], { encoding: 'utf8' });
    if (which.status !== 0) {
      throw new Error(
        'dpkg is required for this test (it checks the comparator against dpkg --compare-versions); run it on a Debian host',
      );
    }
    const pairs = generatePairs(3000, 20240611);
    const dir = mkdtempSync(join(tmpdir(), 'lse-dpkg-'));
    try {
      const file = join(dir, 'pairs.txt');
      writeFileSync(file, pairs.map(([a, b]) => `${a} ${b}\n`).join(''));
      // One shell for every pair; dpkg exits 0 (true), 1 (false) or 2+ (error).
      const script = `
        while read -r a b; do
          dpkg --compare-versions "$a" lt "$b"; r=$?
          if [ $r -eq 0 ]; then echo -1; continue; fi
          [ $r -ne 1 ] && { echo "ERR $a $b"; continue; }
          dpkg --compare-versions "$a" eq "$b"; r=$?
          if [ $r -eq 0 ]; then echo 0; elif [ $r -eq 1 ]; then echo 1; else echo "ERR $a $b"; fi
        done < "$1"`;
      const run = spawnSync('sh', ['-c', script, 'sh', file], { encoding: 'utf8', maxBuffer: 16 << 20 });
      expect(run.status).toBe(0);
      const got = run.stdout.trim().split('\n');
      expect(got).toHaveLength(pairs.length);
      const mismatches = pairs
        .map(([a, b], i) => ({ a, b, dpkg: got[i], ours: String(compareVersions('debian', a, b)) }))
        .filter((r) => r.dpkg !== r.ours);
      expect(mismatches).toEqual([]);
      // The set must exercise all three outcomes, or it proves little.
      for (const outcome of ['-1', '0', '1']) expect(got.filter((g) => g === outcome).length).toBeGreaterThan(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
