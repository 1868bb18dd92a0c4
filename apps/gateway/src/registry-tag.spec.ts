import { parsePkgsRef, RegistryError } from './registry-pull';
import type { RegistrySettings } from './deps';

const settings: RegistrySettings = {
  secret: Buffer.alloc(32),
  anonymousPull: false,
  pkgsBase: 'minimal',
  tokenTtlSeconds: 300,
  pkgsPlatforms: [
    { os: 'linux', arch: 'amd64' },
    { os: 'linux', arch: 'amd64', variant: 'v3' },
  ],
};

describe('pkgs tag grammar', () => {
  it('reads base, platform and region; the region applies to every configured platform', () => {
    expect(parsePkgsRef('pkgs/curl', 'minimal--amd64-v3--in-eu-west', settings)).toEqual({
      packages: ['curl'],
      base: 'minimal',
      platforms: [{ os: 'linux', arch: 'amd64', variant: 'v3', region: 'eu-west' }],
    });
    expect(parsePkgsRef('pkgs/curl', 'latest--in-ap-south', settings).platforms).toEqual([
      { os: 'linux', arch: 'amd64', region: 'ap-south' },
      { os: 'linux', arch: 'amd64', variant: 'v3', region: 'ap-south' },
    ]);
  });

  it('without a region the platforms are exactly as before', () => {
    expect(parsePkgsRef('pkgs/curl', 'minimal--arm64', settings).platforms).toEqual([{ os: 'linux', arch: 'arm64' }]);
    expect(parsePkgsRef('pkgs/curl', 'latest', settings).platforms).toEqual(settings.pkgsPlatforms);
  });

  it('a malformed region is not a region: the tag is a base name, or invalid', () => {
    expect(parsePkgsRef('pkgs/curl', 'minimal--in-EU', settings).base).toBe('minimal--in-EU');
    expect(() => parsePkgsRef('pkgs/curl', '', settings)).toThrow(RegistryError);
  });
});
