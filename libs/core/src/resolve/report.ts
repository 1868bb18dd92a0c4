/**
 * Turns the solver's root incompatibility into an explanation a person can follow, the way
 * PubGrub does: walk the derivation graph from the root, write one sentence per derived
 * incompatibility ("Because X and Y, Z."), and number the lines that are referred to again later.
 * External facts (a requirement, a dependency, a conflict) are quoted from the catalog, with a note
 * when an alternative matches nothing (unknown name, no version in range, no variant for this
 * runtime).
 */
import type { Fragment } from '../model';
import { formatRelation } from '../version';
import { ROOT, versionOrder, type Problem } from './problem';
import { bitIndexes, type Incompat, type Note, type Term } from './terms';

type Derived = Incompat & { cause: { kind: 'derived'; conflict: Incompat; other: Incompat } };

function isDerived(inc: Incompat): inc is Derived {
  return inc.cause.kind === 'derived';
}

export class Reporter {
  private readonly lines: { text: string; n?: number }[] = [];
  private readonly numbers = new Map<Incompat, number>();
  private readonly derivations = new Map<Incompat, number>();

  constructor(private readonly problem: Problem) {}

  /** The explanation, one sentence per line. */
  report(failure: Incompat): string[] {
    let root = failure;
    // "The manifest is requested" adds nothing a person needs: start from the other cause.
    while (isDerived(root) && (root.cause.conflict.cause.kind === 'root' || root.cause.other.cause.kind === 'root')) {
      root = root.cause.conflict.cause.kind === 'root' ? root.cause.other : root.cause.conflict;
    }
    if (!isDerived(root)) return [`${this.text(root, true)}.`];
    // Facts that carry a note (an alternative that matches nothing, and why) are stated first,
    // numbered, so the sentences below can refer to them briefly.
    for (const ext of Reporter.externals(root)) {
      const c = ext.cause;
      if ((c.kind === 'require' || c.kind === 'depends') && c.notes.length > 0)
        this.write(ext, `${this.text(ext, true)}.`, true);
    }
    this.count(root);
    this.visit(root, true);
    const width = this.numbers.size > 0 ? `(${this.numbers.size}) `.length : 0;
    return this.lines
      .map((l) => (l.n !== undefined ? `(${l.n}) `.padEnd(width) : ' '.repeat(width)) + l.text)
      .map((l) => l.trimEnd());
  }

  /** External facts in the derivation (for the error code and details). */
  static externals(root: Incompat): Incompat[] {
    const out: Incompat[] = [];
    const seen = new Set<Incompat>();
    const walk = (inc: Incompat): void => {
      if (seen.has(inc)) return;
      seen.add(inc);
      if (isDerived(inc)) {
        walk(inc.cause.conflict);
        walk(inc.cause.other);
      } else out.push(inc);
    };
    walk(root);
    return out;
  }

  private count(inc: Incompat): void {
    const n = (this.derivations.get(inc) ?? 0) + 1;
    this.derivations.set(inc, n);
    if (n === 1 && isDerived(inc)) {
      this.count(inc.cause.conflict);
      this.count(inc.cause.other);
    }
  }

  private write(inc: Incompat, text: string, numbered: boolean): void {
    if (numbered) {
      const n = this.numbers.size + 1;
      this.numbers.set(inc, n);
      this.lines.push({ text, n });
    } else this.lines.push({ text });
  }

  private ref(inc: Incompat): string {
    const n = this.numbers.get(inc);
    return n !== undefined ? `${this.text(inc)} (${n})` : this.text(inc);
  }

  private visit(inc: Derived, conclusion = false): void {
    const numbered = conclusion || (this.derivations.get(inc) ?? 0) > 1;
    const so = conclusion ? 'So,' : 'And';
    const what = this.text(inc);
    const { conflict, other } = inc.cause;
    if (isDerived(conflict) && isDerived(other)) {
      const withLine = this.numbers.has(conflict) ? conflict : this.numbers.has(other) ? other : undefined;
      if (this.numbers.has(conflict) && this.numbers.has(other)) {
        this.write(inc, `Because ${this.ref(conflict)} and ${this.ref(other)}, ${what}.`, numbered);
      } else if (withLine) {
        this.visit(withLine === conflict ? other : conflict);
        this.write(inc, `${so} because ${this.ref(withLine)}, ${what}.`, numbered);
      } else if (this.singleLine(conflict) || this.singleLine(other)) {
        const [first, second] = this.singleLine(other) ? [conflict, other] : [other, conflict];
        this.visit(first);
        this.visit(second);
        this.write(inc, `Thus, ${what}.`, numbered);
      } else {
        this.visit(conflict, true);
        this.lines.push({ text: '' });
        this.visit(other);
        this.write(inc, `${so} because ${this.ref(conflict)}, ${what}.`, numbered);
      }
    } else if (isDerived(conflict) || isDerived(other)) {
      const derived = (isDerived(conflict) ? conflict : other) as Derived;
      const ext = isDerived(conflict) ? other : conflict;
      if (this.numbers.has(derived)) {
        this.write(inc, `Because ${this.ref(ext)} and ${this.ref(derived)}, ${what}.`, numbered);
      } else if (this.collapsible(derived)) {
        const inner = derived.cause;
        const innerDerived = (isDerived(inner.conflict) ? inner.conflict : inner.other) as Derived;
        const innerExt = isDerived(inner.conflict) ? inner.other : inner.conflict;
        this.visit(innerDerived);
        this.write(inc, `${so} because ${this.ref(innerExt)} and ${this.ref(ext)}, ${what}.`, numbered);
      } else {
        this.visit(derived);
        this.write(inc, `${so} because ${this.ref(ext)}, ${what}.`, numbered);
      }
    } else {
      this.write(inc, `Because ${this.ref(conflict)} and ${this.ref(other)}, ${what}.`, numbered);
    }
  }

  private singleLine(inc: Derived): boolean {
    return !isDerived(inc.cause.conflict) && !isDerived(inc.cause.other);
  }

  private collapsible(inc: Derived): boolean {
    if ((this.derivations.get(inc) ?? 0) > 1) return false;
    const { conflict, other } = inc.cause;
    if (isDerived(conflict) === isDerived(other)) return false;
    return !this.numbers.has(isDerived(conflict) ? conflict : other);
  }

  /** One incompatibility as a clause; `withNotes` adds why an alternative matches nothing. */
  text(inc: Incompat, withNotes = false): string {
    const c = inc.cause;
    const label = this.problem.rootLabel;
    switch (c.kind) {
      case 'root':
        return `${label} is requested`;
      case 'require':
        return `${label} requires ${formatRelation(c.relation)}${withNotes ? notes(c.notes) : ''}`;
      case 'depends':
        return `${this.describe(inc.terms[0]!)} ${c.pre ? 'pre-depends' : 'depends'} on ${formatRelation(c.relation)}${withNotes ? notes(c.notes) : ''}`;
      case 'conflicts': {
        const [a, b] = inc.terms as [Term, Term];
        const other = this.describe(b);
        const named = this.problem.pkgs[b.pkg]!.name === c.atom.name;
        return `${this.describe(a)} ${c.field === 'breaks' ? 'breaks' : 'conflicts with'} ${formatRelation([c.atom])}${named ? '' : ` (provided by ${other})`}`;
      }
      case 'base': {
        const p = this.problem.pkgs[inc.terms[1]!.pkg]!;
        return `the base ${c.label} holds ${p.name} ${p.candidates[0]?.descriptor.version ?? ''}`.trimEnd();
      }
      case 'derived':
        return this.derivedText(inc.terms);
    }
  }

  private derivedText(terms: readonly Term[]): string {
    const label = this.problem.rootLabel;
    if (terms.length === 0 || (terms.length === 1 && terms[0]!.pkg === ROOT)) return `${label} cannot be satisfied`;
    const pos = terms.filter((t) => t.pos);
    const neg = terms.filter((t) => !t.pos);
    if (neg.length === 0) {
      if (pos.length === 1) return `${this.describe(pos[0]!)} cannot be installed`;
      return `${pos.map((t) => this.describe(t)).join(' and ')} cannot be installed together`;
    }
    const needed = neg.map((t) => this.describe({ ...t, pos: true })).join(' or ');
    if (pos.length === 0) return `${needed} is required`;
    return `${pos.map((t) => this.describe(t)).join(' and ')} requires ${needed}`;
  }

  /** A positive term in words: "libfoo", "libfoo 2.1.0", "libfoo >= 2.0.0", "libfoo 1.0.0 or 3.0.0". */
  describe(t: Term): string {
    const p = this.problem.pkgs[t.pkg]!;
    if (t.pkg === ROOT) return p.name;
    const picked = bitIndexes(t.set).map((i) => p.candidates[i]!);
    const all = distinctVersions(p.candidates);
    const some = distinctVersions(picked);
    const prefix = t.pos ? '' : 'not ';
    if (some.length === 0) return `${prefix}${p.name} (no candidate)`;
    if (some.length === 1) return `${prefix}${p.name} ${some[0]}`;
    if (some.length === all.length) return `${prefix}${p.name}`;
    const first = all.indexOf(some[0]!);
    const last = all.indexOf(some[some.length - 1]!);
    const contiguous = last - first + 1 === some.length;
    let range: string;
    if (contiguous && last === all.length - 1) range = `>= ${some[0]}`;
    else if (contiguous && first === 0) range = `<= ${some[some.length - 1]}`;
    else if (contiguous) range = `${some[0]} to ${some[some.length - 1]}`;
    else if (some.length <= 5) range = `${some.slice(0, -1).join(', ')} or ${some[some.length - 1]}`;
    else range = `${some.slice(0, 4).join(', ')} or ${some.length - 4} other versions`;
    return `${prefix}${p.name} ${range}`;
  }
}

function distinctVersions(fs: readonly Fragment[]): string[] {
  const sorted = [...fs].sort(versionOrder);
  const out: string[] = [];
  for (const f of sorted) if (out[out.length - 1] !== f.descriptor.version) out.push(f.descriptor.version);
  return out;
}

function notes(ns: readonly Note[]): string {
  return ns.length ? `, but ${ns.map((n) => n.text).join(', and ')}` : '';
}
