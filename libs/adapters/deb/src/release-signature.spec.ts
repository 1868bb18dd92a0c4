/**
 * Debian's chain of trust with the host's real metadata (apt's bookworm InRelease and Packages
 * list, the archive keyring in /usr/share/keyrings) and modified copies of it: each refusal the
 * import makes, and the chain check of a fragment. Skipped when the host has no such metadata.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  LseError,
  acceptFragment,
  checkReleaseFresh,
  derivationStatement,
  fragmentId,
  generateKeyPair,
  publicKeyOf,
  signDerivation,
  signDescriptor,
  verifyFragment,
  type TrustedKey,
  indexDescriptor,
  packagesPathIn,
  paragraphAt,
  paragraphSpans,
  sha256Digest,
  type BlobStore,
  type DebianProof,
  type Fragment,
} from '@lse/core';
import type * as OpenPgp from 'openpgp' with { 'resolution-mode': 'import' };
import { readIndexText } from './apt';
import {
  DEFAULT_DEBIAN_KEYRING,
  DebianChainVerifier,
  readDebianKeyring,
  verifyInRelease,
  type DebianKeyring,
} from './release-signature';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const openpgp = require('openpgp') as typeof OpenPgp;

const LISTS = '/var/lib/apt/lists';
const IN_RELEASE = `${LISTS}/deb.debian.org_debian_dists_bookworm_InRelease`;
const PACKAGES = `${LISTS}/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4`;
const SECURITY = `${LISTS}/deb.debian.org_debian-security_dists_bookworm-security_InRelease`;
const present = [IN_RELEASE, PACKAGES, DEFAULT_DEBIAN_KEYRING].every((f) => existsSync(f));
if (!present)
  console.warn('release-signature.spec.ts skipped: no bookworm apt lists or Debian archive keyring on this host');
const suite = present ? describe : describe.skip;

jest.setTimeout(60_000);

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<LseError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof LseError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

/** A memory blob store: enough for the chain verifier (which re-hashes what it reads). */
function blobs(): BlobStore & { map: Map<string, Buffer> } {
  const map = new Map<string, Buffer>();
  return {
    map,
    put: async (d, b) => void map.set(d, b),
    get: async (d) => {
      const b = map.get(d);
      if (!b) throw new LseError('BLOB_UNKNOWN', `no blob ${d}`);
      return b;
    },
    has: async (d) => map.has(d),
    stat: async (d) => map.get(d)?.length,
    delete: async (d) => void map.delete(d),
    list: async function* () {
      yield* map.keys();
    },
  };
}

suite('Debian chain of trust (host metadata)', () => {
  let keyring: DebianKeyring;
  let inRelease: Buffer;
  let packages: Buffer;

  beforeAll(async () => {
    keyring = await readDebianKeyring(DEFAULT_DEBIAN_KEYRING);
    inRelease = await readFile(IN_RELEASE);
    packages = Buffer.from(await readIndexText(PACKAGES), 'utf8');
  });

  it("verifies bookworm's InRelease with the archive keyring and finds the Packages file in it", async () => {
    const { release, signedBy } = await verifyInRelease(inRelease, keyring);
    expect(release.codename).toBe('bookworm');
    expect(signedBy.length).toBeGreaterThan(0);
    expect(keyring.keys.map((k) => k.getFingerprint())).toEqual(expect.arrayContaining(signedBy));
    expect(packagesPathIn(release, sha256Digest(packages).slice(7), packages.length)).toBe(
      'main/binary-amd64/Packages',
    );
  });

  it('refuses an InRelease whose signed text was altered', async () => {
    const text = inRelease.toString('utf8');
    const tampered = Buffer.from(
      text.replace(/^Date: (.*)$/m, (_l, d: string) => `Date: ${d.replace(/\d\d:/, '23:')}`),
      'utf8',
    );
    expect(tampered.equals(inRelease)).toBe(false);
    expect((await refusal(verifyInRelease(tampered, keyring))).code).toBe('DEBIAN_SIGNATURE_INVALID');
    const entry = Buffer.from(
      text.replace(/ [0-9a-f]{64}( +\d+ main\/binary-amd64\/Packages)\n/, ` ${'0'.repeat(64)}$1\n`),
      'utf8',
    );
    expect(entry.equals(inRelease)).toBe(false);
    expect((await refusal(verifyInRelease(entry, keyring))).code).toBe('DEBIAN_SIGNATURE_INVALID');
  });

  it('refuses a plain (unsigned) Release text', async () => {
    const signed = inRelease.toString('utf8');
    const plain = signed.slice(signed.indexOf('\n\n') + 2, signed.indexOf('-----BEGIN PGP SIGNATURE'));
    expect((await refusal(verifyInRelease(Buffer.from(plain), keyring))).code).toBe('DEBIAN_SIGNATURE_INVALID');
  });

  it('refuses an InRelease signed by a key the keyring does not hold, and accepts it with that key trusted', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'not debian' }],
      format: 'object',
    });
    const body = (await openpgp.readCleartextMessage({ cleartextMessage: inRelease.toString('utf8') })).getText();
    const forged = await openpgp.sign({
      message: await openpgp.createCleartextMessage({ text: body }),
      signingKeys: privateKey,
    });
    const e = await refusal(verifyInRelease(Buffer.from(forged), keyring));
    expect(e.code).toBe('DEBIAN_KEY_UNKNOWN');
    expect(e.message).toContain(DEFAULT_DEBIAN_KEYRING);
    const own = await verifyInRelease(Buffer.from(forged), { file: 'test', keys: [publicKey] });
    expect(own.signedBy).toEqual([publicKey.getFingerprint()]);
  });

  it('verifies a plain Release with a detached Release.gpg, and refuses it altered', async () => {
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'detached' }],
      format: 'object',
    });
    const body = (await openpgp.readCleartextMessage({ cleartextMessage: inRelease.toString('utf8') })).getText();
    const gpg = await openpgp.sign({
      message: await openpgp.createMessage({ text: body }),
      signingKeys: privateKey,
      detached: true,
      format: 'binary',
    });
    const own: DebianKeyring = { file: 'test', keys: [publicKey] };
    const ok = await verifyInRelease(Buffer.from(body), own, 'Release', Buffer.from(gpg as Uint8Array));
    expect(ok.release.codename).toBe('bookworm');
    const altered = Buffer.from(body.replace('Codename: bookworm', 'Codename: bookwork'));
    expect((await refusal(verifyInRelease(altered, own, 'Release', Buffer.from(gpg as Uint8Array)))).code).toBe(
      'DEBIAN_SIGNATURE_INVALID',
    );
    expect(
      (await refusal(verifyInRelease(Buffer.from(body), keyring, 'Release', Buffer.from(gpg as Uint8Array)))).code,
    ).toBe('DEBIAN_KEY_UNKNOWN');
  });

  it('refuses a Packages file whose SHA256 the InRelease does not list', async () => {
    const { release } = await verifyInRelease(inRelease, keyring);
    const altered = Buffer.from(packages);
    altered[altered.indexOf('Version: ') + 9] ^= 1;
    expect((await refusal(() => packagesPathIn(release, sha256Digest(altered).slice(7), altered.length))).code).toBe(
      'DEBIAN_INDEX_MISMATCH',
    );
  });

  it('refuses expired metadata (Valid-Until) and a Date older than the newest imported, unless asked', async () => {
    if (!existsSync(SECURITY)) return;
    const { release } = await verifyInRelease(await readFile(SECURITY), keyring);
    expect(release.validUntil).toBeDefined();
    const before = new Date(Date.parse(release.validUntil!) - 60_000);
    expect(() => checkReleaseFresh(release, { now: before })).not.toThrow();
    const after = new Date(Date.parse(release.validUntil!) + 60_000);
    expect((await refusal(() => checkReleaseFresh(release, { now: after }))).code).toBe('DEBIAN_RELEASE_EXPIRED');
    const newer = new Date(Date.parse(release.date) + 86_400_000).toISOString();
    expect((await refusal(() => checkReleaseFresh(release, { now: before, newest: newer }))).code).toBe(
      'DEBIAN_RELEASE_ROLLBACK',
    );
    expect(() => checkReleaseFresh(release, { now: before, newest: newer, allowOlder: true })).not.toThrow();
    expect(() => checkReleaseFresh(release, { now: before, newest: release.date })).not.toThrow();
  });

  it("checks a fragment's chain with only the Debian keyring, and fails when any link is altered", async () => {
    const store = blobs();
    const inDigest = sha256Digest(inRelease);
    const pkgDigest = sha256Digest(packages);
    await store.put(inDigest, inRelease);
    await store.put(pkgDigest, packages);
    const spans = paragraphSpans(packages);
    const span = spans.find((s) => paragraphAt(packages, s)['Package'] === 'jq')!;
    const proof: DebianProof = {
      inRelease: inDigest,
      packages: pkgDigest,
      path: 'main/binary-amd64/Packages',
      paragraph: span,
      suite: 'Debian/Debian/bookworm',
      date: '2026-01-01T00:00:00.000Z',
    };
    const d = indexDescriptor(paragraphAt(packages, span), {
      repo: 'http://deb.debian.org/debian',
      derive: { from: 'deb', mergedUsr: true, epoch: 0 },
      proof,
    });
    const f: Fragment = { id: fragmentId(d), descriptor: d, signatures: [] };
    const { links, lseKeyNeeded } = await new DebianChainVerifier(store, keyring).verify(f);
    expect(lseKeyNeeded).toBe(false);
    expect(links.map((l) => l.link)).toEqual(['archive-key', 'in-release', 'packages', 'paragraph', 'descriptor']);
    expect(links[3]!.detail).toContain('jq');

    const code = async (g: Fragment, s: BlobStore = store) =>
      (await refusal(new DebianChainVerifier(s, keyring).verify(g))).code;
    const refit = (dd: Fragment['descriptor']): Fragment => ({ id: fragmentId(dd), descriptor: dd, signatures: [] });
    // another paragraph's span: the descriptor no longer matches it
    const other = spans[spans.indexOf(span) + 1]!;
    expect(await code(refit({ ...d, source: { ...d.source, debian: { ...proof, paragraph: other } } }))).toBe(
      'DEBIAN_INDEX_MISMATCH',
    );
    // a different .deb digest than Debian's paragraph names
    expect(await code(refit({ ...d, blob: { ...d.blob, digest: `sha256:${'1'.repeat(64)}` } }))).toBe(
      'DEBIAN_INDEX_MISMATCH',
    );
    // a different derivation than the one the descriptor's id covers
    expect(
      await code({
        ...f,
        descriptor: { ...d, metadata: { ...d.metadata, derive: { from: 'deb', mergedUsr: false, epoch: 0 } } },
      }),
    ).toBe('DEBIAN_INDEX_MISMATCH');
    // the stored Packages file altered (a changed byte, stored under its own new digest)
    const altered = Buffer.from(packages);
    altered[span.offset + span.length - 3] ^= 1;
    await store.put(sha256Digest(altered), altered);
    expect(
      await code(refit({ ...d, source: { ...d.source, debian: { ...proof, packages: sha256Digest(altered) } } })),
    ).toBe('DEBIAN_INDEX_MISMATCH');
    // the stored InRelease altered in place
    const bad = blobs();
    for (const [k, v] of store.map) bad.map.set(k, v);
    bad.map.set(inDigest, Buffer.from(inRelease.toString('utf8').replace('Codename: bookworm', 'Codename: bookwork')));
    expect(await code(f, bad)).toBe('DIGEST_MISMATCH');
    // the InRelease replaced by another validly signed release (bookworm-updates): Packages not listed
    if (existsSync(`${LISTS}/deb.debian.org_debian_dists_bookworm-updates_InRelease`)) {
      const upd = await readFile(`${LISTS}/deb.debian.org_debian_dists_bookworm-updates_InRelease`);
      await store.put(sha256Digest(upd), upd);
      expect(
        await code(refit({ ...d, source: { ...d.source, debian: { ...proof, inRelease: sha256Digest(upd) } } })),
      ).toBe('DEBIAN_INDEX_MISMATCH');
    }
    // only a keyring without Debian's keys: the archive key link fails
    const { publicKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'x' }],
      format: 'object',
    });
    expect((await refusal(new DebianChainVerifier(store, { file: 'other', keys: [publicKey] }).verify(f))).code).toBe(
      'DEBIAN_KEY_UNKNOWN',
    );
  });

  describe('derivation signatures: accepted only with the chain verified', () => {
    const importer = generateKeyPair('importer').secretKey;
    const trusted = (over: Partial<TrustedKey> = {}): Map<string, TrustedKey> =>
      new Map([
        [
          'importer',
          {
            name: 'importer',
            publicKey: publicKeyOf(importer).key.toString('base64'),
            scopes: ['*'],
            revoked: false,
            ...over,
          },
        ],
      ]);
    let store: ReturnType<typeof blobs>;
    let proof: DebianProof;
    const describeJq = (derive = { from: 'deb' as const, mergedUsr: true, epoch: 0 }, name = 'jq') => {
      const span = paragraphSpans(packages).find((s) => paragraphAt(packages, s)['Package'] === name)!;
      return indexDescriptor(paragraphAt(packages, span), {
        repo: 'http://deb.debian.org/debian',
        derive,
        proof: { ...proof, paragraph: span },
      });
    };
    beforeAll(async () => {
      store = blobs();
      await store.put(sha256Digest(inRelease), inRelease);
      await store.put(sha256Digest(packages), packages);
      proof = {
        inRelease: sha256Digest(inRelease),
        packages: sha256Digest(packages),
        path: 'main/binary-amd64/Packages',
        paragraph: { offset: 0, length: 1 },
        suite: 'Debian/Debian/bookworm',
        date: '2026-01-01T00:00:00.000Z',
      };
    });
    const refusedWith = async (p: Promise<unknown>) => {
      const e = await refusal(p);
      return { code: e.code, message: e.message };
    };

    it('signs only the name and metadata.derive, and is accepted with the Debian keyring and the proof blobs', async () => {
      const f = signDerivation(describeJq(), importer);
      expect(f.signatures).toEqual([expect.objectContaining({ keyName: 'importer', covers: 'derivation' })]);
      expect(JSON.parse(derivationStatement(f.descriptor).toString('utf8'))).toEqual({
        derive: { epoch: 0, from: 'deb', mergedUsr: true },
        lseDerivation: 1,
        name: 'jq',
      });
      const chain = new DebianChainVerifier(store, DEFAULT_DEBIAN_KEYRING);
      expect(await acceptFragment(f, trusted(), chain)).toEqual({ keyName: 'importer', covers: 'derivation' });
      // a whole-descriptor signature of the same fragment needs no chain, as before
      expect(await acceptFragment(signDescriptor(f.descriptor, importer), trusted())).toEqual({
        keyName: 'importer',
        covers: 'descriptor',
      });
      // the synchronous whole-descriptor check refuses a derivation-only fragment
      expect(() => verifyFragment(f, trusted())).toThrow(/signed over its derivation only/);
    });

    it('refuses it without a keyring, with an unreadable or other keyring, and with a proof blob missing or altered', async () => {
      const f = signDerivation(describeJq(), importer);
      expect(await refusedWith(acceptFragment(f, trusted()))).toEqual({
        code: 'DEBIAN_CHAIN_UNVERIFIED',
        message: expect.stringMatching(/no Debian archive keyring is configured here; set LSE_DEBIAN_KEYRING/),
      });
      expect(
        await refusedWith(acceptFragment(f, trusted(), new DebianChainVerifier(store, '/nonexistent/keyring.gpg'))),
      ).toEqual({
        code: 'DEBIAN_CHAIN_UNVERIFIED',
        message: expect.stringMatching(/cannot read the Debian archive keyring \/nonexistent\/keyring.gpg/),
      });
      const { publicKey } = await openpgp.generateKey({
        type: 'ecc',
        curve: 'curve25519Legacy',
        userIDs: [{ name: 'other' }],
        format: 'object',
      });
      const other = new DebianChainVerifier(store, { file: 'other.asc', keys: [publicKey] });
      expect((await refusedWith(acceptFragment(f, trusted(), other))).code).toBe('DEBIAN_KEY_UNKNOWN');
      const onlyInRelease = blobs();
      await onlyInRelease.put(proof.inRelease, inRelease);
      expect(await refusedWith(acceptFragment(f, trusted(), new DebianChainVerifier(onlyInRelease, keyring)))).toEqual({
        code: 'DEBIAN_CHAIN_UNVERIFIED',
        message: expect.stringMatching(
          /the Packages file sha256:[0-9a-f]{64} named by the fragment's proof .* is not in the fragment blob store/,
        ),
      });
      const altered = blobs();
      for (const [k, v] of store.map) altered.map.set(k, v);
      const bytes = Buffer.from(packages);
      bytes[proof.paragraph.offset + 100] ^= 1;
      altered.map.set(proof.packages, bytes);
      expect((await refusedWith(acceptFragment(f, trusted(), new DebianChainVerifier(altered, keyring)))).code).toBe(
        'DIGEST_MISMATCH',
      );
    });

    it('refuses a derivation signature by an untrusted, revoked or out-of-scope key before reading the chain', async () => {
      const f = signDerivation(describeJq(), importer);
      const reads: string[] = [];
      const counting: BlobStore = { ...store, get: async (d) => (reads.push(d), store.get(d)) };
      const chain = new DebianChainVerifier(counting, keyring);
      expect((await refusedWith(acceptFragment(f, new Map(), chain))).code).toBe('KEY_UNTRUSTED');
      expect((await refusedWith(acceptFragment(f, trusted({ revoked: true }), chain))).code).toBe('KEY_REVOKED');
      expect(await refusedWith(acceptFragment(f, trusted({ scopes: ['lib*'] }), chain))).toEqual({
        code: 'KEY_OUT_OF_SCOPE',
        message: expect.stringMatching(/may only sign 'lib\*', not 'jq'/),
      });
      expect(reads).toEqual([]);
    });

    it('refuses a changed metadata.derive, and a derivation signature taken from a fragment with other derive params', async () => {
      const f = signDerivation(describeJq(), importer);
      const chain = new DebianChainVerifier(store, keyring);
      // derive changed in place: the id no longer matches
      const changed = {
        ...f,
        descriptor: {
          ...f.descriptor,
          metadata: { ...f.descriptor.metadata, derive: { from: 'deb', mergedUsr: false, epoch: 0 } },
        },
      };
      expect((await refusedWith(acceptFragment(changed, trusted(), chain))).code).toBe('FRAGMENT_INVALID');
      // and re-hashed: Debian's chain holds (derive is not Debian's), the derivation signature does not
      const rehashed = { ...changed, id: fragmentId(changed.descriptor) };
      expect(await refusedWith(acceptFragment(rehashed, trusted(), chain))).toEqual({
        code: 'SIGNATURE_INVALID',
        message: expect.stringMatching(/derivation signature by key 'importer' does not verify/),
      });
      // the signature of jq with epoch 7 on jq with epoch 0
      const other = signDerivation(describeJq({ from: 'deb', mergedUsr: true, epoch: 7 }), importer);
      expect((await refusedWith(acceptFragment({ ...f, signatures: other.signatures }, trusted(), chain))).code).toBe(
        'SIGNATURE_INVALID',
      );
      // another package's derivation signature (same derive params, other name)
      const curl = signDerivation(describeJq(undefined, 'curl'), importer);
      expect((await refusedWith(acceptFragment({ ...f, signatures: curl.signatures }, trusted(), chain))).code).toBe(
        'SIGNATURE_INVALID',
      );
      // a derivation signature on a fragment that has no Debian proof is worth nothing
      const unsigned = indexDescriptor(paragraphAt(packages, paragraphSpans(packages)[0]!), {
        proof: { unsigned: true },
      });
      expect(() => signDerivation(unsigned, importer)).toThrow(/only a fragment imported from a signed Debian index/);
      const forged = { id: fragmentId(unsigned), descriptor: unsigned, signatures: f.signatures };
      expect((await refusedWith(acceptFragment(forged, trusted(), chain))).code).toBe('DEBIAN_CHAIN_UNVERIFIED');
    });

    it('reads the InRelease and the Packages file once for many fragments, and checks each chain once', async () => {
      const reads: string[] = [];
      const counting: BlobStore = { ...store, get: async (d) => (reads.push(d), store.get(d)) };
      const chain = new DebianChainVerifier(counting, keyring);
      const fs = ['jq', 'curl', 'bash', 'libc6'].map((n) => signDerivation(describeJq(undefined, n), importer));
      for (let round = 0; round < 3; round++) await Promise.all(fs.map((f) => acceptFragment(f, trusted(), chain)));
      expect(reads.sort()).toEqual([proof.inRelease, proof.packages].sort());
      // a kept verdict does not carry over to a descriptor that no longer hashes to the id
      const f = fs[0]!;
      const altered = { ...f, descriptor: { ...f.descriptor, depends: [] } };
      expect((await refusal(chain.verify(altered))).code).toBe('DEBIAN_INDEX_MISMATCH');
    });
  });
});
