import { isLseError } from '../errors';
import { mergePlatform, parsePlatform } from './index';

function usage(s: string): string {
  try {
    parsePlatform(s);
  } catch (e) {
    if (isLseError(e, 'USAGE')) return e.message;
    throw e;
  }
  throw new Error(`expected USAGE for '${s}'`);
}

describe('parsePlatform', () => {
  it.each([
    ['linux/amd64', { os: 'linux', arch: 'amd64' }],
    ['linux/amd64/v3', { os: 'linux', arch: 'amd64', variant: 'v3' }],
    ['linux/arm64/v8', { os: 'linux', arch: 'arm64', variant: 'v8' }],
    ['linux/arm/v7', { os: 'linux', arch: 'arm', variant: 'v7' }],
    [' linux/riscv64 ', { os: 'linux', arch: 'riscv64' }],
  ])('%s', (s, expected) => {
    expect(parsePlatform(s)).toEqual(expected);
  });

  it.each([
    ['amd64', /2 or 3 parts/],
    ['linux/amd64/v3/x', /2 or 3 parts/],
    ['linux//v3', /2 or 3 parts/],
    ['windows/amd64', /os 'windows' is not supported/],
    ['linux/x86_64', /arch 'x86_64' is not supported; use one of amd64, arm64/],
    ['linux/amd64/v5', /variant 'v5' is not valid for amd64; use one of v1, v2, v3, v4/],
    ['linux/arm/v5', /use one of v6, v7, v8/],
    ['linux/s390x/v1', /s390x takes no variant/],
  ])('rejects %s with an example', (s, why) => {
    const msg = usage(s);
    expect(msg).toMatch(why);
    expect(msg).toMatch(/e\.g\. linux\/amd64/);
  });
});

describe('mergePlatform', () => {
  it('defaults to linux/amd64 without variant', () => {
    expect(mergePlatform(undefined)).toEqual({ os: 'linux', arch: 'amd64' });
    expect(mergePlatform({})).toEqual({ os: 'linux', arch: 'amd64' });
  });

  it('fills the manifest platform with defaults and normalizes features', () => {
    expect(mergePlatform({ variant: 'v3', features: ['fma', 'avx2', 'fma'], libc: 'musl' })).toEqual({
      os: 'linux',
      arch: 'amd64',
      variant: 'v3',
      features: ['avx2', 'fma'],
      libc: 'musl',
    });
  });

  it('lets the override replace os/arch/variant as one target', () => {
    const m = { arch: 'amd64', variant: 'v3', features: ['avx2'], libc: 'glibc' };
    expect(mergePlatform(m, { os: 'linux', arch: 'arm64' })).toEqual({
      os: 'linux',
      arch: 'arm64',
      features: ['avx2'],
      libc: 'glibc',
    });
    expect(mergePlatform(m, { os: 'linux', arch: 'amd64', variant: 'v2' })).toEqual({
      os: 'linux',
      arch: 'amd64',
      variant: 'v2',
      features: ['avx2'],
      libc: 'glibc',
    });
  });

  it('prefers the override features and libc when it has them', () => {
    const merged = mergePlatform(
      { features: ['avx2'], libc: 'glibc' },
      { os: 'linux', arch: 'amd64', features: ['sse4_2'], libc: 'musl' },
    );
    expect(merged).toEqual({ os: 'linux', arch: 'amd64', features: ['sse4_2'], libc: 'musl' });
  });
});
