/**
 * SemVer 2.0 versions and npm-style ranges.
 *
 * Versions: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, strict (no leading `v`, no leading zeros in
 * numeric identifiers). Precedence (SemVer §11): major, minor, patch numerically; a version with a
 * prerelease is lower than the same version without; prerelease identifiers compare left to right,
 * numeric ones numerically, alphanumeric ones by ASCII, numeric below alphanumeric, and a longer
 * list wins when all shared identifiers are equal. Build metadata is ignored.
 *
 * Ranges (npm semantics): `||` separates alternatives (comparator sets); inside a set, items are
 * separated by whitespace and ANDed. Every item is desugared to primitive comparators
 * (`<`, `<=`, `>`, `>=`, `=` against a full version), the way npm does:
 *   - x-ranges / partials: `1.2` = `1.2.x` = `>=1.2.0 <1.3.0-0`, `*` = any
 *   - `~1.2.3` = `>=1.2.3 <1.3.0-0`; `~1` = `>=1.0.0 <2.0.0-0`
 *   - `^1.2.3` = `>=1.2.3 <2.0.0-0`; `^0.2.3` = `<0.3.0-0`; `^0.0.3` = `<0.0.4-0`
 *   - hyphen `1.2 - 2.3.4` = `>=1.2.0 <=2.3.4`; a partial upper end excludes its next step
 *   - `>1.2` = `>=1.3.0`, `<=1.2` = `<1.3.0-0`, `<1.2` = `<1.2.0-0`, `>=1.2` = `>=1.2.0`
 * Debian-style relations are accepted too: `(>= 1.2.0)`, `>> 1.0.0` (= `>`), `<< 2.0.0` (= `<`).
 *
 * npm's prerelease rule: a version with a prerelease tag satisfies a comparator set only if, besides
 * passing every comparator, some comparator of the set names the same MAJOR.MINOR.PATCH with a
 * prerelease. So `>=1.0.0-beta` admits `1.0.0-rc.1` but not `1.1.0-alpha`, and `*` admits none.
 */
import { LseError } from '../errors';

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  /** Prerelease identifiers: numbers for numeric identifiers, strings otherwise. Empty = release. */
  prerelease: (number | string)[];
  build: string[];
  raw: string;
}

const NUM = '0|[1-9]\\d*';
const PRE_ID = `(?:${NUM}|\\d*[A-Za-z-][0-9A-Za-z-]*)`;
const BUILD_ID = '[0-9A-Za-z-]+';
const SEMVER_RE = new RegExp(
  `^(${NUM})\\.(${NUM})\\.(${NUM})(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+(${BUILD_ID}(?:\\.${BUILD_ID})*))?$`,
);

/** Why `v` is not a SemVer 2.0 version, or null when it is one. */
function semverProblem(v: string): string | null {
  if (v === '') return 'it is empty';
  if (/\s/.test(v)) return 'it contains whitespace';
  if (/^[vV=]/.test(v)) return `drop the leading '${v[0]}'`;
  const core = v.split(/[-+]/, 1)[0]!;
  const parts = core.split('.');
  if (parts.length !== 3) return 'it needs exactly MAJOR.MINOR.PATCH';
  if (parts.some((p) => !/^\d+$/.test(p))) return 'MAJOR, MINOR and PATCH must be numbers';
  if (parts.some((p) => p.length > 1 && p.startsWith('0'))) return 'numbers must not have leading zeros';
  if (parts.some((p) => !Number.isSafeInteger(Number(p))))
    return 'MAJOR, MINOR and PATCH must be at most 2^53-1 (too large)';
  return 'prerelease and build identifiers must be non-empty [0-9A-Za-z-], numeric prerelease identifiers without leading zeros';
}

const cache = new Map<string, SemVer | null>();
const CACHE_MAX = 50_000;

/** Parse a strict SemVer 2.0 version; null when invalid. Results are cached. */
export function parseSemver(v: string): SemVer | null {
  const hit = cache.get(v);
  if (hit !== undefined) return hit;
  const parsed = parseUncached(v);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(v, parsed);
  return parsed;
}

function parseUncached(v: string): SemVer | null {
  const m = SEMVER_RE.exec(v);
  if (!m) return null;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const patch = Number(m[3]);
  if (![major, minor, patch].every(Number.isSafeInteger)) return null;
  const prerelease = m[4]
    ? m[4].split('.').map((id) => (/^\d+$/.test(id) && Number.isSafeInteger(Number(id)) ? Number(id) : id))
    : [];
  return { major, minor, patch, prerelease, build: m[5] ? m[5].split('.') : [], raw: v };
}

/** Parse or throw VERSION_INVALID saying what is wrong. */
export function mustParseSemver(v: string): SemVer {
  const p = parseSemver(v);
  if (p) return p;
  throw new LseError(
    'VERSION_INVALID',
    `'${v}' is not a SemVer 2.0 version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]): ${semverProblem(v)}`,
    {
      scheme: 'semver',
      version: v,
    },
  );
}

function cmpNum(a: number, b: number): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpPreId(a: number | string, b: number | string): -1 | 0 | 1 {
  const an = typeof a === 'number';
  const bn = typeof b === 'number';
  if (an && bn) return cmpNum(a, b);
  if (an) return -1;
  if (bn) return 1;
  // Huge numeric identifiers stay strings; compare them as numbers (no leading zeros: length first).
  const ad = /^\d+$/.test(a);
  const bd = /^\d+$/.test(b);
  if (ad && bd) return a.length !== b.length ? cmpNum(a.length, b.length) : a < b ? -1 : a > b ? 1 : 0;
  if (ad !== bd) return ad ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** SemVer precedence of two parsed versions (build metadata ignored). */
export function compareParsedSemver(a: SemVer, b: SemVer): -1 | 0 | 1 {
  const core = cmpNum(a.major, b.major) || cmpNum(a.minor, b.minor) || cmpNum(a.patch, b.patch);
  if (core) return core;
  const ap = a.prerelease;
  const bp = b.prerelease;
  if (ap.length === 0 || bp.length === 0) return ap.length === bp.length ? 0 : ap.length === 0 ? 1 : -1;
  const n = Math.min(ap.length, bp.length);
  for (let i = 0; i < n; i++) {
    const c = cmpPreId(ap[i]!, bp[i]!);
    if (c) return c;
  }
  return cmpNum(ap.length, bp.length);
}

/** Compare two SemVer strings; throws VERSION_INVALID if either is not a version. */
export function compareSemver(a: string, b: string): -1 | 0 | 1 {
  return compareParsedSemver(mustParseSemver(a), mustParseSemver(b));
}

// ---------------------------------------------------------------------------------------------
// Ranges

type PrimOp = '<' | '<=' | '>' | '>=' | '=';
interface Comparator {
  op: PrimOp;
  v: SemVer;
}
/** A comparator set (AND); an empty set matches every release version. */
type ComparatorSet = Comparator[];

/** A parsed range: OR of comparator sets. */
export interface SemverRange {
  raw: string;
  sets: ComparatorSet[];
}

/** A partial version as written in a range: missing or wildcard parts are null. */
interface Partial {
  major: number | null;
  minor: number | null;
  patch: number | null;
  prerelease: string;
}

const X = '(0|[1-9]\\d*|[xX*])';
const PARTIAL_RE = new RegExp(
  `^[vV]?${X}(?:\\.${X}(?:\\.${X}(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+${BUILD_ID}(?:\\.${BUILD_ID})*)?)?)?$`,
);
const OPS = ['<<', '>>', '<=', '>=', '~>', '<', '>', '=', '^', '~'] as const;
type RangeOp = (typeof OPS)[number] | '';

function rangeError(raw: string, what: string): LseError {
  return new LseError('CONSTRAINT_INVALID', `semver range '${raw}': ${what}`, { scheme: 'semver', constraint: raw });
}

function parsePartial(raw: string, text: string): Partial {
  const m = PARTIAL_RE.exec(text);
  if (!m) throw rangeError(raw, `'${text}' is not a version or x-range (like 1.2.3, 1.2, 1.x, *)`);
  const part = (s: string | undefined): number | null => {
    if (s === undefined || /^[xX*]$/.test(s)) return null;
    const n = Number(s);
    if (!Number.isSafeInteger(n)) throw rangeError(raw, `'${s}' is too large`);
    return n;
  };
  const major = part(m[1]);
  let minor = part(m[2]);
  let patch = part(m[3]);
  // Anything after a wildcard is a wildcard too (`1.x.3` = `1.x`).
  if (major === null) minor = null;
  if (minor === null) patch = null;
  return { major, minor, patch, prerelease: m[4] ?? '' };
}

function ver(major: number, minor: number, patch: number, pre = ''): SemVer {
  const raw = `${major}.${minor}.${patch}${pre ? `-${pre}` : ''}`;
  return parseUncached(raw)!;
}

/** `>=` bound for the low end of a partial: its first version. */
function lowOf(p: Partial): SemVer {
  return ver(p.major ?? 0, p.minor ?? 0, p.patch ?? 0, p.prerelease);
}
/** The first version past a partial with a wildcard (`1.2` -> `1.3.0-0`); null if all wildcard. */
function pastOf(p: Partial): SemVer | null {
  if (p.major === null) return null;
  if (p.minor === null) return ver(p.major + 1, 0, 0, '0');
  return ver(p.major, p.minor + 1, 0, '0');
}
const NOTHING: ComparatorSet = [{ op: '<', v: ver(0, 0, 0, '0') }];

function desugar(raw: string, op: RangeOp, p: Partial): ComparatorSet {
  const full = p.patch !== null;
  switch (op) {
    case '':
    case '=':
      if (full) return [{ op: '=', v: lowOf(p) }];
      return p.major === null
        ? []
        : [
            { op: '>=', v: lowOf(p) },
            { op: '<', v: pastOf(p)! },
          ];
    case '>':
    case '>>':
      if (full) return [{ op: '>', v: lowOf(p) }];
      return p.major === null ? NOTHING : [{ op: '>=', v: stripPre(pastOf(p)!) }];
    case '>=':
      return p.major === null ? [] : [{ op: '>=', v: lowOf(p) }];
    case '<':
    case '<<':
      if (p.major === null) return NOTHING;
      return [{ op: '<', v: full ? lowOf(p) : ver(p.major, p.minor ?? 0, 0, '0') }];
    case '<=':
      if (p.major === null) return [];
      return full ? [{ op: '<=', v: lowOf(p) }] : [{ op: '<', v: pastOf(p)! }];
    case '~':
    case '~>': {
      if (p.major === null) return [];
      const upper = p.minor === null ? ver(p.major + 1, 0, 0, '0') : ver(p.major, p.minor + 1, 0, '0');
      return [
        { op: '>=', v: lowOf(p) },
        { op: '<', v: upper },
      ];
    }
    case '^': {
      if (p.major === null) return [];
      let upper: SemVer;
      if (p.major > 0 || p.minor === null) upper = ver(p.major + 1, 0, 0, '0');
      else if (p.minor > 0 || p.patch === null) upper = ver(0, p.minor + 1, 0, '0');
      else upper = ver(0, 0, p.patch + 1, '0');
      return [
        { op: '>=', v: lowOf(p) },
        { op: '<', v: upper },
      ];
    }
  }
  throw rangeError(raw, `unknown operator '${op as string}'`);
}

function stripPre(v: SemVer): SemVer {
  return ver(v.major, v.minor, v.patch);
}

/** Split a comparator set into words; parentheses are words of their own. */
function words(set: string): string[] {
  return set.replace(/[()]/g, ' $& ').split(/\s+/).filter(Boolean);
}

function parseSet(raw: string, text: string): ComparatorSet {
  const w = words(text);
  const out: ComparatorSet = [];
  let i = 0;
  const takeItem = (): { op: RangeOp; p: Partial } => {
    let word = w[i++];
    if (word === undefined) throw rangeError(raw, 'a version is missing at the end');
    const op = OPS.find((o) => word!.startsWith(o)) ?? '';
    word = word.slice(op.length);
    if (word === '') {
      word = w[i++];
      if (word === undefined || word === '(' || word === ')')
        throw rangeError(raw, `operator '${op}' needs a version after it`);
    }
    return { op, p: parsePartial(raw, word) };
  };
  while (i < w.length) {
    if (w[i] === '(') {
      i++;
      const { op, p } = takeItem();
      if (w[i++] !== ')') throw rangeError(raw, "'(' without a matching ')' right after the version");
      out.push(...desugar(raw, op, p));
      continue;
    }
    if (w[i] === ')') throw rangeError(raw, "')' without a matching '('");
    if (w[i] === '-') throw rangeError(raw, "a hyphen range needs a version on both sides: 'A - B'");
    const { op, p } = takeItem();
    if (w[i] === '-') {
      if (op !== '') throw rangeError(raw, `a hyphen range takes plain versions, not '${op}'`);
      i++;
      const to = takeItem();
      if (to.op !== '') throw rangeError(raw, `a hyphen range takes plain versions, not '${to.op}'`);
      if (p.major !== null) out.push({ op: '>=', v: lowOf(p) });
      if (to.p.patch !== null) out.push({ op: '<=', v: lowOf(to.p) });
      else if (to.p.major !== null) out.push({ op: '<', v: pastOf(to.p)! });
      continue;
    }
    out.push(...desugar(raw, op, p));
  }
  return out;
}

/** Parse an npm-style range (also Debian-style relations); throws CONSTRAINT_INVALID. */
export function parseSemverRange(raw: string): SemverRange {
  if (raw.trim() === '') return { raw, sets: [[]] };
  const alternatives = raw.split('||');
  if (alternatives.some((a) => a.trim() === '')) throw rangeError(raw, "an alternative around '||' is empty");
  return { raw, sets: alternatives.map((a) => parseSet(raw, a)) };
}

function testComparator(c: Comparator, v: SemVer): boolean {
  const r = compareParsedSemver(v, c.v);
  switch (c.op) {
    case '<':
      return r < 0;
    case '<=':
      return r <= 0;
    case '>':
      return r > 0;
    case '>=':
      return r >= 0;
    case '=':
      return r === 0;
  }
}

function testSet(set: ComparatorSet, v: SemVer): boolean {
  for (const c of set) if (!testComparator(c, v)) return false;
  if (v.prerelease.length === 0) return true;
  // npm's prerelease rule: some comparator must opt in to prereleases of this exact M.m.p.
  return set.some(
    (c) => c.v.prerelease.length > 0 && c.v.major === v.major && c.v.minor === v.minor && c.v.patch === v.patch,
  );
}

/** Does a parsed version satisfy a parsed range? */
export function rangeSatisfiedBy(range: SemverRange, v: SemVer): boolean {
  return range.sets.some((s) => testSet(s, v));
}
