export { parseManifest } from './parse';
export { MANIFEST_MAX_BYTES, MANIFEST_MAX_DEPTH, MANIFEST_MAX_KEY_CHARS, MANIFEST_MAX_STRING_CHARS } from './limits';
export type { ManifestProblem } from './schema';
export {
  parsePlatform,
  mergePlatform,
  variantProblem,
  regionProblem,
  parseRegion,
  REGION_RE,
  MAX_REGION_FALLBACKS,
  ARCHES,
  OSES,
  LIBCS,
  VARIANTS,
  DEFAULT_PLATFORM,
} from './platform';
export { parseBaseRef } from './base-ref';
export type { BaseRef } from './base-ref';
