/**
 * Debian versions (`[epoch:]upstream[-revision]`) compared exactly as dpkg does, and Debian
 * relations (`<<`, `<=`, `=`, `>=`, `>>`).
 *
 * Parsing (Debian policy §5.6.12): the epoch is the text before the first `:` and must be a
 * non-negative integer; the revision is the text after the last `-`. The upstream part must start
 * with a digit and contain only alphanumerics and `. + - ~` (a `-` only when there is a revision);
 * the revision only alphanumerics and `. + ~`. A missing epoch is 0 and a missing revision is "",
 * which dpkg compares equal to "0" (so `1.0` = `1.0-0` = `0:1.0`).
 *
 * Comparison (dpkg's verrevcmp): epochs numerically, then upstream, then revision. Each string is
 * cut into alternating runs: a (possibly empty) run of non-digits, then a (possibly empty) run of
 * digits, repeated. Runs are compared pairwise from the left:
 *   - non-digit runs character by character with this weight: `~` lowest (below even the end of
 *     the run), then end of run, then letters (by ASCII), then every other character (ASCII + 256);
 *   - digit runs as integers (leading zeros ignored; an empty run is 0).
 * We precompute the runs once per version (weights for the non-digit runs, zero-stripped digit
 * runs), cache them, and compare the arrays, which is what makes sorting thousands of candidates
 * cheap.
 */
import { LseError } from '../errors';

export interface DebianVersion {
  epoch: number;
  upstream: string;
  /** "" when absent. */
  revision: string;
  raw: string;
}

/** One run pair: weights of a non-digit run, then a digit run without leading zeros. */
interface Run {
  w: number[];
  d: string;
}
interface Prepared {
  v: DebianVersion;
  up: Run[];
  rev: Run[];
}

const MAX_EPOCH = 2147483647; // dpkg stores the epoch in an int

/** Why `v` is not a valid Debian version, or null when it is. */
export function debianProblem(v: string): string | null {
  if (v === '') return 'it is empty';
  if (/\s/.test(v)) return 'it contains whitespace';
  let rest = v;
  const colon = v.indexOf(':');
  if (colon >= 0) {
    const epoch = v.slice(0, colon);
    if (epoch === '') return 'the epoch before ":" is empty';
    if (!/^\d+$/.test(epoch)) return `the epoch '${epoch}' is not a non-negative integer`;
    if (Number(epoch) > MAX_EPOCH) return `the epoch '${epoch}' is too big`;
    rest = v.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  if (dash >= 0) {
    const revision = rest.slice(dash + 1);
    if (revision === '') return 'the revision after the last "-" is empty';
    const bad = /[^0-9A-Za-z.+~]/.exec(revision);
    if (bad) return `the revision '${revision}' contains '${bad[0]}' (allowed: letters, digits, . + ~)`;
  }
  if (upstream === '') return 'the upstream version is empty';
  if (!/^\d/.test(upstream)) return `the upstream version '${upstream}' must start with a digit`;
  const bad = /[^0-9A-Za-z.+~-]/.exec(upstream);
  if (bad) return `the upstream version '${upstream}' contains '${bad[0]}' (allowed: letters, digits, . + - ~)`;
  return null;
}

function weight(c: number): number {
  if (c === 126) return -1; // '~'
  if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return c; // letters
  return c + 256;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function runs(s: string): Run[] {
  const out: Run[] = [];
  let i = 0;
  while (i < s.length) {
    const w: number[] = [];
    while (i < s.length && !isDigit(s.charCodeAt(i))) w.push(weight(s.charCodeAt(i++)));
    let j = i;
    while (j < s.length && s.charCodeAt(j) === 48) j++; // leading zeros
    let k = j;
    while (k < s.length && isDigit(s.charCodeAt(k))) k++;
    out.push({ w, d: s.slice(j, k) });
    i = k;
  }
  return out;
}

const cache = new Map<string, Prepared | null>();
const CACHE_MAX = 50_000;

function prepare(v: string): Prepared | null {
  const hit = cache.get(v);
  if (hit !== undefined) return hit;
  let p: Prepared | null = null;
  if (debianProblem(v) === null) {
    const colon = v.indexOf(':');
    const epoch = colon >= 0 ? Number(v.slice(0, colon)) : 0;
    const rest = colon >= 0 ? v.slice(colon + 1) : v;
    const dash = rest.lastIndexOf('-');
    const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
    const revision = dash >= 0 ? rest.slice(dash + 1) : '';
    p = { v: { epoch, upstream, revision, raw: v }, up: runs(upstream), rev: runs(revision) };
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(v, p);
  return p;
}

/** Parse a Debian version; null when invalid (see {@link debianProblem} for why). */
export function parseDebian(v: string): DebianVersion | null {
  return prepare(v)?.v ?? null;
}

function mustPrepare(v: string): Prepared {
  const p = prepare(v);
  if (p) return p;
  throw new LseError(
    'VERSION_INVALID',
    `'${v}' is not a Debian version ([epoch:]upstream[-revision]): ${debianProblem(v)}`,
    {
      scheme: 'debian',
      version: v,
    },
  );
}

/** Parse or throw VERSION_INVALID saying what is wrong. */
export function mustParseDebian(v: string): DebianVersion {
  return mustPrepare(v).v;
}

const EMPTY: Run = { w: [], d: '' };

function compareRuns(a: Run[], b: Run[]): -1 | 0 | 1 {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ra = a[i] ?? EMPTY;
    const rb = b[i] ?? EMPTY;
    const m = Math.max(ra.w.length, rb.w.length);
    for (let j = 0; j < m; j++) {
      const wa = ra.w[j] ?? 0; // end of run weighs 0: above '~', below everything else
      const wb = rb.w[j] ?? 0;
      if (wa !== wb) return wa < wb ? -1 : 1;
    }
    if (ra.d.length !== rb.d.length) return ra.d.length < rb.d.length ? -1 : 1;
    if (ra.d !== rb.d) return ra.d < rb.d ? -1 : 1;
  }
  return 0;
}

/** dpkg's ordering of two Debian versions; throws VERSION_INVALID if either is invalid. */
export function compareDebian(a: string, b: string): -1 | 0 | 1 {
  if (a === b) {
    mustPrepare(a);
    return 0;
  }
  const pa = mustPrepare(a);
  const pb = mustPrepare(b);
  if (pa.v.epoch !== pb.v.epoch) return pa.v.epoch < pb.v.epoch ? -1 : 1;
  return compareRuns(pa.up, pb.up) || compareRuns(pa.rev, pb.rev);
}

// ---------------------------------------------------------------------------------------------
// Relations

export type DebianOp = '<<' | '<=' | '=' | '>=' | '>>';
export interface DebianRelation {
  op: DebianOp;
  version: string;
}

function relationError(raw: string, what: string): LseError {
  return new LseError('CONSTRAINT_INVALID', `Debian relation '${raw}': ${what}`, { scheme: 'debian', constraint: raw });
}

/** Obsolete `<` and `>` mean `<=` and `>=` (Debian policy §7.1). */
const OP_MAP: Record<string, DebianOp> = {
  '<<': '<<',
  '<=': '<=',
  '=': '=',
  '>=': '>=',
  '>>': '>>',
  '<': '<=',
  '>': '>=',
};
const ITEM_RE = /^\s*(\()?\s*(<<|>>|<=|>=|=|<|>)?\s*([^\s(),<>=|]+)\s*(\))?\s*(,)?/;

/**
 * Parse Debian relations: `(>= 2.36)`, `>= 2.36`, `>=2.36`, or a bare version (meaning `=`).
 * Several relations separated by whitespace or commas are ANDed: `>= 1.0, << 2.0`.
 * An empty string means any version. Throws CONSTRAINT_INVALID.
 */
export function parseDebianRelations(raw: string): DebianRelation[] {
  const out: DebianRelation[] = [];
  let rest = raw;
  while (rest.trim() !== '') {
    const m = ITEM_RE.exec(rest);
    if (!m || m[0].trim() === '')
      throw relationError(raw, `cannot read '${rest.trim()}'; write OP VERSION with OP one of << <= = >= >>`);
    const [all, open, op, version, close] = m;
    if (!!open !== !!close)
      throw relationError(raw, open ? "'(' without a matching ')'" : "')' without a matching '('");
    const problem = debianProblem(version!);
    if (problem) throw relationError(raw, `'${version}' is not a Debian version: ${problem}`);
    if (!op && version!.split('.').some((p) => p === 'x' || p === 'X'))
      throw relationError(
        raw,
        `'${version}' looks like a semver x-range; write a Debian relation such as '>= 1.0' and '<< 2.0'`,
      );
    out.push({ op: op ? OP_MAP[op]! : '=', version: version! });
    rest = rest.slice(all!.length);
  }
  return out;
}

/** Does `version` (valid Debian) satisfy every relation? */
export function relationsSatisfiedBy(rels: DebianRelation[], version: string): boolean {
  for (const r of rels) {
    const c = compareDebian(version, r.version);
    const ok = r.op === '<<' ? c < 0 : r.op === '<=' ? c <= 0 : r.op === '=' ? c === 0 : r.op === '>=' ? c >= 0 : c > 0;
    if (!ok) return false;
  }
  return true;
}
