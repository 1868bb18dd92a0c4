import type { Platform } from '../model';
import { describeMisfit, fits, rank } from './negotiate';

const amd64v2: Platform = { os: 'linux', arch: 'amd64', variant: 'v2', features: ['sse4.2', 'avx'], libc: 'glibc' };

describe('fits', () => {
  it('accepts absent attributes and arch all', () => {
    expect(fits({}, amd64v2)).toEqual({ ok: true });
    expect(fits({ arch: 'all' }, amd64v2)).toEqual({ ok: true });
    expect(fits({ os: 'linux', arch: 'amd64' }, amd64v2)).toEqual({ ok: true });
  });
  it('rejects another os or arch, naming both sides', () => {
    expect(fits({ os: 'windows' }, amd64v2)).toEqual({ ok: false, attribute: 'os', wanted: 'windows', have: 'linux' });
    expect(fits({ arch: 'arm64' }, amd64v2)).toEqual({ ok: false, attribute: 'arch', wanted: 'arm64', have: 'amd64' });
  });
  it('orders amd64 levels; a runtime without a variant is v1', () => {
    expect(fits({ variant: 'v2' }, amd64v2).ok).toBe(true);
    expect(fits({ variant: 'v1' }, amd64v2).ok).toBe(true);
    expect(fits({ variant: 'v3' }, amd64v2)).toEqual({ ok: false, attribute: 'variant', wanted: 'v3', have: 'v2' });
    expect(fits({ variant: 'v3' }, { ...amd64v2, variant: 'v4' }).ok).toBe(true);
    expect(fits({ variant: 'v2' }, { os: 'linux', arch: 'amd64' })).toEqual({
      ok: false,
      attribute: 'variant',
      wanted: 'v2',
      have: 'v1',
    });
    expect(fits({ variant: 'v1' }, { os: 'linux', arch: 'amd64' }).ok).toBe(true);
  });
  it('needs every CPU feature and an equal libc when both are named', () => {
    expect(fits({ features: ['avx'] }, amd64v2).ok).toBe(true);
    expect(fits({ features: ['avx', 'avx512f'] }, amd64v2)).toMatchObject({
      ok: false,
      attribute: 'features',
      wanted: 'avx512f',
    });
    expect(fits({ libc: 'musl' }, amd64v2)).toMatchObject({
      ok: false,
      attribute: 'libc',
      wanted: 'musl',
      have: 'glibc',
    });
    expect(fits({ libc: 'musl' }, { os: 'linux', arch: 'amd64' }).ok).toBe(true);
  });
  it('describes misfits in words', () => {
    const f = (a: Parameters<typeof fits>[0]) => {
      const r = fits(a, amd64v2);
      if (r.ok) throw new Error('expected a misfit');
      return describeMisfit(r, amd64v2);
    };
    expect(f({ arch: 'arm64' })).toBe('needs arch arm64, runtime is amd64');
    expect(f({ variant: 'v3' })).toBe('needs amd64 level v3, runtime has v2');
    expect(f({ features: ['avx512f'] })).toBe('needs CPU feature avx512f');
  });
});

describe('rank', () => {
  it('prefers higher level, preferred features, exact libc, specific arch', () => {
    expect(rank({ variant: 'v2' }, amd64v2)).toBeGreaterThan(rank({ variant: 'v1' }, amd64v2));
    expect(rank({ variant: 'v2' }, amd64v2)).toBeGreaterThan(
      rank({ features: ['avx'] }, amd64v2, { features: ['avx'] }),
    );
    expect(rank({ features: ['avx'] }, amd64v2, { features: ['avx'] })).toBeGreaterThan(
      rank({ features: ['sse4.2'] }, amd64v2, { features: ['avx'] }),
    );
    expect(rank({ libc: 'glibc' }, amd64v2)).toBeGreaterThan(rank({}, amd64v2));
    expect(rank({ libc: 'musl' }, amd64v2, { libc: 'musl' })).toBeGreaterThan(
      rank({ libc: 'glibc' }, amd64v2, { libc: 'musl' }),
    );
    expect(rank({ arch: 'amd64' }, amd64v2)).toBeGreaterThan(rank({ arch: 'all' }, amd64v2));
  });
  it('puts an explicitly preferred variant first', () => {
    expect(rank({ variant: 'v1' }, amd64v2, { variant: 'v1' })).toBeGreaterThan(
      rank({ variant: 'v2' }, amd64v2, { variant: 'v1' }),
    );
  });
});
