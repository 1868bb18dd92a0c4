import { LseError } from '../errors';
import type { Fragment, Platform } from '../model';
import type { BaseContents } from './base';
import { MemoryCatalog } from './catalog';
import { resolve } from './resolver';
import { syntheticFragment } from './synthetic';

const amd64: Platform = { os: 'linux', arch: 'amd64' };
const deb = (init: Parameters<typeof syntheticFragment>[0]): Fragment =>
  syntheticFragment({ scheme: 'debian', ...init });

const catalog = new MemoryCatalog([
  deb({
    name: 'curl',
    version: '7.88.1-10',
    depends: ['libc6 (>= 2.34)', 'libcurl4 (= 7.88.1-10)', 'zlib1g (>= 1:1.1.4)'],
  }),
  deb({ name: 'libcurl4', version: '7.88.1-10', depends: ['libc6 (>= 2.36)', 'zlib1g (>= 1:1.1.4)'] }),
  deb({ name: 'libc6', version: '2.36-9', depends: ['libgcc-s1'] }),
  deb({ name: 'libgcc-s1', version: '12.2.0-14' }),
  deb({ name: 'zlib1g', version: '1:1.2.13.dfsg-1', depends: ['libc6 (>= 2.14)'] }),
  deb({ name: 'newtool', version: '1.0-1', depends: ['libc6 (>= 2.40)'] }),
  deb({ name: 'gawk', version: '1:5.2.1-2', provides: ['awk'] }),
  deb({ name: 'script', version: '1.0-1', depends: ['awk'] }),
  deb({ name: 'tool-needs-mta', version: '1.0-1', depends: ['mail-transport-agent'] }),
  deb({ name: 'hates-dash', version: '1.0-1', conflicts: ['dash'] }),
]);

const base: BaseContents = {
  label: 'debian-min',
  packages: [
    { name: 'dash', version: '0.5.12-2', arch: 'amd64' },
    { name: 'gcc-12-base', version: '12.2.0-14', arch: 'amd64' },
    { name: 'libc6', version: '2.36-9', arch: 'amd64', depends: 'libgcc-s1' },
    { name: 'libgcc-s1', version: '12.2.0-14', arch: 'amd64', depends: 'gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)' },
    { name: 'mawk', version: '1.3.4.20200120-3.1', arch: 'amd64', provides: [{ name: 'awk' }] },
    { name: 'zlib1g', version: '1:1.2.13.dfsg-1', arch: 'amd64' },
  ],
};

const names = (fs: Fragment[]) => fs.map((f) => `${f.descriptor.name}=${f.descriptor.version}`);

function failure(req: string): LseError {
  try {
    resolve({ requirements: [{ name: req }], platform: amd64, catalog, base });
  } catch (e) {
    if (e instanceof LseError) return e;
    throw e;
  }
  throw new Error('expected resolution to fail');
}

describe('base-aware resolution', () => {
  it('ships only what the base lacks and names what the base satisfied', () => {
    const without = resolve({ requirements: [{ name: 'curl' }], platform: amd64, catalog });
    expect(names(without.fragments)).toEqual([
      'libgcc-s1=12.2.0-14',
      'libc6=2.36-9',
      'zlib1g=1:1.2.13.dfsg-1',
      'libcurl4=7.88.1-10',
      'curl=7.88.1-10',
    ]);
    expect(without.satisfiedByBase).toEqual([]);
    const r = resolve({ requirements: [{ name: 'curl' }], platform: amd64, catalog, base });
    expect(names(r.fragments)).toEqual(['libcurl4=7.88.1-10', 'curl=7.88.1-10']);
    // libc6 and zlib1g directly, libgcc-s1 and gcc-12-base because libc6 needs them.
    expect(r.satisfiedByBase).toEqual([
      { name: 'gcc-12-base', version: '12.2.0-14' },
      { name: 'libc6', version: '2.36-9' },
      { name: 'libgcc-s1', version: '12.2.0-14' },
      { name: 'zlib1g', version: '1:1.2.13.dfsg-1' },
    ]);
  });

  it('a requirement the base holds is satisfied by the base, nothing shipped', () => {
    const r = resolve({ requirements: [{ name: 'zlib1g', version: '>= 1:1.2' }], platform: amd64, catalog, base });
    expect(r.fragments).toEqual([]);
    expect(r.satisfiedByBase).toEqual([{ name: 'zlib1g', version: '1:1.2.13.dfsg-1' }]);
  });

  it("a version the base's package does not satisfy is a conflict naming the base, not a second copy", () => {
    const e = failure('newtool');
    expect(e.code).toBe('UNSATISFIABLE');
    expect(e.details['base']).toBe('debian-min');
    expect(e.message).toContain('newtool 1.0-1 depends on libc6 (>= 2.40)');
    expect(e.message).toContain('the base debian-min holds libc6 2.36-9, which is not >= 2.40');
    // Without the base, the catalog's libc6 is just too old: a different explanation.
    expect(() => resolve({ requirements: [{ name: 'newtool' }], platform: amd64, catalog })).toThrow(
      /libc6 has only version 2.36-9/,
    );
  });

  it('a virtual name the base provides is satisfied by the base (mawk for awk), not by shipping gawk', () => {
    const r = resolve({ requirements: [{ name: 'script' }], platform: amd64, catalog, base });
    expect(names(r.fragments)).toEqual(['script=1.0-1']);
    expect(r.satisfiedByBase).toEqual([{ name: 'mawk', version: '1.3.4.20200120-3.1' }]);
    expect(names(resolve({ requirements: [{ name: 'script' }], platform: amd64, catalog }).fragments)).toEqual([
      'gawk=1:5.2.1-2',
      'script=1.0-1',
    ]);
  });

  it('a fragment that conflicts with a package of the base cannot be installed on it', () => {
    const e = failure('hates-dash');
    expect(e.code).toBe('UNSATISFIABLE');
    expect(e.message).toContain('the base debian-min holds dash 0.5.12-2');
    expect(names(resolve({ requirements: [{ name: 'hates-dash' }], platform: amd64, catalog }).fragments)).toEqual([
      'hates-dash=1.0-1',
    ]);
  });

  it('is deterministic: the order of the base record does not change the result', () => {
    const a = resolve({ requirements: [{ name: 'curl' }, { name: 'script' }], platform: amd64, catalog, base });
    const b = resolve({
      requirements: [{ name: 'curl' }, { name: 'script' }],
      platform: amd64,
      catalog,
      base: { ...base, packages: [...base.packages].reverse() },
    });
    expect(names(b.fragments)).toEqual(names(a.fragments));
    expect(b.satisfiedByBase).toEqual(a.satisfiedByBase);
  });
});
