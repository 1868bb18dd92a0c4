import { MemoryBaseRepository, MemoryBlobStore } from '@lse/adapter-memory';
import { writeTar, type TarEntry } from '@lse/core';
import { importRootfsTar } from './base-import';

const file = (path: string, content: string): TarEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: Buffer.byteLength(content),
  data: Buffer.from(content),
});

describe('base records list the packages of the dpkg status', () => {
  it('importRootfsTar records installed packages; a rootfs without a status records none', async () => {
    const ports = { layers: new MemoryBlobStore(), bases: new MemoryBaseRepository() };
    const status =
      'Package: dash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.5.12-2\nProvides: sh\n';
    const { base } = await importRootfsTar(
      ports,
      writeTar([file('var/lib/dpkg/status', status), file('etc/os-release', 'ID=debian\n')]),
      { name: 'deb', tag: 'latest', epoch: 0, arch: 'amd64', source: {} },
    );
    expect(base.packages).toEqual([{ name: 'dash', version: '0.5.12-2', arch: 'amd64', provides: [{ name: 'sh' }] }]);
    expect((await ports.bases.get(base.digest))?.packages).toEqual(base.packages);
    const plain = await importRootfsTar(ports, writeTar([file('etc/os-release', 'ID=plain\n')]), {
      name: 'plain',
      tag: 'latest',
      epoch: 0,
      arch: 'amd64',
      source: {},
    });
    expect(plain.base.packages).toBeUndefined();
  });
});
