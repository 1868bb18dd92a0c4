import { resolve } from '../resolve';
import { parseControlFile } from './control';
import { DEB_MEDIA_TYPE, DebianIndexCatalog, debDerivationOf, indexDescriptor } from './index-catalog';

const INDEX = `Package: app
Version: 1.0
Architecture: amd64
Depends: mail-transport-agent | nonexistent, libfoo (>= 2), perl:any
Pre-Depends: libc6 (>= 2.36)
Filename: pool/main/a/app/app_1.0_amd64.deb
Size: 1234
SHA256: ABCDEF

Package: postfix
Version: 3.7
Architecture: amd64
Provides: mail-transport-agent
Conflicts: exim4

Package: exim4
Version: 4.96
Architecture: amd64
Provides: mail-transport-agent

Package: libfoo-compat
Version: 1.0
Architecture: all
Provides: libfoo (= 2.1)

Package: perl
Version: 5.36
Architecture: amd64

Package: libc6
Version: 2.36-9
Architecture: amd64

Package: libc6
Version: 2.36-9
Architecture: arm64
`;

describe('DebianIndexCatalog', () => {
  const catalog = new DebianIndexCatalog(parseControlFile(INDEX), ['amd64', 'all']);

  it('resolves virtual packages, versioned provides, :any and pre-dependencies in install order', () => {
    const { fragments } = resolve({
      requirements: [{ name: 'app' }],
      platform: { os: 'linux', arch: 'amd64' },
      catalog,
    });
    const names = fragments.map((f) => f.descriptor.name);
    expect(names.sort()).toEqual(['app', 'exim4', 'libc6', 'libfoo-compat', 'perl'].sort()); // first provider by name order is exim4
    expect(fragments.map((f) => f.descriptor.name).indexOf('libc6')).toBeLessThan(
      fragments.map((f) => f.descriptor.name).indexOf('app'),
    );
  });

  it('chooses among providers of a virtual name by Debian priority, as apt does (awk is mawk)', () => {
    const idx = parseControlFile(`Package: base-files
Version: 12.4
Architecture: amd64
Pre-Depends: awk

Package: gawk
Version: 1:5.2.1-2
Architecture: amd64
Priority: optional
Provides: awk

Package: mawk
Version: 1.3.4-3
Architecture: amd64
Priority: required
Provides: awk

Package: busybox
Version: 1:1.35.0-4
Architecture: amd64
Priority: optional
Provides: awk
`);
    const names = (ps: ReturnType<typeof parseControlFile>) =>
      resolve({
        requirements: [{ name: 'base-files' }],
        platform: { os: 'linux', arch: 'amd64' },
        catalog: new DebianIndexCatalog(ps, ['amd64']),
      })
        .fragments.map((f) => f.descriptor.name)
        .sort();
    expect(names(idx)).toEqual(['base-files', 'mawk']);
    // without priorities, the name order decides (busybox before gawk)
    expect(names(idx.map((p) => Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'Priority'))))).toEqual([
      'base-files',
      'busybox',
    ]);
  });

  it('keeps only the wanted architectures and knows provided names', () => {
    expect(catalog.byName('libc6').map((f) => f.descriptor.attributes.arch)).toEqual(['amd64']);
    expect(catalog.has('mail-transport-agent')).toBe(true);
    expect(catalog.has('nonexistent')).toBe(false);
  });

  it('describes a metadata-only fragment whose blob is the .deb the index names', () => {
    const p = { ...parseControlFile(INDEX)[0]!, SHA256: 'AB'.repeat(32) };
    const d = indexDescriptor(p, {
      repo: 'http://deb.debian.org/debian/',
      derive: { from: 'deb', mergedUsr: true, epoch: 7 },
    });
    expect(d.blob).toEqual({ mediaType: DEB_MEDIA_TYPE, digest: `sha256:${'ab'.repeat(32)}`, size: 1234 });
    expect(d.source).toEqual({
      type: 'debian-index',
      filename: 'pool/main/a/app/app_1.0_amd64.deb',
      repo: 'http://deb.debian.org/debian',
    });
    expect(d.depends[0]).toEqual([{ name: 'mail-transport-agent' }, { name: 'nonexistent' }]);
    expect(d.files).toEqual([]);
    expect(debDerivationOf(d)).toEqual({ from: 'deb', mergedUsr: true, epoch: 7 });
    expect(indexDescriptor(p, { repo: 'http://deb.debian.org/debian' })).toEqual(
      indexDescriptor(p, { repo: 'http://deb.debian.org/debian' }),
    ); // pure: same ids on re-import
  });

  it('refuses paragraphs without a usable SHA256, Size or Filename (nothing unverifiable is signed)', () => {
    const p = parseControlFile(INDEX)[0]!;
    expect(() => indexDescriptor(p)).toThrow(/no valid SHA256/);
    expect(() => indexDescriptor({ ...p, SHA256: 'a'.repeat(64), Size: 'x' })).toThrow(/no valid Size/);
    expect(() => indexDescriptor({ ...p, SHA256: 'a'.repeat(64), Filename: '../../etc/passwd' })).toThrow(
      /not a relative path/,
    );
    expect(() => indexDescriptor({ ...p, SHA256: 'a'.repeat(64), Filename: '/etc/passwd' })).toThrow(
      /not a relative path/,
    );
  });
});
