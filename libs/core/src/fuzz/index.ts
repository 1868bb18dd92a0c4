/** Fuzzing of the untrusted-input parsers (readTar, parseManifest); driven by scripts/fuzz.js. */
export { Fuzzer, TARGETS, execute, type Finding, type FuzzOptions, type FuzzStats, type FuzzTarget } from './engine';
export { Rng } from './rng';
export { mutate, fixChecksum, byteMutators, tarMutators, manifestMutators, MAX_INPUT, type Mutator } from './mutate';
