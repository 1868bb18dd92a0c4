import { excerpt, EXCERPT_MAX } from './excerpt';

describe('excerpt', () => {
  it('keeps short strings and cuts long ones, saying how long they were', () => {
    expect(excerpt('abc')).toBe('abc');
    expect(excerpt('x'.repeat(EXCERPT_MAX))).toBe('x'.repeat(EXCERPT_MAX));
    expect(excerpt('x'.repeat(100_000_000 / 100), 10)).toBe(`${'x'.repeat(10)}… (1000000 chars)`);
  });
});
