import { isLseError } from '../errors';
import type { Relation } from '../model';
import { formatRelation, parseRelation, satisfies } from './index';

describe('parseRelation', () => {
  const cases: [string, Relation][] = [
    ['app-config', [{ name: 'app-config' }]],
    ['hello-data ^1.0.0', [{ name: 'hello-data', constraint: '^1.0.0' }]],
    ['libc6 (>= 2.36)', [{ name: 'libc6', constraint: '>= 2.36' }]],
    ['libc6(>=2.36)', [{ name: 'libc6', constraint: '>= 2.36' }]],
    ['perl:any', [{ name: 'perl', archQualifier: 'any' }]],
    [
      'libc6:any (>= 2.36) | libc6.1',
      [{ name: 'libc6', archQualifier: 'any', constraint: '>= 2.36' }, { name: 'libc6.1' }],
    ],
    ['lib ( >=  1.2 )', [{ name: 'lib', constraint: '>= 1.2' }]],
    ['lib >=1.2   <2', [{ name: 'lib', constraint: '>=1.2 <2' }]],
    ['lib >=1.2', [{ name: 'lib', constraint: '>= 1.2' }]],
    ['lib ^1.0.0 || ^2.0.0 | other', [{ name: 'lib', constraint: '^1.0.0 || ^2.0.0' }, { name: 'other' }]],
    ['  g++-12:amd64   (<< 13)  ', [{ name: 'g++-12', archQualifier: 'amd64', constraint: '<< 13' }]],
    ['libstdc++6 1.2 - 2.3.4', [{ name: 'libstdc++6', constraint: '1.2 - 2.3.4' }]],
    ['a (>= 1.0) (<< 2.0)', [{ name: 'a', constraint: '(>= 1.0) (<< 2.0)' }]],
  ];

  it.each(cases)('parses %p', (spec, want) => {
    expect(parseRelation(spec)).toEqual(want);
  });

  it.each(cases)('round-trips %p through formatRelation', (spec) => {
    const rel = parseRelation(spec);
    const text = formatRelation(rel);
    expect(parseRelation(text)).toEqual(rel);
    expect(formatRelation(parseRelation(text))).toBe(text);
  });

  it('formats in the canonical style', () => {
    expect(formatRelation(parseRelation('libc6:any(>=2.36)|libc6.1'))).toBe('libc6:any (>= 2.36) | libc6.1');
    expect(formatRelation(parseRelation('hello-data ^1.0.0'))).toBe('hello-data ^1.0.0');
    expect(formatRelation([{ name: 'x', constraint: '<<2' }])).toBe('x (<< 2)');
  });

  it('hands out copies, so a caller mutating its result cannot poison the cache', () => {
    const first = parseRelation('zlib1g (>= 1:1.2)');
    first[0]!.name = 'mutated';
    first.push({ name: 'extra' });
    expect(parseRelation('zlib1g (>= 1:1.2)')).toEqual([{ name: 'zlib1g', constraint: '>= 1:1.2' }]);
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['a |', 'alternative 2 is empty'],
    ['| a', 'alternative 1 is empty'],
    ['a | | b', 'alternative 2 is empty'],
    ['LibC6', 'lowercase'],
    ['-lib', 'not a valid name'],
    ['lib$ 1.0', 'not a valid name'],
    ['perl:', 'architecture qualifier'],
    ['perl:ANY', 'architecture qualifier'],
    ['libc6 (>= 2.36', 'neither a Debian relation'],
    ['libc6 (>> )', 'neither a Debian relation'],
    ['libc6 banana split', 'neither a Debian relation'],
    ['a || b', 'neither a Debian relation'],
    ['(>= 1.0)', 'does not start with a name'],
    ['lib (>= 1.2 <2)', 'neither a Debian relation'],
  ])('rejects %p (%s)', (spec, hint) => {
    let err: unknown;
    try {
      parseRelation(spec);
    } catch (e) {
      err = e;
    }
    expect(isLseError(err, 'CONSTRAINT_INVALID')).toBe(true);
    expect((err as Error).message).toContain(`relation '${spec}'`);
    expect((err as Error).message).toContain(hint);
  });
});

describe('relation constraints under each scheme', () => {
  it('reads the same atom constraint with the candidate scheme', () => {
    const [atom] = parseRelation('libfoo (>> 1.0)');
    // '>>' is strict in both schemes.
    expect(satisfies('debian', '1.0+b1', atom!.constraint)).toBe(true);
    expect(satisfies('semver', '1.0.1', atom!.constraint)).toBe(false); // 1.0 partial: >> 1.0 = >= 1.1.0
    expect(satisfies('semver', '1.1.0', atom!.constraint)).toBe(true);
    const [obsolete] = parseRelation('libbar (> 1.0)');
    // Obsolete Debian '>' means '>='; semver '>' is strict.
    expect(satisfies('debian', '1.0', obsolete!.constraint)).toBe(true);
    expect(satisfies('semver', '1.0.0', obsolete!.constraint)).toBe(false);
  });
});
