/**
 * Relation specs: `libc6:any (>= 2.36) | libc6.1`, `hello-data ^1.0.0`, `perl:any`.
 *
 * Grammar: alternatives separated by a single `|` (a `||` belongs to a semver range inside an
 * atom); each atom is `NAME[:ARCHQUAL] [CONSTRAINT]`. CONSTRAINT is a Debian `(OP VERSION)`, stored
 * as `OP VERSION`, or the rest of the atom text, stored with whitespace runs collapsed (a lone `OP VERSION` is stored
 * as `OP VERSION` with one space, however it was written). Which
 * scheme reads the constraint is decided later by the candidate, so here a constraint only has to
 * be readable by at least one scheme. `formatRelation` writes single-operator constraints in the
 * Debian parenthesized form, so parse(format(parse(s))) equals parse(s).
 */
import { LseError } from '../errors';
import type { Relation, RelationAtom } from '../model';
import { parseDebianRelations } from './debian';
import { parseSemverRange } from './semver';

const NAME_RE = /^[a-z0-9][a-z0-9+._-]*$/;
const ARCH_RE = /^[a-z0-9][a-z0-9-]*$/;
const HEAD_RE = /^([^\s:(]+)(?::([^\s(]*))?\s*(.*)$/s;
const DEB_PAREN_RE = /^\(\s*(<<|>>|<=|>=|=|<|>)\s*([^\s()]+)\s*\)$/;
const SINGLE_OP_RE = /^(<<|>>|<=|>=|=|<|>)\s*([^\s()|,]+)$/;

function bad(spec: string, what: string): LseError {
  return new LseError('CONSTRAINT_INVALID', `relation '${spec}': ${what}`, { spec });
}

/** True when some version scheme can read the constraint text. */
function readable(constraint: string): boolean {
  for (const parse of [parseSemverRange, parseDebianRelations]) {
    try {
      parse(constraint);
      return true;
    } catch {
      // try the next scheme
    }
  }
  return false;
}

function parseAtom(spec: string, text: string): RelationAtom {
  const m = HEAD_RE.exec(text.trim());
  if (!m) throw bad(spec, `alternative '${text.trim()}' does not start with a name`);
  const [, name, arch, restRaw] = m;
  if (!NAME_RE.test(name!)) {
    const hint = name !== name!.toLowerCase() ? ' (names are lowercase)' : '';
    throw bad(spec, `'${name}' is not a valid name${hint}; names match [a-z0-9][a-z0-9+._-]*`);
  }
  const atom: RelationAtom = { name: name! };
  if (arch !== undefined) {
    if (!ARCH_RE.test(arch))
      throw bad(spec, `'${arch}' after '${name}:' is not an architecture qualifier (like any, native, amd64)`);
    atom.archQualifier = arch;
  }
  const rest = restRaw!.trim();
  if (rest === '') return atom;
  const single = DEB_PAREN_RE.exec(rest) ?? SINGLE_OP_RE.exec(rest);
  const constraint = single ? `${single[1]} ${single[2]}` : rest.replace(/\s+/g, ' ');
  if (!readable(constraint)) {
    throw bad(
      spec,
      `the constraint '${rest}' of '${name}' is neither a Debian relation like '(>= 2.36)' nor a semver range like '^1.2.0'`,
    );
  }
  atom.constraint = constraint;
  return atom;
}

const cache = new Map<string, Relation>();
const CACHE_MAX = 20_000;

/** Parse a relation spec; throws CONSTRAINT_INVALID naming the spec and what is wrong. */
export function parseRelation(spec: string): Relation {
  let rel = cache.get(spec);
  if (!rel) {
    rel = parseUncached(spec);
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(spec, rel);
  }
  return rel.map((a) => ({ ...a })); // callers may mutate their copy
}

function parseUncached(spec: string): Relation {
  if (spec.trim() === '') throw bad(spec, 'it is empty; write NAME[:ARCH] [CONSTRAINT], alternatives separated by |');
  const parts = spec.split(/(?<!\|)\|(?!\|)/);
  return parts.map((p, i) => {
    if (p.trim() === '') throw bad(spec, `alternative ${i + 1} is empty`);
    return parseAtom(spec, p);
  });
}

/** Write a relation back as a spec that {@link parseRelation} reads to the same atoms. */
export function formatRelation(rel: Relation): string {
  return rel
    .map((a) => {
      let s = a.archQualifier !== undefined ? `${a.name}:${a.archQualifier}` : a.name;
      const c = a.constraint?.trim();
      if (c) {
        const single = SINGLE_OP_RE.exec(c);
        s += single ? ` (${single[1]} ${single[2]})` : ` ${c}`;
      }
      return s;
    })
    .join(' | ');
}
