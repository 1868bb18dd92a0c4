/**
 * Terms and incompatibilities, the vocabulary of the PubGrub solver (see solver.ts).
 *
 * The catalog is finite, so a "version range" of a package is simply a set of its candidates,
 * held as a bigint bit set (bit i = candidate i, candidates ordered most-preferred first). A term
 * is a statement about one package:
 *   positive `p ∈ S`: p is selected and its candidate is in S;
 *   negative `p ∉ S`: p is not selected, or its candidate is outside S.
 * An incompatibility is a set of terms (at most one per package) that must not all hold.
 */
import type { Relation, RelationAtom } from '../model';

export interface Term {
  pkg: number;
  pos: boolean;
  set: bigint;
}

/** Why a requested or depended-on alternative matched nothing. */
export interface Note {
  kind: 'unknown' | 'versions' | 'variant';
  text: string;
  /** For 'variant': the regions variants exist for when the misfit is the runtime's region. */
  regions?: string[];
}

export type Cause =
  | { kind: 'root' }
  | { kind: 'require'; relation: Relation; notes: Note[] }
  | { kind: 'depends'; pre: boolean; relation: Relation; notes: Note[] }
  | { kind: 'conflicts'; field: 'conflicts' | 'breaks'; atom: RelationAtom }
  /** The base holds this package (always installed, never replaced). */
  | { kind: 'base'; label: string }
  | { kind: 'derived'; conflict: Incompat; other: Incompat };

export interface Incompat {
  terms: Term[];
  cause: Cause;
}

/** The term that holds whatever is selected (no information yet). */
export function anyTerm(pkg: number): Term {
  return { pkg, pos: false, set: 0n };
}

export function negate(t: Term): Term {
  return { pkg: t.pkg, pos: !t.pos, set: t.set };
}

export function intersect(a: Term, b: Term): Term {
  if (a.pos && b.pos) return { pkg: a.pkg, pos: true, set: a.set & b.set };
  if (a.pos) return { pkg: a.pkg, pos: true, set: a.set & ~b.set };
  if (b.pos) return { pkg: a.pkg, pos: true, set: b.set & ~a.set };
  return { pkg: a.pkg, pos: false, set: a.set | b.set };
}

/** a ⊆ b: whenever a holds, b holds. */
export function subsetOf(a: Term, b: Term): boolean {
  if (a.pos && b.pos) return (a.set & ~b.set) === 0n;
  if (a.pos) return (a.set & b.set) === 0n;
  if (b.pos) return false; // a admits "not selected", b does not
  return (b.set & ~a.set) === 0n;
}

/** a and b cannot both hold. */
export function disjoint(a: Term, b: Term): boolean {
  if (a.pos && b.pos) return (a.set & b.set) === 0n;
  if (a.pos) return (a.set & ~b.set) === 0n;
  if (b.pos) return (b.set & ~a.set) === 0n;
  return false; // both admit "not selected"
}

export function isEmpty(t: Term): boolean {
  return t.pos && t.set === 0n;
}

/** Merge terms of the same package (intersection), keeping first-seen order. */
export function mergeTerms(terms: readonly Term[]): Term[] {
  const byPkg = new Map<number, Term>();
  for (const t of terms) {
    const prev = byPkg.get(t.pkg);
    byPkg.set(t.pkg, prev ? intersect(prev, t) : t);
  }
  return [...byPkg.values()];
}

export function bit(i: number): bigint {
  return 1n << BigInt(i);
}

/** Index of the lowest set bit, or -1. */
export function lowestBit(set: bigint): number {
  if (set === 0n) return -1;
  return (set & -set).toString(2).length - 1;
}

export function bitIndexes(set: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; set !== 0n; i++, set >>= 1n) if (set & 1n) out.push(i);
  return out;
}
