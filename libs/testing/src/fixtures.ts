import { generateKeyPair, signDescriptor, sha256Digest, type Fragment, type FragmentDescriptor } from '@lse/core';

const testKey = generateKeyPair('test-key').secretKey;

/** A signed fragment record with no real blob behind it (for repository tests). */
export function sampleFragment(name: string, version: string, over: Partial<FragmentDescriptor> = {}): Fragment {
  return signDescriptor(
    {
      schemaVersion: 1,
      name,
      version,
      scheme: 'semver',
      attributes: {},
      // relations with alternatives are arrays of arrays: every store must keep them (FerretDB 1.x cannot nest arrays)
      depends: [[{ name: 'zlib', constraint: '^1.2.0' }, { name: 'zlib-ng' }]],
      preDepends: [],
      provides: [{ name: `${name}-virtual` }],
      conflicts: [],
      breaks: [],
      files: [{ path: 'usr/lib/x.so', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, digest: sha256Digest('x') }],
      metadata: { 'Debian.Field-Name': 'dotted keys are kept', nested: [[1, 2], [3]] },
      blob: {
        mediaType: 'application/vnd.lse.fragment.v1.tar',
        digest: sha256Digest(`${name}@${version}`),
        size: 1024,
      },
      source: { type: 'test' },
      ...over,
    },
    testKey,
  );
}

/** The error a promise rejects with; throws if it resolves (for asserting on the error itself). */
export async function errorOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}
