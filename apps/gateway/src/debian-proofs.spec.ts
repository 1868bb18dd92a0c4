/**
 * The gateway's Debian proof routes and the chain check of published fragments, in process on
 * memory adapters, with releases made here and signed by a test archive key that is the gateway's
 * keyring (so the cases Debian's own key cannot produce are covered: expired, older, unlisted).
 * The same routes over FerretDB with Debian's real metadata and the CLI: debian-proofs.int.spec.ts.
 */
import type * as OpenPgp from 'openpgp' with { 'resolution-mode': 'import' };
import type { FastifyInstance } from 'fastify';
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
  type SecretKey,
} from '@lse/core';
import {
  InProcessBus,
  MemoryBaseRepository,
  MemoryBlobStore,
  MemoryDebianReleaseLog,
  MemoryFragmentRepository,
  MemoryLeaseRepository,
  MemorySynthesisRepository,
  MemoryTrustStore,
} from '@lse/adapter-memory';
import type { EnginePorts } from '@lse/engine';
import { startGateway, type Gateway } from './compose';
import { gatewayDefaults } from './testing';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const openpgp = require('openpgp') as typeof OpenPgp;

const TOKEN = 'publish-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const NOW = new Date('2026-12-01T12:00:00Z');
const hex = (b: Buffer) => sha256Digest(b).slice(7);

const PACKAGES = Buffer.from(
  ['hello', 'world']
    .map(
      (name) =>
        `Package: lse-${name}\nVersion: 1.0-1\nArchitecture: all\nFilename: pool/main/l/lse-${name}/lse-${name}_1.0-1_all.deb\nSize: 1234\nSHA256: ${hex(Buffer.from(name))}\nDescription: ${name}\n`,
    )
    .join('\n'),
);

function releaseText(o: { date: string; validUntil?: string; packages?: Buffer }): string {
  const p = o.packages ?? PACKAGES;
  return [
    'Origin: LSE Test',
    'Label: LSE Test',
    'Codename: testing-proofs',
    `Date: ${new Date(o.date).toUTCString()}`,
    ...(o.validUntil ? [`Valid-Until: ${new Date(o.validUntil).toUTCString()}`] : []),
    'SHA256:',
    ` ${hex(p)} ${p.length} main/binary-all/Packages`,
    '',
  ].join('\n');
}

describe('gateway: Debian proofs (memory adapters, a test archive key)', () => {
  let gw: Gateway;
  let app: FastifyInstance;
  let ports: EnginePorts;
  let releases: MemoryDebianReleaseLog;
  let archive: OpenPgp.PrivateKey;
  let stranger: OpenPgp.PrivateKey;
  let key: SecretKey;

  const sign = async (text: string, by = archive) =>
    Buffer.from(await openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: by }));
  const put = (digest: string, data: Buffer) =>
    app.inject({
      method: 'PUT',
      url: `/v1/debian/blobs/${digest}`,
      headers: { ...AUTH, 'content-type': 'application/octet-stream' },
      payload: data,
    });
  const register = (payload: object) =>
    app.inject({ method: 'POST', url: '/v1/debian/releases', headers: AUTH, payload });
  /** Uploads a signed release and PACKAGES, and registers it. */
  const uploadAndRegister = async (inRelease: Buffer, extra: object = {}) => {
    for (const b of [inRelease, PACKAGES]) expect([200, 201]).toContain((await put(sha256Digest(b), b)).statusCode);
    return register({ inRelease: sha256Digest(inRelease), packages: [sha256Digest(PACKAGES)], ...extra });
  };

  beforeAll(async () => {
    const gen = (name: string) =>
      openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name }], format: 'object' });
    const a = await gen('lse test archive');
    archive = a.privateKey;
    stranger = (await gen('not the archive')).privateKey;
    ports = {
      fragments: new MemoryFragmentRepository(),
      bases: new MemoryBaseRepository(),
      trust: new MemoryTrustStore(),
      origin: new MemoryBlobStore(),
      cache: new MemoryBlobStore(),
      layers: new MemoryBlobStore(),
    };
    releases = new MemoryDebianReleaseLog();
    gw = await startGateway({
      ...gatewayDefaults,
      bus: new InProcessBus(),
      ports,
      syntheses: new MemorySynthesisRepository(),
      leases: new MemoryLeaseRepository(),
      auth: { tokens: new Map([[TOKEN, { name: 'importer', scopes: new Set(['admin']) }]]), disabled: false },
      now: () => NOW,
      debian: { keyring: { file: 'test-keyring.asc', keys: [a.publicKey] }, releases, blobLimitBytes: 64 * 1024 },
    });
    app = gw.app;
    key = generateKeyPair('deb-importer').secretKey;
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/v1/keys',
          headers: AUTH,
          payload: { publicKey: formatKey(publicKeyOf(key)), scopes: ['*'] },
        })
      ).statusCode,
    ).toBe(201);
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('takes proof blobs raw under their digest: HEAD says what it holds; a wrong digest or an oversized body is refused', async () => {
    const d = sha256Digest(PACKAGES);
    expect((await app.inject({ method: 'HEAD', url: `/v1/debian/blobs/${d}`, headers: AUTH })).statusCode).toBe(404);
    expect((await app.inject({ method: 'HEAD', url: `/v1/debian/blobs/${d}` })).statusCode).toBe(401);
    const first = await put(d, PACKAGES);
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ digest: d, size: PACKAGES.length, created: true });
    expect((await put(d, PACKAGES)).statusCode).toBe(200);
    const head = await app.inject({ method: 'HEAD', url: `/v1/debian/blobs/${d}`, headers: AUTH });
    expect([head.statusCode, head.headers['content-length']]).toEqual([200, String(PACKAGES.length)]);

    const other = Buffer.from('not these bytes\n');
    const wrong = await put(sha256Digest(other), Buffer.concat([other, Buffer.from('x')]));
    expect([wrong.statusCode, wrong.json().error.code]).toEqual([422, 'DIGEST_MISMATCH']);
    expect(await ports.origin.has(sha256Digest(other))).toBe(false);
    const big = Buffer.alloc(64 * 1024 + 1, 0x61);
    const large = await put(sha256Digest(big), big);
    expect([large.statusCode, large.json().error.code]).toEqual([413, 'TOO_LARGE']);
    expect(await ports.origin.has(sha256Digest(big))).toBe(false);
  });

  it('registers a release signed by the keyring; refuses unknown signers, altered text, expired, older and unlisted, recording nothing', async () => {
    const text = releaseText({ date: '2026-11-30T00:00:00Z', validUntil: '2026-12-07T00:00:00Z' });
    const good = await sign(text);
    const suite = 'LSE Test/LSE Test/testing-proofs';

    const missing = await register({ inRelease: sha256Digest(good), packages: [] });
    expect([missing.statusCode, missing.json().error.code]).toEqual([422, 'DEBIAN_PROOF_UNKNOWN']);

    const refusals: [Buffer, string, object?][] = [
      [await sign(text, stranger), 'DEBIAN_KEY_UNKNOWN'],
      [Buffer.from(good.toString('utf8').replace('testing-proofs', 'testing-proofz')), 'DEBIAN_SIGNATURE_INVALID'],
      [
        await sign(releaseText({ date: '2026-11-20T00:00:00Z', validUntil: '2026-11-27T00:00:00Z' })),
        'DEBIAN_RELEASE_EXPIRED',
      ],
      [
        await sign(releaseText({ date: '2026-11-30T00:00:00Z', packages: Buffer.from('other\n') })),
        'DEBIAN_INDEX_MISMATCH',
      ],
    ];
    for (const [inRelease, code] of refusals) {
      const r = await uploadAndRegister(inRelease);
      expect([r.statusCode, r.json().error.code]).toEqual([422, code]);
    }
    expect(await releases.newest(suite)).toBeUndefined();

    const ok = await uploadAndRegister(good);
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({
      suite,
      date: '2026-11-30T00:00:00.000Z',
      validUntil: '2026-12-07T00:00:00.000Z',
      packages: [{ digest: sha256Digest(PACKAGES), path: 'main/binary-all/Packages', size: PACKAGES.length }],
    });
    expect(await releases.newest(suite)).toEqual({
      suite,
      date: '2026-11-30T00:00:00.000Z',
      inRelease: sha256Digest(good),
    });

    const older = await sign(releaseText({ date: '2026-11-29T00:00:00Z' }));
    const back = await uploadAndRegister(older);
    expect([back.statusCode, back.json().error.code]).toEqual([422, 'DEBIAN_RELEASE_ROLLBACK']);
    expect((await uploadAndRegister(older, { allowOlder: true })).statusCode).toBe(201);
    expect((await releases.newest(suite))?.date).toBe('2026-11-30T00:00:00.000Z');
  });

  it('publishes fragments whose chain verifies; refuses an altered proof, one it does not hold or not registered, per fragment', async () => {
    const inRelease = await sign(releaseText({ date: '2026-12-01T00:00:00Z' }));
    expect((await uploadAndRegister(inRelease)).statusCode).toBe(201);
    const spans = paragraphSpans(PACKAGES);
    const proof: DebianProof = {
      inRelease: sha256Digest(inRelease),
      packages: sha256Digest(PACKAGES),
      path: 'main/binary-all/Packages',
      paragraph: spans[0]!,
      suite: 'LSE Test/LSE Test/testing-proofs',
      date: '2026-12-01T00:00:00.000Z',
    };
    const frag = (i: number, p: DebianProof) =>
      signDescriptor(
        indexDescriptor(paragraphAt(PACKAGES, spans[i]!), { repo: 'http://127.0.0.1:9/debian', proof: p }),
        key,
      );
    const good = [frag(0, proof), frag(1, { ...proof, paragraph: spans[1]! })];
    const swapped = frag(0, { ...proof, paragraph: spans[1]! });
    const unheld = frag(0, { ...proof, inRelease: sha256Digest('never uploaded') });
    const forged = await sign(releaseText({ date: '2026-12-01T00:00:00Z' }), stranger);
    await put(sha256Digest(forged), forged);
    // uploaded but never registered (it would be refused: an unknown signer)
    const strangers = frag(0, { ...proof, inRelease: sha256Digest(forged) });
    // a registered InRelease, but not the date it was registered with
    const redated = frag(0, { ...proof, date: '2026-12-02T00:00:00.000Z' });
    const r = await app.inject({
      method: 'POST',
      url: '/v1/fragments/batch',
      headers: AUTH,
      payload: { fragments: [...good, swapped, unheld, strangers, redated] },
    });
    expect(r.statusCode).toBe(200);
    expect(r.json().created).toBe(2);
    expect(r.json().rejected.map((x: { id: string; code: string }) => [x.id, x.code])).toEqual([
      [swapped.id, 'DEBIAN_INDEX_MISMATCH'],
      [unheld.id, 'DEBIAN_PROOF_UNKNOWN'],
      [strangers.id, 'DEBIAN_PROOF_UNKNOWN'],
      [redated.id, 'DEBIAN_PROOF_UNKNOWN'],
    ]);
    expect(r.json().rejected[2].message).toMatch(/not registered with this gateway/);
    expect((await ports.fragments.list()).map((f) => f.id).sort()).toEqual(good.map((f) => f.id).sort());
  });
});
