/**
 * Debian's chain of trust through the embedded CLI, with the host's real bookworm-updates
 * metadata (its InRelease and Packages list from /var/lib/apt/lists, 38 packages) and modified
 * copies: every refusal of `lse import debian-index --release` stores nothing; an imported store
 * verifies with the importer's key revoked and only Debian's keyring, and fails when any link of
 * the chain is altered; the importer's key signs only the derivation, and a synthesis accepts
 * that signature only with Debian's chain verified (keyring, proof blobs). Releases LSE has to forge (expired, older) are signed by a test key given
 * as the keyring, since Debian's own cannot be re-signed.
 *
 * Needs the host's apt lists for bookworm-updates and the Debian archive keyring; else skipped.
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type * as OpenPgp from 'openpgp' with { 'resolution-mode': 'import' };
import { fragmentId, paragraphAt, paragraphSpans, sha256Digest, type Fragment } from '@lse/core';
import { openFsStore } from '@lse/adapter-fs';
import { aptDownload, readIndexBytes } from '@lse/adapter-deb';
import { main } from './main';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const openpgp = require('openpgp') as typeof OpenPgp;

const LISTS = '/var/lib/apt/lists';
const IN_RELEASE = `${LISTS}/deb.debian.org_debian_dists_bookworm-updates_InRelease`;
const PACKAGES = `${LISTS}/deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages.lz4`;
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const present = [IN_RELEASE, PACKAGES, KEYRING].every((f) => existsSync(f));
if (!present)
  console.warn('debian-trust.spec.ts skipped: no bookworm-updates apt lists or Debian archive keyring on this host');
const suite = present ? describe : describe.skip;

jest.setTimeout(120_000);

const CACHE = process.env['LSE_APT_CACHE'] || join(homedir(), '.cache', 'lse', 'apt');
const aptReady =
  present &&
  process.getuid?.() === 0 &&
  spawnSync('sh', ['-c', 'command -v apt-get && command -v dpkg-deb']).status === 0;

async function lse(store: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  try {
    return { code: await main(['--store', store, ...args]), stdout, stderr };
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
  }
}

async function lseOk(store: string, ...args: string[]): Promise<string> {
  const r = await lse(store, '-q', ...args);
  if (r.code !== 0) throw new Error(`lse ${args.join(' ')} exited ${r.code}: ${r.stdout} ${r.stderr}`);
  return r.stdout;
}

/** Everything a store holds: fragment ids and fragment blobs. */
async function contents(store: string): Promise<{ fragments: number; blobs: number }> {
  const s = openFsStore(store);
  const blobs: string[] = [];
  for await (const d of s.fragmentBlobs.list()) blobs.push(d);
  return { fragments: (await s.fragments.list()).length, blobs: blobs.length };
}

suite('Debian chain of trust through the CLI (host bookworm-updates metadata)', () => {
  let work: string;
  let key: string;
  let inRelease: string;
  let packagesText: Buffer;
  let packagesCount: number;
  /** A test OpenPGP key (armored public key file) and a signer of modified Release texts. */
  let testKeyring: string;
  let forge: (edit: (body: string) => string) => Promise<string>;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lse-debian-trust-'));
    inRelease = (await readFile(IN_RELEASE)).toString('utf8');
    packagesText = await readIndexBytes(PACKAGES);
    packagesCount = packagesText
      .toString('utf8')
      .split('\n')
      .filter((l) => l.startsWith('Package: ')).length;
    await lseOk(join(work, 'keys'), 'keys', 'generate', '--name', 'importer', '--out', work);
    key = join(work, 'importer.key');
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'lse test archive' }],
      format: 'object',
    });
    testKeyring = join(work, 'test-keyring.asc');
    await writeFile(testKeyring, publicKey.armor());
    const body = (await openpgp.readCleartextMessage({ cleartextMessage: inRelease })).getText();
    let n = 0;
    forge = async (edit) => {
      const file = join(work, `forged-${n++}_InRelease`);
      await writeFile(
        file,
        await openpgp.sign({
          message: await openpgp.createCleartextMessage({ text: edit(body) }),
          signingKeys: privateKey,
        }),
      );
      return file;
    };
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  const newStore = async (name: string) => {
    const store = join(work, name);
    await lseOk(store, 'trust', 'add', join(work, 'importer.pub'));
    return store;
  };
  const refused = async (store: string, args: string[], code: string, message: RegExp) => {
    const before = await contents(store);
    const r = await lse(store, '--json', 'import', 'debian-index', ...args, '--key', key);
    expect(r.code).toBe(4);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code } });
    expect(r.stderr + r.stdout).toMatch(message);
    expect(await contents(store)).toEqual(before); // nothing stored
  };

  it('refuses a tampered InRelease, a Packages file it does not list, an unknown signer, expired and older metadata; stores nothing', async () => {
    const store = await newStore('refusals');
    const tampered = join(work, 'tampered_InRelease');
    await writeFile(tampered, inRelease.replace(/^Date: (.*)$/m, 'Date: Tue, 01 Dec 2026 00:00:00 UTC'));
    await refused(store, [PACKAGES, '--release', tampered], 'DEBIAN_SIGNATURE_INVALID', /altered/);

    const altered = join(work, 'Packages');
    const bytes = Buffer.from(packagesText);
    bytes[bytes.indexOf('Version: ') + 9] ^= 1;
    await writeFile(altered, bytes);
    await refused(store, [altered, '--release', IN_RELEASE], 'DEBIAN_INDEX_MISMATCH', /is not listed in the InRelease/);

    const foreign = await forge((b) => b);
    await refused(store, [PACKAGES, '--release', foreign], 'DEBIAN_KEY_UNKNOWN', /none of which is in the keyring/);

    const expired = await forge((b) => b.replace(/^(Date: .*)$/m, '$1\nValid-Until: Sun, 01 Jan 2023 00:00:00 UTC'));
    await refused(
      store,
      [PACKAGES, '--release', expired, '--keyring', testKeyring],
      'DEBIAN_RELEASE_EXPIRED',
      /expired at 2023-01-01/,
    );
    expect(await contents(store)).toEqual({ fragments: 0, blobs: 0 });

    // the current release imports; an older one of the same suite is then refused, unless asked for
    await lseOk(store, 'import', 'debian-index', PACKAGES, '--release', IN_RELEASE, '--key', key);
    const older = await forge((b) => b.replace(/^Date: .*$/m, 'Date: Mon, 01 Jan 2024 00:00:00 UTC'));
    await refused(
      store,
      [PACKAGES, '--release', older, '--keyring', testKeyring],
      'DEBIAN_RELEASE_ROLLBACK',
      /older than .* already imported for this suite/,
    );
    const ok = JSON.parse(
      await lseOk(
        store,
        '--json',
        'import',
        'debian-index',
        PACKAGES,
        '--release',
        older,
        '--keyring',
        testKeyring,
        '--allow-older',
        '--key',
        key,
      ),
    );
    expect(ok.created).toBe(ok.packages); // other proof, other fragments
  });

  it('refuses an index without --release unless --allow-unsigned, which marks the fragments', async () => {
    const store = await newStore('unsigned');
    const r = await lse(store, 'import', 'debian-index', PACKAGES, '--key', key);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/without Debian's signature/);
    expect(await contents(store)).toEqual({ fragments: 0, blobs: 0 });
    await lseOk(store, 'import', 'debian-index', PACKAGES, '--allow-unsigned', '--key', key);
    const all = await openFsStore(store).fragments.list();
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((f) => (f.descriptor.source['debian'] as { unsigned?: boolean }).unsigned === true)).toBe(true);
    const v = JSON.parse(await lseOk(store, '--json', 'verify'));
    expect(v).toMatchObject({ ok: true, chained: 0, unsigned: all.length });
  });

  it('verifies with the importer key revoked and only the Debian keyring; fails when any link is altered', async () => {
    const store = await newStore('chain');
    const imported = JSON.parse(
      await lseOk(store, '--json', 'import', 'debian-index', PACKAGES, '--release', IN_RELEASE, '--key', key),
    );
    expect(imported.created).toBeGreaterThan(0);
    const fragments = await openFsStore(store).fragments.list();
    const proof = fragments[0]!.descriptor.source['debian'] as {
      inRelease: string;
      packages: string;
      path: string;
      paragraph: { offset: number; length: number };
    };
    expect(proof).toMatchObject({
      inRelease: sha256Digest(Buffer.from(inRelease)),
      packages: sha256Digest(packagesText),
      path: 'main/binary-amd64/Packages',
    });
    expect(await contents(store)).toEqual({ fragments: imported.created, blobs: 2 }); // one InRelease, one Packages for all
    await lseOk(store, 'trust', 'revoke', 'importer');
    const v = JSON.parse(await lseOk(store, '--json', 'verify', '--chain', '--keyring', KEYRING));
    expect(v).toMatchObject({ ok: true, chained: fragments.length });
    expect(v.chains[0].links.map((l: { link: string }) => l.link)).toEqual([
      'archive-key',
      'in-release',
      'packages',
      'paragraph',
      'descriptor',
    ]);
    expect(v.chains[0].lseSignature).toMatch(/^not relied on: signature by key 'importer' is revoked/);
    expect(packagesCount).toBeGreaterThanOrEqual(fragments.length);

    const failsWith = async (
      name: string,
      alter: (copy: string) => Promise<void>,
      code: string,
      extra: string[] = [],
    ) => {
      const copy = join(work, `altered-${name}`);
      cpSync(store, copy, { recursive: true });
      await alter(copy);
      const r = await lse(copy, '--json', 'verify', ...extra);
      expect({ name, code: r.code }).toEqual({ name, code: 4 });
      expect(JSON.parse(r.stdout).problems[0]).toMatchObject({ code });
    };
    const blobFile = (copy: string, digest: string) => join(copy, 'blobs', 'fragments', 'sha256', digest.slice(7));
    const flip = async (file: string, at: number) => {
      const b = await readFile(file);
      b[at] ^= 1;
      await writeFile(file, b);
    };
    // the signed InRelease, as stored
    await failsWith('in-release', (c) => flip(blobFile(c, proof.inRelease), 200), 'DIGEST_MISMATCH');
    // the Packages file, as stored: a byte of a paragraph
    await failsWith(
      'packages',
      (c) => flip(blobFile(c, proof.packages), proof.paragraph.offset + 10),
      'DIGEST_MISMATCH',
    );
    // a descriptor stored under its own (recomputed) id but not what Debian's paragraph says
    await failsWith(
      'descriptor',
      async (c) => {
        const f = fragments[0]!;
        const d = { ...f.descriptor, depends: [] };
        const forged: Fragment = { id: fragmentId(d), descriptor: d, signatures: f.signatures };
        await openFsStore(c).fragments.put(forged);
      },
      'DEBIAN_INDEX_MISMATCH',
    );
    // a proof pointing at another package's paragraph, or at bytes that are not one paragraph
    const otherSpan = (fragments[1]!.descriptor.source['debian'] as typeof proof).paragraph;
    await failsWith(
      'paragraph',
      async (c) => {
        const f = fragments[0]!;
        const d = { ...f.descriptor, source: { ...f.descriptor.source, debian: { ...proof, paragraph: otherSpan } } };
        await openFsStore(c).fragments.put({ id: fragmentId(d), descriptor: d, signatures: [] });
      },
      'DEBIAN_INDEX_MISMATCH',
    );
    await failsWith(
      'span',
      async (c) => {
        const f = fragments[0]!;
        const d = {
          ...f.descriptor,
          source: {
            ...f.descriptor.source,
            debian: { ...proof, paragraph: { offset: proof.paragraph.offset + 3, length: proof.paragraph.length - 3 } },
          },
        };
        await openFsStore(c).fragments.put({ id: fragmentId(d), descriptor: d, signatures: [] });
      },
      'DEBIAN_INDEX_MISMATCH',
    );
    // the archive key: a keyring without Debian's keys
    await failsWith('archive-key', async () => {}, 'DEBIAN_KEY_UNKNOWN', ['--keyring', testKeyring]);
  });

  (aptReady ? it : it.skip)(
    'import apt keeps the chain of each package: archive key to the .deb; the derived content still needs the importer key',
    async () => {
      const store = await newStore('apt');
      await lseOk(store, 'import', 'apt', 'jq', '--key', key, '--cache', CACHE);
      const fragments = await openFsStore(store).fragments.list();
      const jq = fragments.find((f) => f.descriptor.name === 'jq')!;
      expect(jq.descriptor.source).toMatchObject({ type: 'deb', debian: { path: 'main/binary-amd64/Packages' } });
      const v = JSON.parse(await lseOk(store, '--json', 'verify', '--chain'));
      expect(v).toMatchObject({ ok: true, chained: fragments.length });
      const chain = v.chains.find((c: { name: string }) => c.name === 'jq');
      expect(chain.links.map((l: { link: string }) => l.link)).toEqual([
        'archive-key',
        'in-release',
        'packages',
        'paragraph',
        'deb',
      ]);
      // a proof naming another package's paragraph fails; so does the importer key revoked
      const other = fragments.find((f) => f.descriptor.name !== 'jq')!;
      const d = { ...jq.descriptor, source: { ...jq.descriptor.source, debian: other.descriptor.source['debian'] } };
      const copy = join(work, 'apt-altered');
      cpSync(store, copy, { recursive: true });
      await openFsStore(copy).fragments.put({ id: fragmentId(d), descriptor: d, signatures: jq.signatures });
      const bad = await lse(copy, '--json', 'verify');
      expect(bad.code).toBe(4);
      expect(JSON.parse(bad.stdout).problems[0]).toMatchObject({ code: 'DEBIAN_INDEX_MISMATCH' });
      await lseOk(store, 'trust', 'revoke', 'importer');
      const revoked = await lse(store, '--json', 'verify');
      expect(revoked.code).toBe(4);
      expect(JSON.parse(revoked.stdout).problems[0]).toMatchObject({ code: 'KEY_REVOKED' });
    },
  );

  (aptReady ? it : it.skip)(
    "signs only the derivation; a synthesis accepts it with Debian's chain and refuses it when the chain or the derivation signature fails",
    async () => {
      // a package of bookworm-updates with no dependencies, its .deb from a local mirror
      const pkg = 'samba-ad-provision';
      const span = paragraphSpans(packagesText).find((sp) => paragraphAt(packagesText, sp)['Package'] === pkg)!;
      const p = paragraphAt(packagesText, span);
      const [deb] = await aptDownload([{ name: pkg, version: p['Version']!, arch: p['Architecture']! }], CACHE);
      const mirror: Server = createServer((req, res) => {
        if (decodeURIComponent(req.url ?? '') !== `/debian/${p['Filename']}`) return void res.writeHead(404).end();
        res.writeHead(200).end(readFileSync(deb!));
      });
      await new Promise<void>((ok) => mirror.listen(0, '127.0.0.1', ok));
      const mirrorUrl = `http://127.0.0.1:${(mirror.address() as { port: number }).port}/debian`;
      const keyringBefore = process.env['LSE_DEBIAN_KEYRING'];
      try {
        const store = await newStore('derivation');
        await lseOk(
          store,
          'import',
          'debian-index',
          PACKAGES,
          '--release',
          IN_RELEASE,
          '--mirror',
          mirrorUrl,
          '--key',
          key,
        );
        const all = await openFsStore(store).fragments.list();
        expect(all.length).toBeGreaterThan(0);
        expect(all.every((f) => f.signatures.length === 1 && f.signatures[0]!.covers === 'derivation')).toBe(true);
        expect(await lseOk(store, 'fragment', 'show', pkg)).toMatch(
          /signed by: importer \(derivation signature: the name and metadata.derive only/,
        );
        const manifest = join(work, 'derivation.yaml');
        await writeFile(
          manifest,
          `apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: provision }\nbase: scratch\nplatform: { os: linux, arch: amd64 }\nrequire:\n  - name: ${pkg}\n`,
        );
        let images = 0;
        const synth = async (s: string) => lse(s, '--json', 'synth', manifest, '--out', join(work, `img-${images++}`));
        const synthFails = async (
          name: string,
          prepare: (copy: string) => Promise<void>,
          code: string,
          message: RegExp,
        ) => {
          const copy = join(work, `derivation-${name}`);
          cpSync(store, copy, { recursive: true });
          await prepare(copy);
          const r = await synth(copy);
          expect({ name, code: r.code, error: JSON.parse(r.stdout).error?.code }).toEqual({
            name,
            code: 4,
            error: code,
          });
          expect(r.stdout + r.stderr).toMatch(message);
          delete process.env['LSE_DEBIAN_KEYRING'];
        };
        // before the first synthesis: each failure also before any verdict exists
        await synthFails(
          'no-keyring',
          async () => void (process.env['LSE_DEBIAN_KEYRING'] = join(work, 'no-such-keyring.gpg')),
          'DEBIAN_CHAIN_UNVERIFIED',
          /cannot read the Debian archive keyring/,
        );
        await synthFails(
          'other-keyring',
          async () => void (process.env['LSE_DEBIAN_KEYRING'] = testKeyring),
          'DEBIAN_KEY_UNKNOWN',
          /none of which is in the keyring/,
        );
        const proof = all[0]!.descriptor.source['debian'] as { packages: string; inRelease: string };
        const blobFile = (c: string, digest: string) => join(c, 'blobs', 'fragments', 'sha256', digest.slice(7));
        await synthFails(
          'packages-altered',
          async (c) => {
            const b = await readFile(blobFile(c, proof.packages));
            b[span.offset + 20] ^= 1;
            await writeFile(blobFile(c, proof.packages), b);
          },
          'DIGEST_MISMATCH',
          /was altered/,
        );
        await synthFails(
          'in-release-missing',
          async (c) => rm(blobFile(c, proof.inRelease)),
          'DEBIAN_CHAIN_UNVERIFIED',
          /the InRelease sha256:[0-9a-f]{64} named by the fragment's proof .* is not in the fragment blob store/,
        );
        await synthFails(
          'untrusted',
          async (c) => writeFile(join(c, 'trust', 'keys.json'), '[]\n'),
          'KEY_UNTRUSTED',
          /signed by key 'importer', which is not in the trust store/,
        );
        await synthFails(
          'revoked',
          async (c) => void (await lseOk(c, 'trust', 'revoke', 'importer')),
          'KEY_REVOKED',
          /revoked/,
        );
        const target = all.find((f) => f.descriptor.name === pkg)!;
        await synthFails(
          'derive-changed',
          async (c) => {
            const file = join(c, 'fragments', 'by-id', `${target.id.slice(7)}.json`);
            const rec = JSON.parse(await readFile(file, 'utf8')) as Fragment;
            rec.descriptor.metadata['derive'] = { from: 'deb', mergedUsr: false, epoch: 0 };
            await writeFile(file, JSON.stringify(rec));
          },
          'FRAGMENT_INVALID',
          /descriptor does not match its id/,
        );

        // with the Debian keyring (the default), the synthesis accepts the derivation signature
        const ok = await synth(store);
        expect({ code: ok.code, out: ok.code ? ok.stdout + ok.stderr : '' }).toEqual({ code: 0, out: '' });
        // a verdict recorded by that synthesis does not stand in for the chain: it is checked every time
        await synthFails(
          'other-keyring-after-verdict',
          async () => void (process.env['LSE_DEBIAN_KEYRING'] = testKeyring),
          'DEBIAN_KEY_UNKNOWN',
          /none of which is in the keyring/,
        );
        // a whole-descriptor signature still verifies everywhere: the same import --allow-unsigned
        const plain = await newStore('derivation-plain');
        await lseOk(plain, 'import', 'debian-index', PACKAGES, '--allow-unsigned', '--mirror', mirrorUrl, '--key', key);
        expect((await openFsStore(plain).fragments.list()).every((f) => f.signatures[0]!.covers === undefined)).toBe(
          true,
        );
        expect((await synth(plain)).code).toBe(0);
        // verify says which kind accepted each fragment
        const v = JSON.parse(await lseOk(store, '--json', 'verify', '--chain'));
        expect(v).toMatchObject({ ok: true, accepted: { descriptor: 0, derivation: all.length, none: 0 } });
        expect(v.chains.find((c: { name: string }) => c.name === pkg)).toMatchObject({
          accepted: 'derivation',
          lseSignature: expect.stringMatching(/^derivation signed by trusted key 'importer'/),
        });
        expect(JSON.parse(await lseOk(plain, '--json', 'verify'))).toMatchObject({
          ok: true,
          accepted: { descriptor: all.length, derivation: 0 },
        });
      } finally {
        if (keyringBefore === undefined) delete process.env['LSE_DEBIAN_KEYRING'];
        else process.env['LSE_DEBIAN_KEYRING'] = keyringBefore;
        await new Promise((ok) => mirror.close(ok));
      }
    },
  );
});
