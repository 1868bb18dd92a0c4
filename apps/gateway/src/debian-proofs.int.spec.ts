/**
 * Debian's chain of trust through a gateway (`lse import debian-index --release … --server`, the
 * built CLI as a process), with the host's real bookworm-updates metadata (its InRelease and main
 * amd64 Packages list from /var/lib/apt/lists) and modified copies. The gateway runs in this
 * process, composed as main.ts composes it, over the real servers: its release log and proof
 * blobs in FerretDB (a database of this run, dropped after), image blobs in MinIO, Debian's
 * archive keyring. Only its bus is in process: fragments whose archive is a dead URL must not
 * reach the stack's resolvers (they would compete, id against id, with the fetchable fragments
 * of the same package and version other tests synthesize).
 *  - a real import stores the fragments, the proof blobs and the release; re-running stores nothing;
 *  - a tampered InRelease, a Packages file the release does not list, a release signed by a key
 *    the gateway's keyring does not hold, and a release older than the newest registered for its
 *    suite are each refused by the gateway with the embedded import's code; no fragment is stored
 *    and the release log is unchanged;
 *  - fragments sent straight to POST /v1/fragments/batch: one naming a proof the gateway does not
 *    hold, one whose proof points at another package's paragraph and one naming a release (date)
 *    never registered are refused.
 * Every import uses an archive URL of its own, so the fragments a case stores are told apart.
 *
 * Needs the servers (MONGO_URL, S3_*), the built CLI, the host's bookworm-updates apt lists and
 * the Debian archive keyring; skipped with the reason otherwise.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type * as OpenPgp from 'openpgp' with { 'resolution-mode': 'import' };
import {
  formatKey,
  generateKeyPair,
  indexDescriptor,
  paragraphAt,
  paragraphSpans,
  publicKeyOf,
  sha256Digest,
  signDescriptor,
  type DebianProof,
  type Fragment,
} from '@lse/core';
import { DebianChainVerifier, readDebianKeyring, readIndexBytes } from '@lse/adapter-deb';
import { InProcessBus } from '@lse/adapter-memory';
import { MongoStore } from '@lse/adapter-mongo';
import { S3BlobStore, makeS3Client } from '@lse/adapter-s3';
import { gatewayApi, testServers, uniqueName } from '@lse/testing';
import { startGateway, type Gateway } from './compose';
import { gatewayDefaults } from './testing';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const openpgp = require('openpgp') as typeof OpenPgp;

const LISTS = '/var/lib/apt/lists';
const IN_RELEASE = `${LISTS}/deb.debian.org_debian_dists_bookworm-updates_InRelease`;
const PACKAGES = `${LISTS}/deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages.lz4`;
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const LSE_BIN = resolve(__dirname, '../../cli/bin/lse.js');
const present = [IN_RELEASE, PACKAGES, KEYRING].every((f) => existsSync(f));
if (!present)
  console.warn(
    'debian-proofs.int.spec.ts skipped: no bookworm-updates apt lists or Debian archive keyring on this host',
  );
const suite = present ? describe : describe.skip;

jest.setTimeout(120_000);

const TOKEN = 'proofs-admin-token-0123456789';
const RUN = Date.now().toString(36);
const SUITE = 'Debian/Debian/bookworm-updates';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function parseJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON: ${text.slice(0, 500)}`);
  }
}

suite('Debian proofs through a gateway over FerretDB (host bookworm-updates metadata)', () => {
  let work: string;
  let store: string;
  let key: string;
  let inRelease: string;
  let packagesFile: string;
  let packages: Buffer;
  let mongo: MongoStore;
  let gw: Gateway;
  let server: string;
  let api: ReturnType<typeof gatewayApi>;
  /** Re-signs an edited copy of the InRelease's text with a key the gateway does not trust. */
  let forge: (edit: (body: string) => string) => Promise<string>;
  let n = 0;
  const mirror = () => `http://127.0.0.1:9/${RUN}-${n++}/debian`;

  /** The built CLI against this gateway, as a process. */
  const cli = (...args: string[]): Promise<RunResult> =>
    new Promise((ok, fail) => {
      const child = spawn(
        process.execPath,
        [LSE_BIN, '--store', store, '--server', server, '--token', TOKEN, ...args],
        {
          env: { ...process.env, NO_COLOR: '1' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', fail);
      child.on('close', (code) =>
        ok({
          code: code ?? 1,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        }),
      );
    });
  const importIndex = (release: string, index: string, repo: string, ...extra: string[]) =>
    cli('--json', 'import', 'debian-index', index, '--release', release, '--mirror', repo, '--key', key, ...extra);
  const errorOf = (r: RunResult) => parseJson<{ error: { code: string; message: string } }>(r.stdout || r.stderr).error;
  /** Fragments the gateway holds of the first package of the index, imported from `repo`. */
  const storedFrom = async (repo: string) => {
    const name = /^Package: (.+)$/m.exec(packages.toString('utf8'))![1]!;
    const r = await api<Fragment[]>('GET', `/v1/fragments/${name}`);
    return r.status === 404 ? [] : r.body.filter((f) => f.descriptor.source['repo'] === repo);
  };

  beforeAll(async () => {
    if (!existsSync(join(LSE_BIN, '../../dist/main.js'))) throw new Error('the CLI is not built: npm run build');
    const servers = testServers();
    work = await mkdtemp(join(tmpdir(), 'lse-debian-proofs-'));
    store = join(work, 'store');
    mongo = await MongoStore.connect(servers.mongoUrl, uniqueName('lse-proofs'));
    const s3 = makeS3Client(servers.s3);
    const layers = new S3BlobStore(s3, servers.s3.bucket, `proofs-${RUN}/layers/`);
    gw = await startGateway({
      ...gatewayDefaults,
      bus: new InProcessBus(),
      ports: {
        fragments: mongo.fragments,
        bases: mongo.bases,
        trust: mongo.trust,
        origin: mongo.blobs,
        cache: new S3BlobStore(s3, servers.s3.bucket, `proofs-${RUN}/fragments/`),
        layers,
        // as libs/service connect.ts gives every service: derivation signatures need Debian's chain
        debianChain: new DebianChainVerifier(mongo.blobs, KEYRING),
      },
      syntheses: mongo.syntheses,
      leases: mongo.leases,
      auth: { tokens: new Map([[TOKEN, { name: 'importer', scopes: new Set(['admin']) }]]), disabled: false },
      debian: { keyring: await readDebianKeyring(KEYRING), releases: mongo.debianReleases, blobLimitBytes: 1 << 27 },
    });
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    server = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`;
    api = gatewayApi(server, TOKEN);
    inRelease = join(work, 'bookworm-updates_InRelease');
    await writeFile(inRelease, await readFile(IN_RELEASE));
    packages = await readIndexBytes(PACKAGES);
    packagesFile = join(work, 'Packages');
    await writeFile(packagesFile, packages);
    const k = generateKeyPair(`proofs-${RUN}`);
    key = join(work, 'proofs.key');
    await writeFile(key, `${formatKey(k.secretKey)}\n`, { mode: 0o600 });
    expect(
      (await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(k.secretKey)), scopes: ['*'] })).status,
    ).toBe(201);
    const { privateKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'not a Debian archive' }],
      format: 'object',
    });
    const body = (
      await openpgp.readCleartextMessage({ cleartextMessage: await readFile(IN_RELEASE, 'utf8') })
    ).getText();
    forge = async (edit) => {
      const file = join(work, `forged-${n++}_InRelease`);
      const signed = await openpgp.sign({
        message: await openpgp.createCleartextMessage({ text: edit(body) }),
        signingKeys: privateKey,
      });
      await writeFile(file, signed);
      return file;
    };
  });
  afterAll(async () => {
    await gw?.stop();
    await mongo?.db.dropDatabase().catch(() => undefined);
    await mongo?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('imports the signed index through the gateway: fragments, proof blobs and release stored; again stores nothing', async () => {
    const repo = mirror();
    const first = await importIndex(inRelease, packagesFile, repo);
    expect(first.code).toBe(0);
    const count = packages.toString('utf8').match(/^Package: /gm)!.length;
    const r1 = parseJson<{ packages: number; created: number; existing: number }>(first.stdout);
    expect(r1.packages).toBeGreaterThan(0);
    expect(r1.packages).toBeLessThanOrEqual(count);
    expect(r1).toMatchObject({ created: r1.packages, existing: 0 });
    for (const d of [sha256Digest(await readFile(IN_RELEASE)), sha256Digest(packages)])
      expect(await mongo.blobs.has(d)).toBe(true);
    const newest = await mongo.debianReleases.newest(SUITE);
    const stored = await storedFrom(repo);
    expect(stored).toHaveLength(1);
    const proof = stored[0]!.descriptor.source['debian'] as DebianProof;
    expect(proof).toMatchObject({ suite: SUITE, path: 'main/binary-amd64/Packages', packages: sha256Digest(packages) });
    expect(newest && Date.parse(newest.date)).toBeGreaterThanOrEqual(Date.parse(proof.date));

    // again, with progress lines: both blobs are skipped (HEAD), nothing is stored
    const again = await cli(
      'import',
      'debian-index',
      packagesFile,
      '--release',
      inRelease,
      '--mirror',
      repo,
      '--key',
      key,
    );
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`imported ${r1.packages} packages: 0 new, ${r1.packages} already stored`));
    expect(again.stderr).toMatch(/_InRelease: sha256:[0-9a-f]{12}… already on the gateway/);
    expect(again.stderr).toMatch(/Packages \(uncompressed\): sha256:[0-9a-f]{12}… already on the gateway/);
    expect(again.stderr).toMatch(/Debian\/Debian\/bookworm-updates dated .*: registered on the gateway/);
    expect(again.stderr).not.toMatch(/uploaded/);
  });

  it('refuses a tampered InRelease, an unlisted Packages file, an unknown signer: nothing stored', async () => {
    const before = await mongo.debianReleases.newest(SUITE);
    const text = await readFile(inRelease, 'utf8');
    const tampered = join(work, 'tampered_InRelease');
    // one package list's size changed in the signed text: the signature no longer verifies
    await writeFile(
      tampered,
      text.replace(/(\s)(\d+)( main\/binary-amd64\/Packages\n)/, (_m, a, s, b) => `${a}${Number(s) + 1}${b}`),
    );
    expect(await readFile(tampered, 'utf8')).not.toBe(text);
    const altered = join(work, 'Packages-altered');
    await writeFile(
      altered,
      Buffer.concat([packages, Buffer.from('\nPackage: lse-extra\nVersion: 1\nArchitecture: all\n')]),
    );
    const unknown = await forge((b) => b);

    const cases: [string, string, string][] = [
      [tampered, packagesFile, 'DEBIAN_SIGNATURE_INVALID'],
      [inRelease, altered, 'DEBIAN_INDEX_MISMATCH'],
      [unknown, packagesFile, 'DEBIAN_KEY_UNKNOWN'],
    ];
    for (const [release, index, code] of cases) {
      const repo = mirror();
      const r = await importIndex(release, index, repo);
      expect({ code: r.code, error: errorOf(r).code }).toEqual({ code: 4, error: code });
      expect(await storedFrom(repo)).toEqual([]);
    }
    expect(await mongo.debianReleases.newest(SUITE)).toEqual(before);
  });

  it('refuses a release older than the newest registered for its suite, unless --allow-older', async () => {
    const date = (await mongo.debianReleases.newest(SUITE))!.date;
    // a newer release of the suite registered before (as if imported from a newer mirror)
    const newer = new Date(Date.parse(date) + 86_400_000).toISOString();
    await mongo.debianReleases.record({ suite: SUITE, date: newer, inRelease: sha256Digest(`newer-${RUN}`) });
    const repo = mirror();
    const r = await importIndex(inRelease, packagesFile, repo);
    expect({ code: r.code, error: errorOf(r).code }).toEqual({ code: 4, error: 'DEBIAN_RELEASE_ROLLBACK' });
    expect(errorOf(r).message).toMatch(/--allow-older/);
    expect(await storedFrom(repo)).toEqual([]);
    const ok = await importIndex(inRelease, packagesFile, repo, '--allow-older');
    expect(ok.code).toBe(0);
    expect(await storedFrom(repo)).toHaveLength(1);
    expect((await mongo.debianReleases.newest(SUITE))?.date).toBe(newer);
  });

  it('refuses batch fragments naming a proof it does not hold, another paragraph, or a release not registered', async () => {
    const k = generateKeyPair(`proofs-batch-${RUN}`);
    expect(
      (await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(k.secretKey)), scopes: ['*'] })).status,
    ).toBe(201);
    const spans = paragraphSpans(packages);
    const inReleaseDigest = sha256Digest(await readFile(IN_RELEASE));
    const registered = await api<{ date: string }>('POST', '/v1/debian/releases', {
      inRelease: inReleaseDigest,
      packages: [sha256Digest(packages)],
      allowOlder: true, // the case before recorded a newer one
    });
    expect(registered.status).toBe(201);
    const real: DebianProof = {
      inRelease: inReleaseDigest,
      packages: sha256Digest(packages),
      path: 'main/binary-amd64/Packages',
      paragraph: spans[0]!,
      suite: SUITE,
      date: registered.body.date,
    };
    const repo = mirror();
    const derive = { from: 'deb' as const, mergedUsr: true, epoch: 0 };
    const p0 = paragraphAt(packages, spans[0]!);
    const good = signDescriptor(indexDescriptor(p0, { repo, derive, proof: real }), k.secretKey);
    const unheld = signDescriptor(
      indexDescriptor(p0, { repo, derive, proof: { ...real, packages: sha256Digest(`not-held-${RUN}`) } }),
      k.secretKey,
    );
    const elsewhere = signDescriptor(
      indexDescriptor(p0, { repo, derive, proof: { ...real, paragraph: spans[1]! } }),
      k.secretKey,
    );
    // the real InRelease, but a date it was not registered with
    const redated = signDescriptor(
      indexDescriptor(p0, {
        repo,
        derive,
        proof: { ...real, date: new Date(Date.parse(real.date) - 1000).toISOString() },
      }),
      k.secretKey,
    );
    const r = await api<{ created: number; rejected: { id: string; code: string }[] }>('POST', '/v1/fragments/batch', {
      fragments: [good, unheld, elsewhere, redated],
    });
    expect(r.status).toBe(200);
    expect(r.body.created).toBe(1);
    expect(r.body.rejected.map((x) => [x.id, x.code])).toEqual([
      [unheld.id, 'DEBIAN_PROOF_UNKNOWN'],
      [elsewhere.id, 'DEBIAN_INDEX_MISMATCH'],
      [redated.id, 'DEBIAN_PROOF_UNKNOWN'],
    ]);
  });
});
