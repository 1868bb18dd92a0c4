import { generateKeyPair, signDescriptor, sha256Digest, type Fragment, type FragmentDescriptor } from '@lse/core';

const testKey = generateKeyPair('test-key').secretKey;

/** A signed fragment record with no real blob behind it (for repository tests). */
export function sampleFragment(name: string, version: string, over: Partial<FragmentDescriptor> = {}): Fragment {
  return signDescriptor({
    schemaVersion: 1, name, version, scheme: 'semver', attributes: {}, depends: [], preDepends: [], provides: [], conflicts: [], breaks: [],
    files: [], blob: { mediaType: 'application/vnd.lse.fragment.v1.tar', digest: sha256Digest(`${name}@${version}`), size: 1024 },
    source: { type: 'test' }, metadata: {}, ...over,
  }, testKey);
}
