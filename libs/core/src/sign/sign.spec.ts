import { randomBytes } from 'node:crypto';
import type { Fragment, FragmentDescriptor } from '../model';
import { isLseError, type ErrorCode } from '../errors';
import {
  acceptFragment,
  derivationStatement,
  formatKey,
  fragmentId,
  generateKeyPair,
  parsePublicKey,
  parseSecretKey,
  publicKeyOf,
  reference,
  scopeMatches,
  signBytes,
  signDerivation,
  signDescriptor,
  trustGeneration,
  verifyBytes,
  verifyFragment,
  type TrustedKey,
} from './index';

function descriptor(name = 'libpng', version = '1.6.43'): FragmentDescriptor {
  return {
    schemaVersion: 1,
    name,
    version,
    scheme: 'semver',
    attributes: { arch: 'amd64' },
    depends: [[{ name: 'zlib', constraint: '^1.2.0' }]],
    preDepends: [],
    provides: [],
    conflicts: [],
    breaks: [],
    files: [
      {
        path: 'usr/lib/libpng.so',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 3,
        digest: 'sha256:' + 'a'.repeat(64),
      },
    ],
    blob: { mediaType: 'application/vnd.lse.fragment.v1.tar', digest: 'sha256:' + 'b'.repeat(64), size: 2048 },
    source: { type: 'dir' },
    metadata: {},
  };
}

describe('fragmentId', () => {
  it('gives the same id for the same descriptor however its keys were ordered', () => {
    const d = descriptor();
    const reordered = Object.fromEntries(Object.entries(d).reverse()) as unknown as FragmentDescriptor;
    expect(fragmentId(reordered)).toBe(fragmentId(d));
    expect(fragmentId({ ...d, version: '1.6.44' })).not.toBe(fragmentId(d));
  });
});

describe('Ed25519: node:crypto hot path against the tweetnacl reference', () => {
  const { secretKey } = generateKeyPair('acme-1');
  const pub = publicKeyOf(secretKey).key;
  it('signatures made by each verify with the other', () => {
    for (let i = 0; i < 20; i++) {
      const msg = randomBytes(1 + i * 37);
      const fast = signBytes(msg, secretKey);
      const ref = reference.sign(msg, secretKey);
      expect(fast.equals(ref)).toBe(true); // Ed25519 is deterministic
      expect(verifyBytes(msg, ref, pub)).toBe(true);
      expect(reference.verify(msg, fast, pub)).toBe(true);
    }
  });
  it('tampered bytes or signatures fail with both', () => {
    const msg = Buffer.from('name=libpng version=1.6.43');
    const sig = signBytes(msg, secretKey);
    const badMsg = Buffer.from(msg);
    badMsg[0] ^= 1;
    const badSig = Buffer.from(sig);
    badSig[10] ^= 1;
    expect(verifyBytes(badMsg, sig, pub)).toBe(false);
    expect(reference.verify(badMsg, sig, pub)).toBe(false);
    expect(verifyBytes(msg, badSig, pub)).toBe(false);
    expect(reference.verify(msg, badSig, pub)).toBe(false);
    const other = publicKeyOf(generateKeyPair('other').secretKey).key;
    expect(verifyBytes(msg, sig, other)).toBe(false);
    expect(reference.verify(msg, sig, other)).toBe(false);
  });
});

describe('key files', () => {
  it('round-trip NAME:base64 for public and secret keys', () => {
    const { publicKey, secretKey } = generateKeyPair('acme-1');
    expect(formatKey(publicKey)).toMatch(/^acme-1:[A-Za-z0-9+/]{43}=$/);
    expect(parsePublicKey(formatKey(publicKey)).key.equals(publicKey.key)).toBe(true);
    expect(parseSecretKey(formatKey(secretKey) + '\n').key.equals(secretKey.key)).toBe(true);
  });
  it('rejects malformed keys with a clear message', () => {
    expect(() => parsePublicKey('nocolon')).toThrow(/NAME:base64/);
    expect(() => parsePublicKey('acme:AAAA')).toThrow(/32 bytes/);
    expect(() => parsePublicKey('bad name:' + Buffer.alloc(32).toString('base64'))).toThrow(/not valid/);
    const { secretKey } = generateKeyPair('k');
    const corrupt = Buffer.from(secretKey.key);
    corrupt[40] ^= 1;
    expect(() => parseSecretKey('k:' + corrupt.toString('base64'))).toThrow(/corrupt/);
  });
});

describe('fragment verification against the trust store', () => {
  const { secretKey } = generateKeyPair('acme-1');
  const trusted = (over: Partial<TrustedKey> = {}): Map<string, TrustedKey> =>
    new Map([
      [
        'acme-1',
        {
          name: 'acme-1',
          publicKey: publicKeyOf(secretKey).key.toString('base64'),
          scopes: ['*'],
          revoked: false,
          ...over,
        },
      ],
    ]);

  it('accepts a fragment signed by a trusted key in scope', () => {
    const f = signDescriptor(descriptor(), secretKey);
    expect(f.id).toBe(fragmentId(f.descriptor));
    expect(verifyFragment(f, trusted({ scopes: ['lib*'] }))).toBe('acme-1');
  });
  it.each<[ErrorCode, ReadonlyMap<string, TrustedKey>, RegExp]>([
    ['KEY_UNTRUSTED', new Map<string, TrustedKey>(), /not in the trust store/],
    ['KEY_REVOKED', trusted({ revoked: true }), /signature by key 'acme-1' is revoked/],
    ['KEY_OUT_OF_SCOPE', trusted({ scopes: ['zlib*'] }), /may only sign 'zlib\*', not 'libpng'/],
  ])('refuses with %s', (code, keys, msg) => {
    const f = signDescriptor(descriptor(), secretKey);
    let err: unknown;
    try {
      verifyFragment(f, keys);
    } catch (e) {
      err = e;
    }
    expect(isLseError(err, code)).toBe(true);
    expect((err as Error).message).toMatch(/^fragment libpng@1\.6\.43 \(sha256:[0-9a-f]{12}…\): /);
    expect((err as Error).message).toMatch(msg);
  });
  it('refuses a descriptor whose signed name was changed, even if the id is recomputed', () => {
    const f = signDescriptor(descriptor(), secretKey);
    const renamed = { ...f, descriptor: { ...f.descriptor, name: 'libpnh' } };
    expect(() => verifyFragment(renamed, trusted())).toThrow(/altered after signing/);
    const reId = { ...renamed, id: fragmentId(renamed.descriptor) };
    expect(() => verifyFragment(reId, trusted())).toThrow(/does not verify/);
  });
  it('accepts a whole-descriptor signature through acceptFragment with no chain, naming its kind', async () => {
    const f = signDescriptor(descriptor(), secretKey);
    expect(await acceptFragment(f, trusted())).toEqual({ keyName: 'acme-1', covers: 'descriptor' });
    await expect(acceptFragment(f, trusted({ revoked: true }))).rejects.toMatchObject({ code: 'KEY_REVOKED' });
  });
  it('refuses derivation signatures without a Debian chain, on fragments without a proof, and signatures of unknown kinds', async () => {
    const proof = {
      inRelease: `sha256:${'1'.repeat(64)}`,
      packages: `sha256:${'2'.repeat(64)}`,
      path: 'main/binary-amd64/Packages',
      paragraph: { offset: 0, length: 10 },
      suite: 'Debian/Debian/bookworm',
      date: '2026-01-01T00:00:00.000Z',
    };
    const d: FragmentDescriptor = {
      ...descriptor(),
      source: { type: 'debian-index', filename: 'pool/x.deb', debian: proof },
      metadata: { derive: { from: 'deb', mergedUsr: true, epoch: 0 } },
    };
    const f = signDerivation(d, secretKey);
    expect(f.signatures[0]!.covers).toBe('derivation');
    expect(
      verifyBytes(derivationStatement(d), Buffer.from(f.signatures[0]!.sig, 'base64'), publicKeyOf(secretKey).key),
    ).toBe(true);
    // the statement is the name and the derivation only: the relations and the proof are not in it
    expect(
      derivationStatement({ ...d, depends: [], source: { ...d.source, debian: { ...proof, path: 'x' } } }),
    ).toEqual(derivationStatement(d));
    expect(derivationStatement({ ...d, name: 'libpnh' })).not.toEqual(derivationStatement(d));
    await expect(acceptFragment(f, trusted())).rejects.toMatchObject({
      code: 'DEBIAN_CHAIN_UNVERIFIED',
      message: expect.stringMatching(/no Debian archive keyring is configured here/),
    });
    expect(() => verifyFragment(f, trusted())).toThrow(/signed over its derivation only/);
    // the same signature on a descriptor that carries no Debian proof vouches for nothing
    const plain = { ...d, source: { type: 'test' } };
    await expect(
      acceptFragment({ id: fragmentId(plain), descriptor: plain, signatures: f.signatures }, trusted()),
    ).rejects.toMatchObject({
      code: 'DEBIAN_CHAIN_UNVERIFIED',
      message: expect.stringMatching(/no source.debian proof/),
    });
    expect(() => signDerivation(plain, secretKey)).toThrow(/only a fragment imported from a signed Debian index/);
    // a kind this version does not know is refused, not taken for a whole-descriptor signature
    const whole = signDescriptor(descriptor(), secretKey);
    // (as a record from another version would arrive: parsed JSON)
    const unknown = JSON.parse(
      JSON.stringify({ ...whole, signatures: [{ ...whole.signatures[0]!, covers: 'files' }] }),
    ) as Fragment;
    expect(() => verifyFragment(unknown, trusted())).toThrow(/covers 'files', which is not a signature kind/);
  });
  it('matches scopes as whole-name globs', () => {
    expect(scopeMatches('lib*', 'libpng')).toBe(true);
    expect(scopeMatches('lib*', 'zlib')).toBe(false);
    expect(scopeMatches('a.b', 'axb')).toBe(false);
    expect(scopeMatches('*', 'anything')).toBe(true);
  });
});

describe('trustGeneration', () => {
  const k = (name: string, over: Partial<TrustedKey> = {}): TrustedKey => ({
    name,
    publicKey: Buffer.alloc(32, name.length).toString('base64'),
    scopes: ['lib*'],
    revoked: false,
    ...over,
  });
  it('changes with every key, scope and revocation, and with nothing else', () => {
    const g = trustGeneration([k('a'), k('bb')]);
    expect(trustGeneration([k('bb'), k('a')])).toBe(g); // order of listing
    expect(trustGeneration([k('a', { addedAt: '2026-01-01T00:00:00Z' }), k('bb')])).toBe(g); // bookkeeping
    expect(trustGeneration([k('a', { scopes: ['lib*', 'lib*'] }), k('bb')])).toBe(g);
    const changed = [
      trustGeneration([k('a')]),
      trustGeneration([k('a'), k('bb'), k('ccc')]),
      trustGeneration([k('a', { scopes: ['lib*', 'app*'] }), k('bb')]),
      trustGeneration([k('a', { revoked: true, revokedAt: '2026-02-01T00:00:00Z' }), k('bb')]),
      trustGeneration([k('a', { publicKey: Buffer.alloc(32, 9).toString('base64') }), k('bb')]),
      trustGeneration([]),
    ];
    expect(new Set([g, ...changed]).size).toBe(changed.length + 1);
  });
});
