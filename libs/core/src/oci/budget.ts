/**
 * Layer budget: which fragments share a layer.
 *
 * An image may only have so many layers (overlayfs and the common runtimes fail somewhere above
 * ~127), yet one layer per fragment is what makes layers reusable: a fragment's layer then has the
 * same digest in every image that contains it, so caches and registries store it once. The plan
 * keeps as many fragments alone as the budget allows and groups the rest, like nixery's
 * layers.go, but the groups are runs of neighbours in install order so that the order of the
 * image's layers still follows the install order.
 *
 * Algorithm (deterministic; input = fragments in install order):
 *  1. With `budget >= items.length` every fragment gets its own layer. Done.
 *  2. Otherwise start from one layer per fragment and repeatedly merge the two *adjacent* layers
 *     that are cheapest to merge, until at most `budget` layers remain. The cost of merging a pair
 *     is compared as a tuple, smallest first:
 *       a. how many "protected" fragments the pair holds. A fragment is protected when it is
 *          large (size >= `largeSize`, default 1 MiB: big layers are the ones worth sharing) or
 *          popular (popularity >= `popularUses`, default 3: used by many images). So small,
 *          rarely used neighbours are grouped first, and protected fragments are only folded
 *          into a group when there are more of them than the budget allows;
 *       b. the combined byte size of the pair (keep groups small and balanced);
 *       c. the position of the pair (earliest first), so ties always break the same way.
 *  3. Output the layers in install order, each a list of fragment ids in install order.
 *
 * Merging is O(n^2) in the number of fragments; n is at most a few hundred per image.
 */
import { LseError } from '../errors';

/** Layers an image may have in total, base included; well below the ~127 where runtimes fail. */
export const MAX_IMAGE_LAYERS = 100;
export const DEFAULT_LARGE_FRAGMENT_SIZE = 1024 * 1024;
export const DEFAULT_POPULAR_USES = 3;

/**
 * How many layers the fragments of one image may use: {@link MAX_IMAGE_LAYERS} minus the base's
 * layers minus the layers LSE adds itself (default 1: the top layer with inline files). At least 1.
 */
export function defaultLayerBudget(baseLayerCount: number, extraLayers = 1): number {
  return Math.max(1, MAX_IMAGE_LAYERS - baseLayerCount - extraLayers);
}

export interface BudgetItem {
  id: string;
  /** Bytes of the fragment's (uncompressed) blob. */
  size: number;
  /** How many images use this fragment (caller's statistic); absent = 0. */
  popularity?: number;
}

export interface BudgetOptions {
  largeSize?: number;
  popularUses?: number;
}

interface Group {
  ids: string[];
  size: number;
  protectedCount: number;
}

export function planLayers(items: BudgetItem[], budget: number, opts: BudgetOptions = {}): string[][] {
  if (!Number.isInteger(budget) || budget < 1) {
    throw new LseError('USAGE', `layer budget must be a positive integer, got ${budget}`, { budget });
  }
  const seen = new Set<string>();
  for (const it of items) {
    if (seen.has(it.id))
      throw new LseError('USAGE', `fragment ${it.id} is listed twice in the layer plan input; list each once`, {
        id: it.id,
      });
    seen.add(it.id);
  }
  if (items.length <= budget) return items.map((it) => [it.id]);

  const largeSize = opts.largeSize ?? DEFAULT_LARGE_FRAGMENT_SIZE;
  const popularUses = opts.popularUses ?? DEFAULT_POPULAR_USES;
  const groups: Group[] = items.map((it) => ({
    ids: [it.id],
    size: it.size,
    protectedCount: it.size >= largeSize || (it.popularity ?? 0) >= popularUses ? 1 : 0,
  }));

  while (groups.length > budget) {
    let best = 0;
    for (let i = 1; i + 1 < groups.length; i++) {
      if (cheaper(groups[i], groups[i + 1], groups[best], groups[best + 1])) best = i;
    }
    const a = groups[best];
    const b = groups[best + 1];
    groups.splice(best, 2, {
      ids: [...a.ids, ...b.ids],
      size: a.size + b.size,
      protectedCount: a.protectedCount + b.protectedCount,
    });
  }
  return groups.map((g) => g.ids);
}

/** Is merging (a1,a2) strictly cheaper than merging (b1,b2)? Equal cost keeps the earlier pair. */
function cheaper(a1: Group, a2: Group, b1: Group, b2: Group): boolean {
  const pa = a1.protectedCount + a2.protectedCount;
  const pb = b1.protectedCount + b2.protectedCount;
  if (pa !== pb) return pa < pb;
  return a1.size + a2.size < b1.size + b2.size;
}
