import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LseError } from '../errors';
import { readTar } from '../tar';
import { execute, Fuzzer, TARGETS, type Finding, type FuzzTarget } from './engine';
import { fixChecksum, tarMutators } from './mutate';
import { Rng } from './rng';

const ROOT = join(__dirname, '../../../..');

function seeds(name: 'tar' | 'manifest'): Buffer[] {
  const dir = join(ROOT, 'libs/core/fuzz/corpus', name);
  const files = readdirSync(dir)
    .filter((f) => !f.endsWith('.md'))
    .map((f) => join(dir, f));
  if (name === 'manifest')
    files.push(
      ...readdirSync(join(ROOT, 'examples'))
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => join(ROOT, 'examples', f)),
    );
  return files.map((f) => readFileSync(f));
}

describe('fuzz: short bounded run (the long one is `npm run fuzz -- --seconds N`)', () => {
  it.each([
    ['tar', 1500],
    ['manifest', 100],
  ] as const)('%s: %d mutated inputs, each parsed or refused with an allowed code', (name, count) => {
    const found: Finding[] = [];
    // No time bound here (a loaded CI machine must not fail the suite); `npm run fuzz` has one.
    const fuzzer = new Fuzzer({
      target: TARGETS[name],
      seeds: seeds(name),
      seed: 20261201,
      timeBoundMs: Infinity,
      onFinding: (f) => found.push(f),
    });
    const stats = fuzzer.run(count);
    expect(found.map((f) => `${f.kind}: ${f.what}\n${f.stack ?? ''}`)).toEqual([]);
    expect(stats.executions).toBe(count);
    expect(stats.outcomes).toBeGreaterThan(5); // the mutations reach more than one kind of refusal
  });

  it('every seed is valid input for its parser (so mutations start from real archives)', () => {
    for (const s of seeds('tar')) expect(() => readTar(s)).not.toThrow();
  });
});

/** Inputs the fuzzer (or an issue) found, kept in libs/core/fuzz/regressions/<target>/. */
describe.each(['tar', 'manifest'] as const)('fuzz regressions: %s', (name) => {
  const dir = join(ROOT, 'libs/core/fuzz/regressions', name);
  const files = readdirSync(dir).sort();

  it.each(files)('%s is refused with an allowed code', (file) => {
    const input = readFileSync(join(dir, file));
    const { outcome, finding } = execute(TARGETS[name], input, Infinity, () => 0);
    expect(finding).toBeUndefined();
    expect(outcome).toMatch(name === 'tar' ? /^TAR_(INVALID|UNSAFE):/ : /^MANIFEST_INVALID:/);
  });

  if (name === 'manifest') {
    it('many-yaml-errors.yaml (slow: a stack trace per YAML error) leaves Error.stackTraceLimit as it was', () => {
      const before = Error.stackTraceLimit;
      execute(TARGETS.manifest, readFileSync(join(dir, 'many-yaml-errors.yaml')), Infinity, () => 0);
      expect(Error.stackTraceLimit).toBe(before);
      expect(new Error('x').stack).toMatch(/fuzz\.spec/);
    });
  }
});

describe('fuzz: the harness itself', () => {
  const flaky: FuzzTarget = {
    name: 'tar',
    allowed: ['TAR_INVALID'],
    mutators: tarMutators,
    run: (b) => {
      if (b.length % 7 === 0) throw new TypeError('boom');
      if (b.length % 7 === 1) throw new LseError('INTERNAL', 'wrong code');
      if (b.length % 7 === 2) throw new LseError('TAR_INVALID', 'fine');
    },
  };

  it('reports other exceptions and disallowed codes, with a stack; allowed codes are outcomes', () => {
    const clock = () => 0;
    expect(execute(flaky, Buffer.alloc(7), 1000, clock).finding).toMatchObject({
      kind: 'exception',
      what: 'TypeError: boom',
      stack: expect.stringContaining('boom'),
    });
    expect(execute(flaky, Buffer.alloc(8), 1000, clock).finding).toMatchObject({
      kind: 'exception',
      what: expect.stringMatching(/^LseError INTERNAL \(not allowed here\)/),
    });
    expect(execute(flaky, Buffer.alloc(9), 1000, clock)).toEqual({ outcome: 'TAR_INVALID:fine' });
    expect(execute(flaky, Buffer.alloc(10), 1000, clock)).toEqual({ outcome: 'ok' });
  });

  it('reports an input over the time bound as slow', () => {
    let t = 0;
    const clock = () => (t += 600);
    expect(execute(flaky, Buffer.alloc(10), 500, clock).finding).toMatchObject({
      kind: 'slow',
      what: expect.stringMatching(/took 600 ms \(bound 500 ms\)/),
    });
  });

  it('finds the failures of a buggy target, and replays the same inputs from the same seed', () => {
    const run = () => {
      const inputs: string[] = [];
      const found: Finding[] = [];
      new Fuzzer({
        target: flaky,
        seeds: seeds('tar'),
        seed: 5,
        before: (b) => inputs.push(b.toString('base64')),
        onFinding: (f) => found.push(f),
      }).run(200);
      return { inputs, found };
    };
    const a = run();
    expect(a.found.length).toBeGreaterThan(10);
    expect(run().inputs).toEqual(a.inputs);
  });

  it('tar field mutations keep the header checksum valid, so the reader looks past it', () => {
    const rng = new Rng(3);
    const tar = seeds('tar').find((s) => s.length === 2048)!; // writer-one-file.tar
    let checksumErrors = 0;
    for (let i = 0; i < 300; i++) {
      const m = tarMutators[0]!(tar, rng, []);
      try {
        readTar(m);
      } catch (e) {
        if (/bad checksum/.test((e as Error).message)) checksumErrors++;
      }
    }
    expect(checksumErrors).toBeLessThan(40); // 5% of field rewrites skip the fix on purpose
    const h = Buffer.from(tar);
    h[0] = 0x41;
    fixChecksum(h, 0);
    expect(readTar(h)[0]?.path[0]).toBe('A');
  });
});
