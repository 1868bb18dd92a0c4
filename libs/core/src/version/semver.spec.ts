import { isLseError } from '../errors';
import { assertValidVersion, compareVersions, isValidVersion, parseConstraint, satisfies } from './index';

describe('semver versions', () => {
  // The precedence example of SemVer 2.0 §11, plus core ordering.
  const ordered = [
    '0.0.1',
    '0.1.0',
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.9.0',
    '1.10.0',
    '1.11.0',
    '2.0.0',
    '2.1.0',
    '2.1.1',
    '10.0.0',
  ];

  it('orders the SemVer spec precedence list pairwise', () => {
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect([ordered[i], ordered[j], compareVersions('semver', ordered[i]!, ordered[j]!)]).toEqual([
          ordered[i],
          ordered[j],
          Math.sign(i - j),
        ]);
      }
    }
  });

  it('sorts a shuffled list back into precedence order', () => {
    const shuffled = [...ordered].reverse();
    shuffled.push(shuffled.shift()!);
    expect(shuffled.sort((a, b) => compareVersions('semver', a, b))).toEqual(ordered);
  });

  it('ignores build metadata for precedence and compares numeric identifiers numerically', () => {
    expect(compareVersions('semver', '1.0.0+build.1', '1.0.0+build.2')).toBe(0);
    expect(compareVersions('semver', '1.0.0-rc.1+x', '1.0.0')).toBe(-1);
    expect(compareVersions('semver', '1.0.0-2', '1.0.0-10')).toBe(-1);
    expect(compareVersions('semver', '1.0.0-10', '1.0.0-1a')).toBe(-1); // numeric < alphanumeric
    expect(compareVersions('semver', '1.0.0-99999999999999999999', '1.0.0-100000000000000000000')).toBe(-1);
  });

  it.each([
    ['1.2', 'MAJOR.MINOR.PATCH'],
    ['1.2.3.4', 'MAJOR.MINOR.PATCH'],
    ['01.2.3', 'leading zeros'],
    ['v1.2.3', "leading 'v'"],
    ['1.2.3-', 'prerelease'],
    ['1.2.3-01', 'prerelease'],
    ['1.2.3-a..b', 'prerelease'],
    ['1.2.3+', 'build'],
    ['', 'empty'],
    [' 1.2.3', 'whitespace'],
    ['a.b.c', 'numbers'],
    ['99999999999999999.0.0', 'too large'],
  ])('rejects %p with a message about %s', (v, hint) => {
    expect(isValidVersion('semver', v)).toBe(false);
    let err: unknown;
    try {
      assertValidVersion('semver', v);
    } catch (e) {
      err = e;
    }
    expect(isLseError(err, 'VERSION_INVALID')).toBe(true);
    expect((err as Error).message).toContain(`'${v}'`);
    expect((err as Error).message).toContain(hint);
    expect(() => compareVersions('semver', '1.0.0', v)).toThrow(/not a SemVer 2.0 version/);
  });

  it('accepts valid versions', () => {
    for (const v of ['0.0.0', '1.2.3-alpha-1.0.x+exp.sha.5114f85', '1.0.0-0A.is.legal', '1.0.0+001']) {
      expect(isValidVersion('semver', v)).toBe(true);
      expect(() => assertValidVersion('semver', v)).not.toThrow();
    }
  });
});

describe('semver ranges', () => {
  const table: [string, string, boolean][] = [
    // primitive comparators
    ['1.2.3', '1.2.3', true],
    ['=1.2.3', '1.2.3+b', true],
    ['1.2.3', '1.2.4', false],
    ['>1.2.3', '1.2.4', true],
    ['>1.2.3', '1.2.3', false],
    ['>=1.2.3', '1.2.3', true],
    ['<1.2.3', '1.2.2', true],
    ['<1.2.3', '1.2.3', false],
    ['<=1.2.3', '1.2.3', true],
    ['>= 1.2.3', '1.5.0', true],
    ['v1.2.3', '1.2.3', true],
    // AND / OR
    ['>=1.2.7 <1.3.0', '1.2.8', true],
    ['>=1.2.7 <1.3.0', '1.3.0', false],
    ['>=1.2.7 <1.3.0', '1.2.6', false],
    ['1.2.7 || >=1.2.9 <2.0.0', '1.2.7', true],
    ['1.2.7 || >=1.2.9 <2.0.0', '1.2.8', false],
    ['1.2.7 || >=1.2.9 <2.0.0', '1.4.6', true],
    // caret
    ['^1.2.3', '1.9.9', true],
    ['^1.2.3', '2.0.0', false],
    ['^1.2.3', '1.2.2', false],
    ['^0.2.3', '0.2.9', true],
    ['^0.2.3', '0.3.0', false],
    ['^0.0.3', '0.0.3', true],
    ['^0.0.3', '0.0.4', false],
    ['^1.2', '1.9.0', true],
    ['^1.x', '1.0.0', true],
    ['^0.x', '0.9.0', true],
    ['^0.x', '1.0.0', false],
    ['^0.0', '0.0.9', true],
    ['^0.0', '0.1.0', false],
    // tilde
    ['~1.2.3', '1.2.9', true],
    ['~1.2.3', '1.3.0', false],
    ['~1.2', '1.2.0', true],
    ['~1', '1.9.0', true],
    ['~1', '2.0.0', false],
    ['~>1.2', '1.2.5', true],
    // x-ranges and partials
    ['*', '0.0.0', true],
    ['*', '99.0.0', true],
    ['', '3.0.0', true],
    ['1.x', '1.99.0', true],
    ['1.x', '2.0.0', false],
    ['1.2.*', '1.2.7', true],
    ['1.2.*', '1.3.0', false],
    ['1.2', '1.2.99', true],
    ['1', '1.5.0', true],
    ['1', '0.9.0', false],
    ['>1.2', '1.2.9', false],
    ['>1.2', '1.3.0', true],
    ['>=1.2', '1.2.0', true],
    ['<1.2', '1.1.9', true],
    ['<1.2', '1.2.0', false],
    ['<=1.2', '1.2.9', true],
    ['<=1.2', '1.3.0', false],
    ['>*', '1.0.0', false],
    ['<*', '0.0.0', false],
    // hyphen ranges
    ['1.2.3 - 2.3.4', '1.2.3', true],
    ['1.2.3 - 2.3.4', '2.3.4', true],
    ['1.2.3 - 2.3.4', '2.3.5', false],
    ['1.2 - 2.3.4', '1.2.0', true],
    ['1.2 - 2.3.4', '1.1.9', false],
    ['1.2.3 - 2.3', '2.3.9', true],
    ['1.2.3 - 2.3', '2.4.0', false],
    ['1.2.3 - 2', '2.9.9', true],
    ['1.2.3 - 2', '3.0.0', false],
    // Debian-style relations on semver candidates
    ['(>= 1.2.0)', '1.2.0', true],
    ['(>= 1.2.0)', '1.1.0', false],
    ['>> 1.0.0', '1.0.0', false],
    ['>> 1.0.0', '1.0.1', true],
    ['<< 2.0.0', '1.9.9', true],
    ['<< 2.0.0', '2.0.0', false],
    ['= 1.0.0', '1.0.0', true],
    ['(>= 1.0.0) (<< 2.0.0)', '1.5.0', true],
    ['(>= 1.0.0) (<< 2.0.0)', '2.0.0', false],
  ];

  it.each(table)('%p satisfied by %p: %p', (range, version, expected) => {
    expect(satisfies('semver', version, range)).toBe(expected);
  });

  const prerelease: [string, string, boolean][] = [
    ['>=1.0.0-beta', '1.0.0-rc.1', true],
    ['>=1.0.0-beta', '1.0.0-alpha', false],
    ['>=1.0.0-beta', '1.1.0-alpha', false], // different M.m.p: excluded by the prerelease rule
    ['>=1.0.0-beta', '1.1.0', true],
    ['>1.2.3-alpha.3', '1.2.3-alpha.7', true],
    ['>1.2.3-alpha.3', '3.4.5-alpha.9', false],
    ['^1.2.3', '1.3.0-beta', false],
    ['^1.2.3-beta.2', '1.2.3-beta.4', true],
    ['^1.2.3-beta.2', '1.2.4-beta.4', false],
    ['*', '1.0.0-rc.1', false],
    ['<2.0.0', '2.0.0-rc.1', false],
    ['1.0.0-rc.1 || 2.x', '1.0.0-rc.1', true],
    ['~1.2.3-beta.2', '1.2.3-beta.4', true],
    ['1.2.3-pre - 2.0.0', '1.2.3-pre.1', true],
  ];
  it.each(prerelease)('prerelease rule: %p satisfied by %p: %p', (range, version, expected) => {
    expect(satisfies('semver', version, range)).toBe(expected);
  });

  it('treats a missing constraint as any valid version, and invalid versions as never satisfying', () => {
    expect(satisfies('semver', '1.0.0-rc.1', undefined)).toBe(true);
    expect(satisfies('semver', '2.0.0', undefined)).toBe(true);
    expect(satisfies('semver', 'banana', undefined)).toBe(false);
    expect(satisfies('semver', '1.2', '*')).toBe(false);
    expect(satisfies('semver', '01.2.3', '>=0.0.0')).toBe(false);
  });

  it.each([
    ['>=', 'needs a version'],
    ['^^1', 'not a version'],
    ['foo', "'foo' is not a version"],
    ['1.2.3 -', 'missing at the end'],
    ['- 1.2.3', 'hyphen range'],
    ['>1 - 2', 'hyphen range takes plain versions'],
    ['^1 ||', 'empty'],
    ['(>= 1.0.0', "'('"],
    ['>= 1.0.0)', "')'"],
    ['1.2.3-01', 'not a version'],
    ['1.x.y', 'not a version'],
  ])('rejects range %p (%s)', (raw, hint) => {
    let err: unknown;
    try {
      parseConstraint('semver', raw);
    } catch (e) {
      err = e;
    }
    expect(isLseError(err, 'CONSTRAINT_INVALID')).toBe(true);
    expect((err as Error).message).toContain(`'${raw}'`);
    expect((err as Error).message).toContain(hint);
  });

  it('caches parsed constraints', () => {
    expect(parseConstraint('semver', '^4.5.6')).toBe(parseConstraint('semver', '^4.5.6'));
    expect(parseConstraint('semver', '^4.5.6').raw).toBe('^4.5.6');
  });
});
