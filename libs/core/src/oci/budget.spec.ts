import { isLseError } from '../errors';
import { defaultLayerBudget, MAX_IMAGE_LAYERS, planLayers, type BudgetItem } from './budget';

const KiB = 1024;
const MiB = 1024 * KiB;
const items = (sizes: number[]): BudgetItem[] => sizes.map((size, i) => ({ id: `f${i}`, size }));

describe('planLayers', () => {
  it('gives every fragment its own layer when the budget allows', () => {
    expect(planLayers(items([10, 20, 30]), 3)).toEqual([['f0'], ['f1'], ['f2']]);
    expect(planLayers(items([10, 20, 30]), 50)).toEqual([['f0'], ['f1'], ['f2']]);
    expect(planLayers([], 5)).toEqual([]);
  });

  it('never exceeds the budget and keeps every id once, in install order', () => {
    const input = items(Array.from({ length: 40 }, (_, i) => ((i * 7919) % 13) * 100 * KiB + 1));
    for (const budget of [1, 2, 5, 17, 39]) {
      const plan = planLayers(input, budget);
      expect(plan.length).toBeLessThanOrEqual(budget);
      expect(plan.flat()).toEqual(input.map((i) => i.id));
    }
  });

  it('keeps large fragments alone and groups small neighbours', () => {
    const sizes = [5 * KiB, 2 * MiB, 3 * KiB, 4 * KiB, 6 * KiB, 3 * MiB, 1 * KiB];
    expect(planLayers(items(sizes), 5)).toEqual([['f0'], ['f1'], ['f2', 'f3', 'f4'], ['f5'], ['f6']]);
  });

  it('folds a large fragment into a neighbour group only when the budget is too tight', () => {
    const sizes = [5 * KiB, 2 * MiB, 3 * KiB, 4 * KiB, 6 * KiB, 3 * MiB, 1 * KiB];
    // Small neighbours first (f2+f3, then +f4); then the cheapest pair holding one large fragment.
    expect(planLayers(items(sizes), 4)).toEqual([['f0', 'f1'], ['f2', 'f3', 'f4'], ['f5'], ['f6']]);
  });

  it('honours custom thresholds', () => {
    const sizes = [1, 30, 25, 25];
    // Default: nothing is large, the cheapest pair by size (f0+f1 = 31) merges.
    expect(planLayers(items(sizes), 3)).toEqual([['f0', 'f1'], ['f2'], ['f3']]);
    // f1 is large at 30 bytes: the unprotected pair f2+f3 merges although it is bigger.
    expect(planLayers(items(sizes), 3, { largeSize: 30 })).toEqual([['f0'], ['f1'], ['f2', 'f3']]);
    const pop: BudgetItem[] = [
      { id: 'a', size: 1, popularity: 2 },
      { id: 'b', size: 1 },
      { id: 'c', size: 1 },
    ];
    expect(planLayers(pop, 2)).toEqual([['a', 'b'], ['c']]);
    expect(planLayers(pop, 2, { popularUses: 2 })).toEqual([['a'], ['b', 'c']]);
  });

  it('protects popular small fragments like large ones', () => {
    const input: BudgetItem[] = [
      { id: 'a', size: 10 },
      { id: 'libc', size: 10, popularity: 50 },
      { id: 'b', size: 10 },
      { id: 'c', size: 10 },
    ];
    const plan = planLayers(input, 2);
    expect(plan).toHaveLength(2);
    // b+c is the only pair without a protected fragment, so it merges first; then the budget
    // still forces one more merge, and a+libc is the cheapest pair.
    expect(plan).toEqual([
      ['a', 'libc'],
      ['b', 'c'],
    ]);
  });

  it('folds protected fragments together only when there are more than the budget', () => {
    const plan = planLayers(items([2 * MiB, 3 * MiB, 4 * MiB]), 2);
    expect(plan).toEqual([['f0', 'f1'], ['f2']]);
  });

  it('is deterministic', () => {
    const input = items(Array.from({ length: 30 }, (_, i) => (i % 5) * KiB));
    expect(planLayers(input, 7)).toEqual(
      planLayers(
        input.map((i) => ({ ...i })),
        7,
      ),
    );
  });

  it('rejects a bad budget and duplicate ids', () => {
    expect(() => planLayers(items([1]), 0)).toThrow(/positive integer/);
    try {
      planLayers(
        [
          { id: 'x', size: 1 },
          { id: 'x', size: 1 },
        ],
        1,
      );
      throw new Error('no error');
    } catch (e) {
      expect(isLseError(e, 'USAGE')).toBe(true);
    }
  });
});

describe('defaultLayerBudget', () => {
  it('is MAX_IMAGE_LAYERS minus base layers and the top layer, at least 1', () => {
    expect(MAX_IMAGE_LAYERS).toBe(100);
    expect(defaultLayerBudget(0)).toBe(99);
    expect(defaultLayerBudget(3)).toBe(96);
    expect(defaultLayerBudget(3, 0)).toBe(97);
    expect(defaultLayerBudget(500)).toBe(1);
  });
});
