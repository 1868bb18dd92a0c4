import { KIND_OF, LseError, errorKind, isLseError, isRetryable, lseErrorFrom } from './errors';

describe('LseError', () => {
  it('carries a stable code and details, and serializes them', () => {
    const e = new LseError('DIGEST_MISMATCH', 'blob sha256:ab does not match', { digest: 'sha256:ab' });
    expect(isLseError(e, 'DIGEST_MISMATCH')).toBe(true);
    expect(isLseError(e, 'TAR_UNSAFE')).toBe(false);
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      code: 'DIGEST_MISMATCH',
      message: 'blob sha256:ab does not match',
      details: { digest: 'sha256:ab' },
    });
  });
});

describe('error kinds and retryability', () => {
  it('every code has a kind, and only unavailable is retryable by default', () => {
    for (const [code, kind] of Object.entries(KIND_OF)) {
      const e = new LseError(code as keyof typeof KIND_OF, 'x');
      expect(e.kind).toBe(kind);
      expect(e.retryable).toBe(kind === 'unavailable');
    }
    expect(new LseError('UNAVAILABLE', 'S3 did not answer').retryable).toBe(true);
    expect(new LseError('DIGEST_MISMATCH', 'altered').retryable).toBe(false);
  });
  it('a raiser can override retryability; errors that are not LseErrors count as retryable (driver errors)', () => {
    expect(new LseError('INTERNAL', 'lock busy', {}, { retryable: true }).retryable).toBe(true);
    expect(isRetryable(new LseError('UNAVAILABLE', 'x', {}, { retryable: false }))).toBe(false);
    expect(isRetryable(new Error('connection reset'))).toBe(true);
    expect(errorKind(new Error('boom'))).toBe('internal');
  });
  it('rebuilds an error from its JSON, keeping an unknown code in the details', () => {
    const e = lseErrorFrom(JSON.parse(JSON.stringify(new LseError('KEY_REVOKED', 'revoked', { key: 'k' }))));
    expect(isLseError(e, 'KEY_REVOKED')).toBe(true);
    expect(e.details).toEqual({ key: 'k' });
    const u = lseErrorFrom({ code: 'SOMETHING_ELSE', message: 'm' });
    expect(u.code).toBe('INTERNAL');
    expect(u.details).toEqual({ code: 'SOMETHING_ELSE' });
  });
});
