/**
 * Debian relationship fields (policy §7.1) into the model: `Depends: a (>= 1) | b, c:any` is a
 * comma-separated list of relations, each a `|`-separated list of alternatives. Binary packages
 * carry no architecture restrictions (`[amd64]`) or build profiles (`<nocheck>`); if one appears
 * (a source-style field) it is dropped, since it only filters which architectures see the atom.
 */
import { LseError } from '../errors';
import type { Provide, Relation } from '../model';
import { formatRelation, parseRelation } from '../version';

/** The relation specs of a field, whitespace-normalized (`libc6 (>= 2.36)`), in order. */
export function relationSpecs(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((s) =>
      s
        .replace(/\[[^\]]*\]/g, '')
        .replace(/<[^>]*>/g, '')
        .replace(/\s+/g, ' ')
        .trim(),
    )
    .filter((s) => s !== '');
}

/** A relationship field parsed into relations (throws CONSTRAINT_INVALID naming the bad one). */
export function parseRelationField(value: string | undefined): Relation[] {
  return relationSpecs(value).map((s) => parseRelation(s));
}

/** `Provides: foo (= 1.0), bar` → provides; only `=` is allowed in Provides (policy §7.5). */
export function parseProvidesField(value: string | undefined): Provide[] {
  return relationSpecs(value).map((spec) => {
    const rel = parseRelation(spec);
    const a = rel[0]!;
    if (rel.length !== 1)
      throw new LseError(
        'CONSTRAINT_INVALID',
        `Provides entry '${spec}' has alternatives; a package provides each name separately`,
        { spec },
      );
    if (a.constraint === undefined) return { name: a.name };
    const m = /^=\s*(\S+)$/.exec(a.constraint);
    if (!m) throw new LseError('CONSTRAINT_INVALID', `Provides entry '${spec}' may only use '(= VERSION)'`, { spec });
    return { name: a.name, version: m[1]! };
  });
}

/** Provides back in Debian syntax: `foo (= 1.0), bar`. */
export function formatProvides(ps: Provide[]): string {
  return ps.map((p) => (p.version ? `${p.name} (= ${p.version})` : p.name)).join(', ');
}

/** Relations back in Debian syntax: `a (>= 1) | b, c:any`. */
export function formatRelationField(rels: Relation[]): string {
  return rels.map(formatRelation).join(', ');
}
