/**
 * `@lse/adapter-s3/testing`: helpers for tests and operations drills only; production code never
 * imports this entry.
 */
export { tamperS3Object } from './tamper';
