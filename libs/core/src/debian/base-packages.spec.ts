import { basePackagesFromStatus } from './base-packages';

const STATUS = `Package: mawk
Status: install ok installed
Priority: required
Architecture: amd64
Version: 1.3.4.20200120-3.1
Provides: awk

Package: old-removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: dash
Status: install ok installed
Architecture: amd64
Version: 0.5.12-2
Pre-Depends: libc6 (>= 2.34)
Depends: debianutils (>= 5.6-0.1),
 dpkg (>= 1.19.2)
Provides: sh (= 1.0), posix-shell

Package: half
Status: install reinstreq half-installed
Architecture: amd64
Version: 2.0
`;

describe('basePackagesFromStatus', () => {
  it('lists installed packages with their provides, sorted by name', () => {
    expect(basePackagesFromStatus(STATUS)).toEqual([
      {
        name: 'dash',
        version: '0.5.12-2',
        arch: 'amd64',
        provides: [{ name: 'sh', version: '1.0' }, { name: 'posix-shell' }],
        depends: 'libc6 (>= 2.34), debianutils (>= 5.6-0.1), dpkg (>= 1.19.2)',
      },
      { name: 'mawk', version: '1.3.4.20200120-3.1', arch: 'amd64', provides: [{ name: 'awk' }] },
    ]);
  });
});
