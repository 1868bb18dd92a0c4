import { KIND_OF, LseError, isErrorCode, type ErrorCode } from '@lse/core';
import { EXIT, exitCodeFor } from './output';

describe('exit codes come from error kinds', () => {
  const cases: [ErrorCode, number][] = [
    ['MANIFEST_INVALID', EXIT.usage],
    ['USAGE', EXIT.usage],
    ['OUTPUT_EXISTS', EXIT.usage],
    ['TOO_LARGE', EXIT.usage],
    ['UNSATISFIABLE', EXIT.resolution],
    ['NO_VARIANT', EXIT.resolution],
    ['BASE_UNKNOWN', EXIT.resolution],
    ['BLOB_UNKNOWN', EXIT.resolution],
    ['KEY_REVOKED', EXIT.verification],
    ['DIGEST_MISMATCH', EXIT.verification],
    ['TAR_UNSAFE', EXIT.verification],
    ['PATH_CONFLICT', EXIT.verification],
    ['UNAVAILABLE', EXIT.failed],
    ['INTERNAL', EXIT.failed],
  ];
  it.each(cases)('%s exits %i', (code, exit) => {
    expect(exitCodeFor(new LseError(code, 'x'))).toBe(exit);
  });
  it('every code maps to a documented exit code, and anything else exits 1', () => {
    for (const code of Object.keys(KIND_OF).filter(isErrorCode))
      expect(Object.values(EXIT)).toContain(exitCodeFor(new LseError(code, 'x')));
    expect(exitCodeFor(new Error('boom'))).toBe(EXIT.failed);
  });
});
