export type { TarEntry, TarLimits, TarPolicy } from './types';
export { DEFAULT_TAR_LIMITS } from './types';
export { readTar } from './read';
export { writeTar } from './write';
export { checkPolicy, type PolicyReason } from './policy';
export { normalizeEntries, type NormalizeOptions } from './normalize';
export { canonicalPath, comparePaths } from './path';
