import { isLseError, LseError } from '../errors';
import type { Fragment, Platform, Requirement } from '../model';
import { MemoryCatalog } from './catalog';
import { resolve } from './resolver';
import { syntheticCatalog, syntheticFragment as f } from './synthetic';

const amd64: Platform = { os: 'linux', arch: 'amd64', variant: 'v2', features: ['avx'], libc: 'glibc' };

function names(frags: Fragment[], requirements: Requirement[] | string[], platform: Platform = amd64): string[] {
  const reqs = requirements.map((r) => (typeof r === 'string' ? { name: r } : r));
  return resolve({ requirements: reqs, platform, catalog: new MemoryCatalog(frags) }).fragments.map(
    (x) => `${x.descriptor.name}@${x.descriptor.version}`,
  );
}

function failure(frags: Fragment[], requirements: Requirement[], platform: Platform = amd64): LseError {
  try {
    resolve({ requirements, platform, catalog: new MemoryCatalog(frags) });
  } catch (e) {
    if (e instanceof LseError) return e;
    throw e;
  }
  throw new Error('expected resolution to fail');
}

describe('resolve', () => {
  it('picks the newest version that satisfies the requirement, dependencies first', () => {
    const cat = [
      f({ name: 'app', version: '1.0.0', depends: ['lib ^1.0.0'] }),
      f({ name: 'app', version: '2.0.0', depends: ['lib ^2.0.0'] }),
      f({ name: 'lib', version: '1.5.0' }),
      f({ name: 'lib', version: '2.1.0' }),
      f({ name: 'lib', version: '3.0.0' }),
    ];
    expect(names(cat, ['app'])).toEqual(['lib@2.1.0', 'app@2.0.0']);
    expect(names(cat, [{ name: 'app', version: '<2' }])).toEqual(['lib@1.5.0', 'app@1.0.0']);
  });

  it('prefers the oldest when preferNewest is false', () => {
    const cat = [f({ name: 'a', version: '1.0.0' }), f({ name: 'a', version: '1.2.0' })];
    const r = resolve({
      requirements: [{ name: 'a' }],
      platform: amd64,
      catalog: new MemoryCatalog(cat),
      preferNewest: false,
    });
    expect(r.fragments.map((x) => x.descriptor.version)).toEqual(['1.0.0']);
  });

  it('prefers the first satisfiable alternative', () => {
    const cat = [
      f({ name: 'app', version: '1.0.0', depends: ['gnutls | openssl'] }),
      f({ name: 'gnutls', version: '3.0.0' }),
      f({ name: 'openssl', version: '3.0.0' }),
    ];
    expect(names(cat, ['app'])).toEqual(['gnutls@3.0.0', 'app@1.0.0']);
    const noGnutls = [f({ name: 'app', version: '1.0.0', depends: ['gnutls (>= 9) | openssl'] }), ...cat.slice(1)];
    expect(names(noGnutls, ['app'])).toEqual(['app@1.0.0', 'openssl@3.0.0'].sort().reverse());
  });

  it('falls to a later alternative when the first one conflicts', () => {
    const cat = [
      f({ name: 'app', version: '1.0.0', depends: ['gnutls | openssl', 'core'] }),
      f({ name: 'core', version: '1.0.0', conflicts: ['gnutls'] }),
      f({ name: 'gnutls', version: '3.0.0' }),
      f({ name: 'openssl', version: '3.0.0' }),
    ];
    expect(names(cat, ['app']).sort()).toEqual(['app@1.0.0', 'core@1.0.0', 'openssl@3.0.0']);
  });

  it('satisfies a dependency through provides; a versioned provide is checked against the constraint', () => {
    const cat = [
      f({ name: 'app', version: '1.0.0', depends: ['mail-transport-agent'] }),
      f({ name: 'postfix', version: '3.7.0', provides: ['mail-transport-agent'] }),
    ];
    expect(names(cat, ['app'])).toEqual(['postfix@3.7.0', 'app@1.0.0']);
    const versioned = [
      f({ name: 'app', version: '1.0.0', depends: ['libz (>= 1.2)'] }),
      f({ name: 'zlib-ng', version: '2.0.0', provides: [{ name: 'libz', version: '1.3.0' }] }),
      f({ name: 'zlib-old', version: '1.0.0', provides: [{ name: 'libz', version: '1.1.0' }] }),
    ];
    expect(names(versioned, ['app'])).toEqual(['zlib-ng@2.0.0', 'app@1.0.0']);
    // An unversioned provide never satisfies a constrained atom.
    const unversioned = [
      f({ name: 'app', version: '1.0.0', depends: ['libz (>= 1.2)'] }),
      f({ name: 'zlib-ng', version: '2.0.0', provides: ['libz'] }),
    ];
    expect(failure(unversioned, [{ name: 'app' }]).code).toBe('UNSATISFIABLE');
  });

  it('never selects two fragments that conflict or break each other, and backs off to an older one', () => {
    const cat = [
      f({ name: 'app', version: '1.0.0', depends: ['a', 'b'] }),
      f({ name: 'a', version: '2.0.0', breaks: ['b (< 2.0.0)'] }),
      f({ name: 'a', version: '1.0.0' }),
      f({ name: 'b', version: '1.0.0' }),
    ];
    expect(names(cat, ['app']).sort()).toEqual(['a@1.0.0', 'app@1.0.0', 'b@1.0.0']);
    const provided = [
      f({ name: 'x', version: '1.0.0', conflicts: ['mta'] }),
      f({ name: 'postfix', version: '1.0.0', provides: ['mta'] }),
      f({ name: 'exim', version: '1.0.0', provides: ['mta'] }),
    ];
    const err = failure(provided, [{ name: 'x' }, { name: 'postfix' }]);
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain('x 1.0.0 conflicts with mta (provided by postfix 1.0.0)');
  });

  it('a fragment never conflicts with itself (Debian: Provides and Conflicts the same virtual name)', () => {
    const cat = [f({ name: 'postfix', version: '1.0.0', provides: ['mta'], conflicts: ['mta'] })];
    expect(names(cat, ['postfix', 'mta'])).toEqual(['postfix@1.0.0']);
  });

  it('backtracks: the newest A needs an impossible B, so an older A is chosen', () => {
    const cat = [
      f({ name: 'a', version: '3.0.0', depends: ['b >=5.0.0'] }),
      f({ name: 'a', version: '2.0.0', depends: ['b ^1.0.0', 'c'] }),
      f({ name: 'a', version: '1.0.0' }),
      f({ name: 'b', version: '1.0.0' }),
      f({ name: 'b', version: '4.0.0' }),
      f({ name: 'c', version: '1.0.0', depends: ['b >=4.0.0'] }),
    ];
    // a 3 needs b >=5 (none); a 2 needs b ^1 and c, c needs b >=4: impossible; a 1 works.
    expect(names(cat, ['a'])).toEqual(['a@1.0.0']);
  });

  it('resolves a diamond to one version of the shared dependency', () => {
    const cat = [
      f({ name: 'top', version: '1.0.0', depends: ['left', 'right'] }),
      f({ name: 'left', version: '1.0.0', depends: ['base >=1.0.0 <3.0.0'] }),
      f({ name: 'right', version: '1.0.0', depends: ['base ^1.2.0'] }),
      ...['1.0.0', '1.3.0', '2.0.0', '3.0.0'].map((v) => f({ name: 'base', version: v })),
    ];
    expect(names(cat, ['top'])).toEqual(['base@1.3.0', 'left@1.0.0', 'right@1.0.0', 'top@1.0.0']);
  });

  it('handles dependency cycles and breaks them deterministically', () => {
    const cat = [
      f({ name: 'a', version: '1.0.0', depends: ['b'] }),
      f({ name: 'b', version: '1.0.0', depends: ['c'] }),
      f({ name: 'c', version: '1.0.0', depends: ['a'] }),
    ];
    const first = names(cat, ['b']);
    expect(first).toEqual(['a@1.0.0', 'c@1.0.0', 'b@1.0.0']);
    expect(names([...cat].reverse(), ['c'])).toEqual(first);
  });

  it('orders pre-dependencies strictly, even inside a depends cycle', () => {
    const cat = [
      f({ name: 'a', version: '1.0.0', depends: ['z'] }),
      f({ name: 'z', version: '1.0.0', preDepends: ['a'] }),
    ];
    expect(names(cat, ['z'])).toEqual(['a@1.0.0', 'z@1.0.0']);
    const cycle = [
      f({ name: 'a', version: '1.0.0', preDepends: ['z'] }),
      f({ name: 'z', version: '1.0.0', depends: ['a'] }),
    ];
    expect(names(cycle, ['a'])).toEqual(['z@1.0.0', 'a@1.0.0']);
  });

  it('chooses the best fitting variant and honours preferences', () => {
    const v = (variant: string | undefined, extra: Partial<Parameters<typeof f>[0]['attributes']> = {}) =>
      f({ name: 'zstd', version: '1.5.0', attributes: { arch: 'amd64', ...(variant ? { variant } : {}), ...extra } });
    const cat = [v(undefined), v('v2'), v('v3'), f({ name: 'zstd', version: '1.5.0', attributes: { arch: 'arm64' } })];
    const pick = (reqs: Requirement[], p: Platform = amd64) =>
      resolve({ requirements: reqs, platform: p, catalog: new MemoryCatalog(cat) }).fragments[0]!.descriptor.attributes;
    expect(pick([{ name: 'zstd' }])).toEqual({ arch: 'amd64', variant: 'v2' }); // v3 does not fit a v2 runtime
    expect(pick([{ name: 'zstd' }], { ...amd64, variant: 'v4' })).toEqual({ arch: 'amd64', variant: 'v3' });
    expect(pick([{ name: 'zstd', prefer: { variant: 'v1' } }])).toEqual({ arch: 'amd64' });
    expect(pick([{ name: 'zstd' }], { os: 'linux', arch: 'arm64' })).toEqual({ arch: 'arm64' });
    const feat = [
      f({ name: 'k', version: '1.0.0', attributes: { features: ['avx'] } }),
      f({ name: 'k', version: '1.0.0', attributes: { features: ['sse4.2'] } }),
    ];
    const r = resolve({
      requirements: [{ name: 'k', prefer: { features: ['avx'] } }],
      platform: { ...amd64, features: ['avx', 'sse4.2'] },
      catalog: new MemoryCatalog(feat),
    });
    expect(r.fragments[0]!.descriptor.attributes.features).toEqual(['avx']);
  });

  it('uses another variant of the same version when the best one cannot be installed', () => {
    const cat = [
      f({ name: 'tool', version: '1.0.0', attributes: { variant: 'v2' }, depends: ['missing'] }),
      f({ name: 'tool', version: '1.0.0', attributes: {} }),
    ];
    expect(
      resolve({ requirements: [{ name: 'tool' }], platform: amd64, catalog: new MemoryCatalog(cat) }).fragments[0]!
        .descriptor.attributes,
    ).toEqual({});
  });

  it('reads Debian relations against Debian versions', () => {
    const cat = [
      f({ name: 'curl', version: '7.88.1-10', scheme: 'debian', depends: ['libc6 (>= 2.34)'] }),
      f({ name: 'libc6', version: '2.36-9', scheme: 'debian' }),
      f({ name: 'libc6', version: '2.31-13', scheme: 'debian' }),
    ];
    expect(names(cat, ['curl'])).toEqual(['libc6@2.36-9', 'curl@7.88.1-10']);
  });

  // How fast: `node bench/run.js --only resolution` (bench/resolution.js, the same catalog shape,
  // against a sort floor and a naive resolver measured in the same run).
  it('resolves the top of a 200-deep chain in a 10,000-fragment catalog, the whole chain in install order', () => {
    const { fragments, top } = syntheticCatalog({ names: 1000, versions: 10, depth: 200, seed: 7 });
    expect(fragments).toHaveLength(10_000);
    const catalog = new MemoryCatalog(fragments);
    const r = resolve({ requirements: [{ name: top }], platform: amd64, catalog });
    expect(r.fragments).toHaveLength(200);
    expect(r.fragments[r.fragments.length - 1]!.descriptor.name).toBe(top);
    const at = new Map(r.fragments.map((x, i) => [x.descriptor.name, i]));
    r.fragments.forEach((x, i) => {
      for (const alternatives of x.descriptor.depends)
        expect(alternatives.some((a) => (at.get(a.name) ?? Infinity) < i)).toBe(true);
    });
  });
});

describe('resolve failures', () => {
  it('explains a dependency with no version in range, naming the chain', () => {
    const cat = [
      f({ name: 'web-api', version: '1.0.0', depends: ['app-config ^2.0.0'] }),
      f({ name: 'app-config', version: '2.1.0', depends: ['libfoo (>= 3)'] }),
      f({ name: 'app-config', version: '1.0.0' }),
      f({ name: 'libfoo', version: '1.0.0' }),
      f({ name: 'libfoo', version: '2.4.1' }),
    ];
    const err = failure(cat, [{ name: 'web-api' }]);
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain(
      'app-config 2.1.0 depends on libfoo (>= 3), but libfoo has only versions 1.0.0, 2.4.1',
    );
    expect(err.message).toContain('web-api 1.0.0 depends on app-config ^2.0.0');
    expect(err.message).toContain('the manifest requires web-api');
    expect(err.details['chain']).toEqual(
      expect.arrayContaining([expect.stringContaining('the manifest cannot be satisfied')]),
    );
  });

  it('names an unknown fragment and suggests a close name', () => {
    const cat = [
      f({ name: 'libpng', version: '1.6.43' }),
      f({ name: 'viewer', version: '1.0.0', depends: ['libpgn'] }),
    ];
    const direct = failure(cat, [{ name: 'libpgn' }]);
    expect(direct.message).toContain("no fragment named 'libpgn' exists (did you mean 'libpng'?)");
    expect(direct.details['unknown']).toHaveLength(1);
    expect(failure(cat, [{ name: 'viewer' }]).message).toContain(
      "viewer 1.0.0 depends on libpgn, but no fragment named 'libpgn' exists (did you mean 'libpng'?)",
    );
  });

  it('explains a conflict naming both sides', () => {
    const cat = [
      f({ name: 'app', version: '1.0.0', depends: ['openssl ^3.0.0', 'legacy'] }),
      f({ name: 'legacy', version: '1.0.0', conflicts: ['openssl >=3.0.0'] }),
      f({ name: 'openssl', version: '3.1.0' }),
      f({ name: 'openssl', version: '1.1.1' }),
    ];
    const err = failure(cat, [{ name: 'app' }]);
    expect(err.message).toContain('legacy 1.0.0 conflicts with openssl (>= 3.0.0)');
    expect(err.message).toMatch(/app 1\.0\.0 depends on (openssl \^3\.0\.0|legacy)/);
    expect(err.message).toContain('the manifest cannot be satisfied');
  });

  it('explains two requirements that need different versions of one name', () => {
    const cat = [
      f({ name: 'a', version: '1.0.0', depends: ['shared ^1.0.0'] }),
      f({ name: 'b', version: '1.0.0', depends: ['shared ^2.0.0'] }),
      f({ name: 'shared', version: '1.0.0' }),
      f({ name: 'shared', version: '2.0.0' }),
    ];
    const err = failure(cat, [{ name: 'a' }, { name: 'b' }]);
    expect(err.code).toBe('UNSATISFIABLE');
    expect(err.message).toContain('a 1.0.0 depends on shared ^1.0.0');
    expect(err.message).toContain('b 1.0.0 depends on shared ^2.0.0');
  });

  it('reports NO_VARIANT with the attribute when a name exists but no variant fits', () => {
    const cat = [f({ name: 'libpng', version: '1.6.43', attributes: { arch: 'arm64' } })];
    const arch = failure(cat, [{ name: 'libpng' }]);
    expect(arch.code).toBe('NO_VARIANT');
    expect(arch.message).toContain(
      'the manifest requires libpng, but libpng 1.6.43: every variant needs arch arm64, runtime is amd64',
    );
    const level = failure([f({ name: 'simd', version: '2.0.0', attributes: { variant: 'v3' } })], [{ name: 'simd' }]);
    expect(level.message).toContain('needs amd64 level v3, runtime has v2');
    const feature = failure(
      [
        f({ name: 'app', version: '1.0.0', depends: ['fast'] }),
        f({ name: 'fast', version: '1.0.0', attributes: { features: ['avx512f'] } }),
      ],
      [{ name: 'app' }],
    );
    expect(feature.code).toBe('NO_VARIANT');
    expect(feature.message).toContain(
      'app 1.0.0 depends on fast, but fast 1.0.0: every variant needs CPU feature avx512f',
    );
  });

  it('rejects a constraint the candidate scheme cannot read, naming who asked', () => {
    const cat = [
      f({ name: 'app', version: '1.0.0', depends: ['libc6 ^2.0.0'] }),
      f({ name: 'libc6', version: '2.36-9', scheme: 'debian' }),
    ];
    const err = failure(cat, [{ name: 'app' }]);
    expect(isLseError(err, 'CONSTRAINT_INVALID')).toBe(true);
    expect(err.message).toContain('app 1.0.0');
  });
});
