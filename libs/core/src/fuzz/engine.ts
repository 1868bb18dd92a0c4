/**
 * The fuzz loop, pure and synchronous so it runs the same in a unit test and under the
 * `scripts/fuzz.js` supervisor (which adds what needs a process: hang and crash detection).
 *
 * Each execution takes an input from the live corpus, mutates it ({@link mutate}) and runs the
 * target. The contract: every input either parses or throws an `LseError` with one of the
 * target's allowed codes, within `timeBoundMs`. Anything else is a finding: another exception
 * (a TypeError, a RangeError from a stack overflow, an LseError with another code) or an input
 * that took too long. Feedback without instrumentation: an input that parses, or that is refused
 * with a message never seen before (numbers and quoted text stripped), joins the live corpus, so
 * mutations build on inputs that reached new checks.
 */
import { isLseError, type ErrorCode } from '../errors';
import { parseManifest } from '../manifest';
import { readTar } from '../tar';
import { mutate, manifestMutators, tarMutators, type Mutator } from './mutate';
import { Rng } from './rng';

export interface FuzzTarget {
  name: 'tar' | 'manifest';
  run(input: Buffer): void;
  allowed: readonly ErrorCode[];
  mutators: readonly Mutator[];
}

export const TARGETS: Record<FuzzTarget['name'], FuzzTarget> = {
  tar: { name: 'tar', run: (b) => void readTar(b), allowed: ['TAR_INVALID', 'TAR_UNSAFE'], mutators: tarMutators },
  manifest: {
    name: 'manifest',
    run: (b) => void parseManifest(b.toString('utf8'), 'fuzz.yaml'),
    allowed: ['MANIFEST_INVALID'],
    mutators: manifestMutators,
  },
};

export interface Finding {
  target: FuzzTarget['name'];
  kind: 'exception' | 'slow' | 'hang' | 'crash';
  input: Buffer;
  /** What happened: the exception's name, code and message, or the time taken. */
  what: string;
  stack?: string;
}

/** The outcome of one execution: 'ok', an allowed code, or a finding. */
export function execute(
  target: FuzzTarget,
  input: Buffer,
  timeBoundMs: number,
  now: () => number,
): { outcome: string; finding?: Finding } {
  const t0 = now();
  let outcome = 'ok';
  try {
    target.run(input);
  } catch (e) {
    if (isLseError(e) && target.allowed.includes(e.code)) {
      outcome = `${e.code}:${signature(e.message)}`;
    } else {
      const err = e as Error;
      const what = isLseError(e)
        ? `LseError ${e.code} (not allowed here): ${err.message.slice(0, 500)}`
        : `${err?.name ?? typeof e}: ${String(err?.message ?? e).slice(0, 500)}`;
      return {
        outcome: 'finding',
        finding: {
          target: target.name,
          kind: 'exception',
          input,
          what,
          stack: stackOf(target, input) ?? err?.stack?.slice(0, 4000),
        },
      };
    }
  }
  const ms = now() - t0;
  if (ms > timeBoundMs)
    return {
      outcome: 'finding',
      finding: {
        target: target.name,
        kind: 'slow',
        input,
        what: `took ${ms.toFixed(0)} ms (bound ${timeBoundMs} ms), outcome ${outcome.slice(0, 200)}`,
      },
    };
  return { outcome };
}

/** Runs `input` again with stack traces on (the loop runs without them: they cost a third of the time). */
function stackOf(target: FuzzTarget, input: Buffer): string | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50;
  try {
    target.run(input);
    return undefined;
  } catch (e) {
    return (e as Error)?.stack?.slice(0, 4000);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** A refusal's shape: the message with numbers and quoted text removed, first 80 characters. */
function signature(message: string): string {
  return message.replace(/'[^']*'|"[^"]*"|\d+/g, '#').slice(0, 80);
}

export interface FuzzOptions {
  target: FuzzTarget;
  seeds: readonly Buffer[];
  seed: number;
  /** Stop after this many executions ... */
  count?: number;
  /** ... or at this time (ms, by `now`), whichever comes first. */
  until?: number;
  timeBoundMs?: number;
  now?: () => number;
  /** Called with each input just before it runs (the supervisor saves it, to name a hang or crash). */
  before?: (input: Buffer) => void;
  onFinding?: (f: Finding) => void;
  /** Live corpus cap. */
  maxCorpus?: number;
  /** Largest input kept in the live corpus (larger ones are still run, just not built upon). */
  maxCorpusInput?: number;
}

export interface FuzzStats {
  executions: number;
  findings: number;
  corpus: number;
  outcomes: number;
}

export class Fuzzer {
  private readonly rng: Rng;
  private readonly corpus: Buffer[];
  private readonly seen = new Set<string>();
  executions = 0;
  findings = 0;

  constructor(private readonly opts: FuzzOptions) {
    if (opts.seeds.length === 0) throw new Error(`fuzz ${opts.target.name}: no seeds`);
    this.rng = new Rng(opts.seed);
    this.corpus = [...opts.seeds];
  }

  /** Runs until `count` more executions are done or `until` has passed; returns the totals. */
  run(count = this.opts.count ?? Infinity, until = this.opts.until ?? Infinity): FuzzStats {
    const { target, timeBoundMs = 5000, before, onFinding, maxCorpus = 2000 } = this.opts;
    const now = this.opts.now ?? (() => performance.now());
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      this.loop(count, until, now, target, timeBoundMs, maxCorpus, before, onFinding);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    return this.stats();
  }

  private loop(
    count: number,
    until: number,
    now: () => number,
    target: FuzzTarget,
    timeBoundMs: number,
    maxCorpus: number,
    before: FuzzOptions['before'],
    onFinding: FuzzOptions['onFinding'],
  ): void {
    for (let i = 0; i < count; i++) {
      if (now() > until) break;
      const base = this.rng.chance(0.2) ? this.rng.pick(this.opts.seeds) : this.rng.pick(this.corpus);
      const input = mutate(base, this.rng, this.corpus, target.mutators);
      before?.(input);
      const { outcome, finding } = execute(target, input, timeBoundMs, now);
      this.executions++;
      if (finding) {
        this.findings++;
        onFinding?.(finding);
      } else if (!this.seen.has(outcome) || (outcome === 'ok' && this.rng.chance(0.01))) {
        this.seen.add(outcome);
        if (input.length <= (this.opts.maxCorpusInput ?? 16 * 1024)) {
          if (this.corpus.length >= maxCorpus)
            this.corpus[this.opts.seeds.length + this.rng.int(maxCorpus - this.opts.seeds.length)] = input;
          else this.corpus.push(input);
        }
      }
    }
  }

  stats(): FuzzStats {
    return {
      executions: this.executions,
      findings: this.findings,
      corpus: this.corpus.length,
      outcomes: this.seen.size,
    };
  }
}
