/**
 * PubGrub (conflict-driven clause learning for version solving, as in Dart's pub, uv and cargo's
 * experiments), adapted to Debian-style relations.
 *
 * State: a partial solution, an ordered list of assignments. Each assignment is a term (see
 * terms.ts) that is either a decision (package p is candidate i; opens a new decision level) or a
 * derivation (a term forced by an incompatibility, its cause).
 *
 * Loop:
 *  1. Unit propagation. For each incompatibility that mentions a changed package: if every term
 *     holds, it is a conflict; if all terms but one hold and that one is undecided, derive its
 *     negation.
 *  2. Conflict resolution. Walk back from the conflict: find the most recent assignment that made
 *     it hold (the satisfier); if that is a decision, or the rest was already true at an earlier
 *     decision level, learn the incompatibility and backjump to that level (propagation then
 *     derives something new). Otherwise resolve it with the satisfier's cause (the two
 *     incompatibilities combined minus the satisfier's package) and repeat. Deriving "the root
 *     cannot be selected" means there is no solution; the chain of derived incompatibilities is the
 *     explanation (report.ts).
 *  3. Decision. Pick the oldest package with a positive derivation and no decision yet and decide
 *     its most-preferred allowed candidate, first adding that candidate's relations as
 *     incompatibilities. Relations with alternatives (`a | b`) do not force any single package, so
 *     when no package is forced, an incompatibility still violated when undecided packages count
 *     as "not selected" is opened by deciding its first alternative that is still possible (apt's
 *     preference order). When neither applies, every decided candidate is the solution.
 *
 * Every learned incompatibility is implied by the original ones and decisions always pick a
 * candidate still allowed, so the search is complete: it ends with a solution if one exists.
 */
import { LseError } from '../errors';
import { ROOT, type Problem } from './problem';
import {
  anyTerm,
  disjoint,
  intersect,
  lowestBit,
  mergeTerms,
  negate,
  subsetOf,
  type Incompat,
  type Term,
} from './terms';

interface Assignment {
  term: Term;
  level: number;
  /** null for decisions. */
  cause: Incompat | null;
  index: number;
}

const SAT = 0;
const DISJOINT = 1;
const OPEN = 2;
const CONFLICT = -1;
const NONE = -2;

export type SolveOutcome = { ok: true; decisions: Map<number, number> } | { ok: false; failure: Incompat };

export class Solver {
  private readonly assignments: Assignment[] = [];
  private readonly perPkg: Assignment[][] = [];
  private readonly acc: (Term | undefined)[] = [];
  private readonly decided: (number | undefined)[] = [];
  private readonly incompats: Incompat[][] = [];
  private readonly disjunctive: Incompat[] = [];
  private level = 0;

  constructor(private readonly problem: Problem) {}

  solve(initial: readonly Incompat[]): SolveOutcome {
    this.add({ terms: [{ pkg: ROOT, pos: false, set: 1n }], cause: { kind: 'root' } });
    for (const inc of initial) this.add(inc);
    let next = ROOT;
    for (;;) {
      const failure = this.propagate(next);
      if (failure) return { ok: false, failure };
      const chosen = this.choose();
      if (chosen === undefined) break;
      next = chosen;
    }
    const decisions = new Map<number, number>();
    this.decided.forEach((c, pkg) => {
      if (c !== undefined && pkg !== ROOT) decisions.set(pkg, c);
    });
    return { ok: true, decisions };
  }

  private add(inc: Incompat): void {
    for (const t of inc.terms) (this.incompats[t.pkg] ??= []).push(inc);
    if (inc.terms.filter((t) => !t.pos).length >= 2) this.disjunctive.push(inc);
  }

  private relation(t: Term): number {
    const a = this.acc[t.pkg] ?? anyTerm(t.pkg);
    if (subsetOf(a, t)) return SAT;
    if (disjoint(a, t)) return DISJOINT;
    return OPEN;
  }

  private assign(term: Term, cause: Incompat | null): void {
    const a: Assignment = { term, level: this.level, cause, index: this.assignments.length };
    this.assignments.push(a);
    (this.perPkg[term.pkg] ??= []).push(a);
    const prev = this.acc[term.pkg];
    this.acc[term.pkg] = prev ? intersect(prev, term) : term;
  }

  private decide(pkg: number, candidate: number): void {
    this.level++;
    this.decided[pkg] = candidate;
    this.assign({ pkg, pos: true, set: 1n << BigInt(candidate) }, null);
  }

  private backtrack(level: number): void {
    const touched = new Set<number>();
    while (this.assignments.length > 0 && this.assignments[this.assignments.length - 1]!.level > level) {
      const a = this.assignments.pop()!;
      this.perPkg[a.term.pkg]!.pop();
      if (a.cause === null) this.decided[a.term.pkg] = undefined;
      touched.add(a.term.pkg);
    }
    for (const pkg of touched) {
      let acc: Term | undefined;
      for (const a of this.perPkg[pkg]!) acc = acc ? intersect(acc, a.term) : a.term;
      this.acc[pkg] = acc;
    }
    this.level = level;
  }

  /** Unit propagation from `start`; returns the root incompatibility when there is no solution. */
  private propagate(start: number): Incompat | undefined {
    const changed = new Set<number>([start]);
    while (changed.size > 0) {
      const pkg: number = changed.values().next().value!;
      changed.delete(pkg);
      const list = this.incompats[pkg] ?? [];
      for (let i = list.length - 1; i >= 0; i--) {
        const r = this.propagateOne(list[i]!);
        if (r === CONFLICT) {
          const learned = this.resolveConflict(list[i]!);
          if ('failure' in learned) return learned.failure;
          const q = this.propagateOne(learned.incompat);
          if (q < 0)
            throw new LseError('INTERNAL', 'resolver: a learned incompatibility did not propagate after backjumping');
          changed.clear();
          changed.add(q);
          break;
        }
        if (r !== NONE) changed.add(r);
      }
    }
    return undefined;
  }

  private propagateOne(inc: Incompat): number {
    let open: Term | undefined;
    for (const t of inc.terms) {
      const r = this.relation(t);
      if (r === DISJOINT) return NONE;
      if (r === OPEN) {
        if (open) return NONE;
        open = t;
      }
    }
    if (!open) return CONFLICT;
    this.assign(negate(open), inc);
    return open.pkg;
  }

  /** Earliest assignment after which the accumulated term of t's package implies t. */
  private satisfier(t: Term): Assignment {
    let acc: Term | undefined;
    for (const a of this.perPkg[t.pkg] ?? []) {
      acc = acc ? intersect(acc, a.term) : a.term;
      if (subsetOf(acc, t)) return a;
    }
    throw new LseError('INTERNAL', `resolver: no satisfier for a term of ${this.problem.pkgs[t.pkg]?.name}`);
  }

  private resolveConflict(start: Incompat): { incompat: Incompat } | { failure: Incompat } {
    let inc = start;
    let learned = false;
    for (;;) {
      if (inc.terms.length === 0 || (inc.terms.length === 1 && inc.terms[0]!.pkg === ROOT && inc.terms[0]!.pos))
        return { failure: inc };
      let recentTerm: Term | undefined;
      let recent: Assignment | undefined;
      let difference: Term | undefined;
      let previousLevel = 1;
      for (const t of inc.terms) {
        const s = this.satisfier(t);
        if (!recent) {
          recent = s;
          recentTerm = t;
        } else if (recent.index < s.index) {
          previousLevel = Math.max(previousLevel, recent.level);
          recent = s;
          recentTerm = t;
          difference = undefined;
        } else {
          previousLevel = Math.max(previousLevel, s.level);
        }
        if (recentTerm === t) {
          // If the satisfier alone does not imply t, an earlier assignment supplied the rest.
          const d = intersect(recent.term, negate(t));
          difference = d.pos && d.set === 0n ? undefined : d;
          if (difference) previousLevel = Math.max(previousLevel, this.satisfier(negate(difference)).level);
        }
      }
      if (recent!.cause === null || previousLevel < recent!.level) {
        this.backtrack(previousLevel);
        if (learned) this.add(inc);
        return { incompat: inc };
      }
      const cause = recent!.cause;
      const terms = [
        ...inc.terms.filter((t) => t !== recentTerm),
        ...cause.terms.filter((t) => t.pkg !== recent!.term.pkg),
      ];
      if (difference) terms.push(negate(difference));
      let merged = mergeTerms(terms);
      // The root is always selected: keep it out of derived facts unless it is all that is left.
      if (merged.length > 1) merged = merged.filter((t) => !(t.pkg === ROOT && t.pos));
      inc = { terms: merged, cause: { kind: 'derived', conflict: inc, other: cause } };
      learned = true;
    }
  }

  /** Make the next decision; returns the decided package, or undefined when the solution is complete. */
  private choose(): number | undefined {
    let pkg: number | undefined;
    let allowed = 0n;
    for (const a of this.assignments) {
      const p = a.term.pkg;
      const acc = this.acc[p]!;
      if (this.decided[p] === undefined && acc.pos) {
        pkg = p;
        allowed = acc.set;
        break;
      }
    }
    if (pkg === undefined) {
      for (const inc of this.disjunctive) {
        const open = this.openAlternative(inc);
        if (open) {
          pkg = open.pkg;
          allowed = open.set;
          break;
        }
      }
    }
    if (pkg === undefined) return undefined;
    if (pkg === ROOT) {
      this.decide(ROOT, 0);
      return ROOT;
    }
    const candidate = lowestBit(allowed);
    const p = this.problem.pkgs[pkg]!;
    let conflict = false;
    for (const inc of this.problem.incompatsFor(p, candidate)) {
      this.add(inc);
      conflict ||= inc.terms.every((t) => t.pkg === pkg || this.relation(t) === SAT);
    }
    if (!conflict) this.decide(pkg, candidate);
    return pkg;
  }

  /**
   * For an incompatibility that would hold if every undecided package stayed unselected, the first
   * of its negative terms ("needs one of S") that can still be opened, with the allowed candidates.
   */
  private openAlternative(inc: Incompat): { pkg: number; set: bigint } | undefined {
    let first: { pkg: number; set: bigint } | undefined;
    for (const t of inc.terms) {
      if (this.relation(t) === SAT) continue;
      const acc = this.acc[t.pkg];
      if (t.pos || this.decided[t.pkg] !== undefined || (acc && acc.pos)) return undefined;
      if (!first) {
        const allowed = intersect(acc ?? anyTerm(t.pkg), { pkg: t.pkg, pos: true, set: t.set });
        if (allowed.set !== 0n) first = { pkg: t.pkg, set: allowed.set };
      }
    }
    return first;
  }
}
