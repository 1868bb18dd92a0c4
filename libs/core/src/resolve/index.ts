export { fits, rank, describeMisfit } from './negotiate';
export type { Fit, VariantPreference } from './negotiate';
export { MemoryCatalog, atomMatches } from './catalog';
export type { Catalog } from './catalog';
export { resolve } from './resolver';
export type { ResolveInput, ResolveResult } from './resolver';
export { installOrder } from './order';
export { syntheticCatalog, syntheticFragment } from './synthetic';
export type { SyntheticOptions, SyntheticCatalog, FragmentInit } from './synthetic';
