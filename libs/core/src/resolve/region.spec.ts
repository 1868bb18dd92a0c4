import { LseError } from '../errors';
import { mergePlatform, parseRegion } from '../manifest/platform';
import { parseManifest } from '../manifest/parse';
import { digestOfValue } from '../digest';
import type { Fragment, Platform } from '../model';
import { MemoryCatalog } from './catalog';
import { fits, rank } from './negotiate';
import { resolve } from './resolver';
import { syntheticFragment as f } from './synthetic';

const linux: Platform = { os: 'linux', arch: 'amd64' };
const at = (region?: string, regionFallback?: string[]): Platform => ({
  ...linux,
  ...(region ? { region } : {}),
  ...(regionFallback ? { regionFallback } : {}),
});

const eu = f({ name: 'mirrors', version: '1.0.0', attributes: { region: 'eu-west' } });
const us = f({ name: 'mirrors', version: '1.0.0', attributes: { region: 'us-east' } });
const anywhere = f({ name: 'mirrors', version: '1.0.0', attributes: {} });

function chosen(catalog: Fragment[], platform: Platform): string {
  const [only] = resolve({
    requirements: [{ name: 'mirrors' }],
    platform,
    catalog: new MemoryCatalog(catalog),
  }).fragments;
  return only!.descriptor.attributes.region ?? 'none';
}

function failure(catalog: Fragment[], platform: Platform): LseError {
  try {
    resolve({ requirements: [{ name: 'mirrors' }], platform, catalog: new MemoryCatalog(catalog) });
  } catch (e) {
    if (e instanceof LseError) return e;
    throw e;
  }
  throw new Error('expected resolution to fail');
}

describe('region negotiation', () => {
  it('a regional variant fits its region or a runtime listing it as a fallback, nothing else', () => {
    expect(fits({ region: 'eu-west' }, at('eu-west')).ok).toBe(true);
    expect(fits({ region: 'eu-west' }, at('ap-south', ['us-east', 'eu-west'])).ok).toBe(true);
    expect(fits({ region: 'eu-west' }, at('ap-south'))).toEqual({
      ok: false,
      attribute: 'region',
      wanted: 'eu-west',
      have: 'ap-south',
    });
    expect(fits({ region: 'eu-west' }, at())).toEqual({
      ok: false,
      attribute: 'region',
      wanted: 'eu-west',
      have: 'none',
    });
    expect(fits({}, at('ap-south')).ok).toBe(true);
  });

  it('ranks exact region over fallbacks (in their order) over region-less, above every other preference', () => {
    const p = at('ap-south', ['eu-west', 'us-east']);
    expect(rank({ region: 'ap-south' }, p)).toBeGreaterThan(rank({ region: 'eu-west' }, p));
    expect(rank({ region: 'eu-west' }, p)).toBeGreaterThan(rank({ region: 'us-east' }, p));
    expect(rank({ region: 'us-east' }, p)).toBeGreaterThan(
      rank({ variant: 'v4', libc: 'glibc', arch: 'amd64' }, { ...p, variant: 'v4' }, { variant: 'v4' }),
    );
  });

  it('acceptance: eu-west gets the eu-west variant; ap-south with fallback eu-west gets it too', () => {
    expect(chosen([us, eu], at('eu-west'))).toBe('eu-west');
    expect(chosen([us, eu], at('us-east'))).toBe('us-east');
    expect(chosen([us, eu], at('ap-south', ['eu-west']))).toBe('eu-west');
    expect(chosen([eu, us], at('ap-south', ['us-east', 'eu-west']))).toBe('us-east');
  });

  it('takes the exact region first, then the fallbacks, then a region-less variant', () => {
    expect(chosen([anywhere, us, eu], at('eu-west', ['us-east']))).toBe('eu-west');
    expect(chosen([anywhere, us], at('eu-west', ['us-east']))).toBe('us-east');
    expect(chosen([anywhere, us], at('eu-west'))).toBe('none');
    expect(chosen([anywhere, eu], at())).toBe('none');
  });

  it('acceptance: ap-south without a fallback is NO_VARIANT (406) naming both regions', () => {
    const e = failure([us, eu], at('ap-south'));
    expect(e.code).toBe('NO_VARIANT');
    expect(e.kind).toBe('not_acceptable');
    expect(e.details['regions']).toEqual(['eu-west', 'us-east']);
    expect(e.message).toContain('in region ap-south');
    expect(e.message).toContain('is for region eu-west');
    expect(e.message).toContain('is for region us-east');
    expect(e.message).toMatch(/variants exist only for regions eu-west, us-east/);
  });

  it('a misfit that is not about the region names no regions', () => {
    const armEu = f({ name: 'mirrors', version: '1.0.0', attributes: { region: 'eu-west', arch: 'arm64' } });
    const e = failure([armEu], at('eu-west'));
    expect(e.code).toBe('NO_VARIANT');
    expect(e.details['regions']).toBeUndefined();
  });
});

describe('region in the profile and the lock', () => {
  it('leaves a profile without a region exactly as before (same lock platform, same key)', () => {
    expect(mergePlatform({ arch: 'amd64' })).toEqual({ os: 'linux', arch: 'amd64' });
    expect(digestOfValue(mergePlatform({ arch: 'amd64' }))).toBe(digestOfValue({ os: 'linux', arch: 'amd64' }));
    expect(mergePlatform({ region: 'eu-west', regionFallback: [] })).toEqual({
      os: 'linux',
      arch: 'amd64',
      region: 'eu-west',
    });
  });

  it('lets an override region win, keeps fallback order, drops duplicates and the region itself', () => {
    const m = { region: 'eu-west', regionFallback: ['us-east', 'ap-south', 'us-east'] };
    expect(mergePlatform(m)).toEqual({
      os: 'linux',
      arch: 'amd64',
      region: 'eu-west',
      regionFallback: ['us-east', 'ap-south'],
    });
    expect(mergePlatform(m, { os: 'linux', arch: 'amd64', region: 'us-east' })).toEqual({
      os: 'linux',
      arch: 'amd64',
      region: 'us-east',
      regionFallback: ['ap-south'],
    });
    expect(digestOfValue(mergePlatform(m))).not.toBe(
      digestOfValue(mergePlatform(m, { os: 'linux', arch: 'amd64', region: 'us-east' })),
    );
  });

  it('parses region and regionFallback in a manifest and refuses malformed names', () => {
    const text = (platform: string) =>
      `apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: web }\nbase: scratch\nplatform: ${platform}\nrequire: [{ name: mirrors }]\n`;
    expect(parseManifest(text('{ arch: amd64, region: ap-south, regionFallback: [eu-west] }')).platform).toEqual({
      arch: 'amd64',
      region: 'ap-south',
      regionFallback: ['eu-west'],
    });
    expect(() => parseManifest(text('{ region: EU_West }'))).toThrow(/platform\.region.*lowercase letters/s);
    expect(() => parseManifest(text('{ regionFallback: eu-west }'))).toThrow(
      /platform\.regionFallback.*must be a list/s,
    );
  });

  it('checks --region and --region-fallback values', () => {
    expect(parseRegion('eu-west', 'us-east, ap-south')).toEqual({
      region: 'eu-west',
      regionFallback: ['us-east', 'ap-south'],
    });
    expect(() => parseRegion('eu west')).toThrow(/region 'eu west' must be lowercase/);
  });
});
