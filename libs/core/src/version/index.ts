/**
 * Version schemes (`semver`, `debian`) behind one surface: compare, validate, and test versions
 * against constraints. The resolver calls these in hot loops, so parsed versions and constraints
 * are cached (bounded maps, cleared when full).
 */
import { LseError } from '../errors';
import type { VersionScheme } from '../model';
import { compareDebian, debianProblem, parseDebian, parseDebianRelations, relationsSatisfiedBy } from './debian';
import { compareSemver, mustParseSemver, parseSemver, parseSemverRange, rangeSatisfiedBy } from './semver';

export { parseRelation, formatRelation } from './relation';
export { compareDebian, parseDebian, parseDebianRelations } from './debian';
export type { DebianVersion, DebianRelation, DebianOp } from './debian';
export { compareSemver, parseSemver, parseSemverRange } from './semver';
export type { SemVer, SemverRange } from './semver';

/** Order two versions of a scheme; throws VERSION_INVALID if either is not a valid version. */
export function compareVersions(scheme: VersionScheme, a: string, b: string): -1 | 0 | 1 {
  return scheme === 'debian' ? compareDebian(a, b) : compareSemver(a, b);
}

export function isValidVersion(scheme: VersionScheme, v: string): boolean {
  return scheme === 'debian' ? parseDebian(v) !== null : parseSemver(v) !== null;
}

/** Throws VERSION_INVALID saying what is wrong with `v` under `scheme`. */
export function assertValidVersion(scheme: VersionScheme, v: string): void {
  if (scheme === 'semver') {
    mustParseSemver(v);
    return;
  }
  const problem = debianProblem(v);
  if (problem) {
    throw new LseError('VERSION_INVALID', `'${v}' is not a Debian version ([epoch:]upstream[-revision]): ${problem}`, {
      scheme,
      version: v,
    });
  }
}

/** A parsed constraint; `test` is false for versions that are not valid in the scheme. */
export interface Constraint {
  raw: string;
  test(version: string): boolean;
}

const cache = new Map<string, Constraint>();
const CACHE_MAX = 20_000;

function build(scheme: VersionScheme, raw: string): Constraint {
  // No constraint admits every valid version, prereleases included; semver `*` follows npm
  // (releases only), Debian `*` is a convenience for "any".
  if (raw.trim() === '' || (scheme === 'debian' && raw.trim() === '*')) {
    return { raw, test: (v) => isValidVersion(scheme, v) };
  }
  if (scheme === 'semver') {
    const range = parseSemverRange(raw);
    return {
      raw,
      test: (v) => {
        const p = parseSemver(v);
        return p !== null && rangeSatisfiedBy(range, p);
      },
    };
  }
  let rels;
  try {
    rels = parseDebianRelations(raw);
  } catch (e) {
    let semverOnly = false;
    try {
      parseSemverRange(raw);
      semverOnly = true;
    } catch {
      // not semver either: report the Debian problem
    }
    if (!semverOnly) throw e;
    throw new LseError(
      'CONSTRAINT_INVALID',
      `'${raw}' is a semver range, but this candidate uses Debian versions; use a Debian relation such as '>= 1.0' or '(<< 2.0)' (ANDed with ',' or spaces)`,
      { scheme, constraint: raw },
      { cause: e },
    );
  }
  return { raw, test: (v) => parseDebian(v) !== null && relationsSatisfiedBy(rels, v) };
}

/** Parse (cached) a constraint for a scheme; throws CONSTRAINT_INVALID. Empty = any version. */
export function parseConstraint(scheme: VersionScheme, raw: string): Constraint {
  const key = `${scheme}\u0000${raw}`;
  let c = cache.get(key);
  if (!c) {
    c = build(scheme, raw);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, c);
  }
  return c;
}

/** Does `version` satisfy `raw` (undefined or empty = any)? Invalid versions never satisfy. */
export function satisfies(scheme: VersionScheme, version: string, raw: string | undefined): boolean {
  return parseConstraint(scheme, raw ?? '').test(version);
}
