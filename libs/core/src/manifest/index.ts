export { parseManifest } from './parse';
export type { ManifestProblem } from './schema';
export { parsePlatform, mergePlatform, variantProblem, ARCHES, OSES, LIBCS, VARIANTS, DEFAULT_PLATFORM } from './platform';
export { parseBaseRef } from './base-ref';
export type { BaseRef } from './base-ref';
