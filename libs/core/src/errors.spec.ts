import { LseError, isLseError } from './errors';

describe('LseError', () => {
  it('carries a stable code and details, and serializes them', () => {
    const e = new LseError('DIGEST_MISMATCH', 'blob sha256:ab does not match', { digest: 'sha256:ab' });
    expect(isLseError(e, 'DIGEST_MISMATCH')).toBe(true);
    expect(isLseError(e, 'TAR_UNSAFE')).toBe(false);
    expect(JSON.parse(JSON.stringify(e))).toEqual({ code: 'DIGEST_MISMATCH', message: 'blob sha256:ab does not match', details: { digest: 'sha256:ab' } });
  });
});
