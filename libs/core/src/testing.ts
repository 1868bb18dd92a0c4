/**
 * `@lse/core/testing`: generators for tests and benchmarks (bench/ requires it from dist); production
 * code never imports this entry.
 */
export {
  mulberry32,
  syntheticCatalog,
  syntheticFragment,
  type FragmentInit,
  type SyntheticCatalog,
  type SyntheticOptions,
} from './resolve/synthetic';
