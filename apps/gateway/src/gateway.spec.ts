/**
 * The gateway's HTTP contract, with the whole pipeline running in process on memory adapters
 * (the same stages the services run; the distributed run is covered by the e2e int test).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import {
  formatParagraph,
  fragmentId,
  generateKeyPair,
  formatKey,
  indexDescriptor,
  paragraphAt,
  paragraphSpans,
  publicKeyOf,
  sha256Digest,
  sha256Hex,
  signDerivation,
  writeTar,
  type SecretKey,
} from '@lse/core';
import { DebianChainVerifier } from '@lse/adapter-deb';
import type * as OpenPgp from 'openpgp' with { 'resolution-mode': 'import' };
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
import { buildFragment, makeResultCache, silentLog, startPipeline, type EnginePorts } from '@lse/engine';
import { startGateway } from './compose';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const openpgp = require('openpgp') as typeof OpenPgp;
import { WORK_STAGES, gatewayDefaults } from './testing';

const TOKENS = new Map([
  ['synth-token-0123456789', { name: 'runner', scopes: new Set(['synth']) }],
  ['admin-token-0123456789', { name: 'ops', scopes: new Set(['admin']) }],
  ['other-token-0123456789', { name: 'other-team', scopes: new Set(['synth']) }],
]);
const OTHER = { authorization: 'Bearer other-token-0123456789' };
const SYNTH = { authorization: 'Bearer synth-token-0123456789' };
const ADMIN = { authorization: 'Bearer admin-token-0123456789' };

function file(path: string, content: string) {
  return {
    path,
    type: 'file' as const,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: content.length,
    data: Buffer.from(content),
  };
}

describe('gateway HTTP API (in-process pipeline)', () => {
  let app: FastifyInstance;
  let ports: EnginePorts;
  let key: SecretKey;
  let stop: () => Promise<void>;
  const syntheses = new MemorySynthesisRepository();
  const leases = new MemoryLeaseRepository();

  const publish = async (name: string, version: string, depends: string[] = [], k = key) => {
    const { fragment, blob } = buildFragment({
      entries: [file(`usr/share/${name}/VERSION`, version)],
      name,
      version,
      scheme: 'semver',
      depends,
      key: k,
      epoch: 0,
      source: { type: 'test' },
    });
    return app.inject({
      method: 'POST',
      url: '/v1/fragments',
      headers: ADMIN,
      payload: { fragment, blob: blob.toString('base64') },
    });
  };
  const manifest = (require: object[]) => ({
    apiVersion: 'lse.dev/v1',
    kind: 'DependencyManifest',
    metadata: { name: 'svc' },
    base: 'scratch',
    require,
  });

  const work: string[] = []; // synthesis ids of the work messages the stages received

  let bus: InProcessBus;
  // Debian proof settings without a keyring: the gateway takes no proof blobs; its release log
  // is what the derivation test registers its release in
  const debianReleases = new MemoryDebianReleaseLog();

  beforeAll(async () => {
    bus = new InProcessBus();
    await bus.subscribe('lse.synth.requested', async (m) => {
      work.push((m.data as { synthesisId: string }).synthesisId);
    });
    const origin = new MemoryBlobStore();
    ports = {
      fragments: new MemoryFragmentRepository(),
      bases: new MemoryBaseRepository(),
      trust: new MemoryTrustStore(),
      origin,
      cache: new MemoryBlobStore(),
      layers: new MemoryBlobStore(),
    };
    const stopStages = await startPipeline(
      {
        bus,
        ports,
        opts: { epoch: 0 },
        log: silentLog,
        isTransient: () => false,
        leases,
        completedByKey: makeResultCache({ syntheses, layers: ports.layers }),
      },
      WORK_STAGES,
    );
    const gw = await startGateway({
      ...gatewayDefaults,
      bus,
      ports,
      syntheses,
      leases,
      auth: { tokens: TOKENS, disabled: false },
      uploadParseBudgetMs: 5_000,
      bodyLimitBytes: 1 << 26,
      debian: { releases: debianReleases, blobLimitBytes: 1 << 20 },
    });
    stop = async () => {
      await stopStages();
      await gw.stop();
    };
    app = gw.app;
    key = generateKeyPair('pub-1').secretKey;
    const trusted = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: ADMIN,
      payload: { publicKey: formatKey(publicKeyOf(key)), scopes: ['lib*', 'app*'] },
    });
    expect(trusted.statusCode).toBe(201);
    expect((await publish('libdata', '1.0.0')).statusCode).toBe(201);
    expect((await publish('app', '2.0.0', ['libdata ^1.0.0'])).statusCode).toBe(201);
  });
  afterAll(async () => {
    await stop();
  });

  it('asks for a token (401 with a challenge) and for the right scope (403)', async () => {
    const none = await app.inject({ method: 'POST', url: '/v1/syntheses', payload: { manifest: manifest([]) } });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer realm="lse"/);
    expect(none.json().error.message).toMatch(/scope 'synth'/);
    const bad = await app.inject({
      method: 'GET',
      url: '/v1/fragments',
      headers: { authorization: 'Bearer nope-nope-nope-nope' },
    });
    expect(bad.statusCode).toBe(401);
    const weak = await app.inject({ method: 'GET', url: '/v1/keys', headers: SYNTH });
    expect(weak.statusCode).toBe(403);
    expect(weak.json().error).toMatchObject({ code: 'DENIED', details: { scope: 'admin' } });
  });

  it('synthesizes with Prefer: wait, shares the result for the same key, and reports status', async () => {
    const body = { manifest: manifest([{ name: 'app', version: '^2' }]) };
    const first = await app.inject({
      method: 'POST',
      url: '/v1/syntheses',
      headers: { ...SYNTH, prefer: 'wait=20' },
      payload: body,
    });
    expect(first.statusCode).toBe(200);
    const r1 = first.json();
    expect(r1).toMatchObject({ status: 'completed', stage: 'assembled', manifestName: 'svc' });
    expect(r1.result.manifestDigest).toMatch(/^sha256:/);
    expect(r1.lease.expiresAt).toBeTruthy();
    const second = await app.inject({
      method: 'POST',
      url: '/v1/syntheses',
      headers: { ...SYNTH, prefer: 'wait=20' },
      payload: body,
    });
    const r2 = second.json();
    expect(r2.id).not.toBe(r1.id);
    expect(r2.key).toBe(r1.key);
    expect(r2.result.manifestDigest).toBe(r1.result.manifestDigest);
    const got = await app.inject({ method: 'GET', url: `/v1/syntheses/${r1.id}`, headers: SYNTH });
    expect(got.json().status).toBe('completed');
    const manifestBlob = await app.inject({
      method: 'GET',
      url: `/v1/blobs/${r1.result.manifestDigest}`,
      headers: SYNTH,
    });
    expect(JSON.parse(manifestBlob.body).layers).toHaveLength(2);
  });

  it('accepts YAML and answers 202 without waiting; events stream ends with completed', async () => {
    const yaml =
      'apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: yaml-svc }\nbase: scratch\nrequire: [{ name: libdata }]\n';
    const res = await app.inject({
      method: 'POST',
      url: '/v1/syntheses',
      headers: { ...SYNTH, 'content-type': 'application/yaml' },
      payload: yaml,
    });
    expect(res.statusCode).toBe(202);
    const { id } = res.json();
    expect(res.headers.location).toBe(`/v1/syntheses/${id}`);
    const events = await app.inject({ method: 'GET', url: `/v1/syntheses/${id}/events`, headers: SYNTH });
    expect(events.headers['content-type']).toBe('text/event-stream');
    const kinds = [...events.body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(kinds[0]).toBe('state');
    expect(kinds[kinds.length - 1]).toBe('completed');
  });

  it('negotiates the region: exact, then a fallback; 406 naming the regions that exist; the key includes the region', async () => {
    const ids: Record<string, string> = {};
    for (const region of ['eu-west', 'us-east']) {
      const { fragment, blob } = buildFragment({
        entries: [file('etc/apt/mirror', region)],
        name: 'libmirror',
        version: '1.0.0',
        scheme: 'semver',
        attributes: { region },
        key,
        epoch: 0,
        source: { type: 'test' },
      });
      expect(
        (
          await app.inject({
            method: 'POST',
            url: '/v1/fragments',
            headers: ADMIN,
            payload: { fragment, blob: blob.toString('base64') },
          })
        ).statusCode,
      ).toBe(201);
      ids[region] = fragment.id;
    }
    const negotiate = (platform: object) =>
      app.inject({
        method: 'POST',
        url: '/v1/negotiate',
        headers: SYNTH,
        payload: { manifest: manifest([{ name: 'libmirror' }]), platform },
      });
    const eu = await negotiate({ os: 'linux', arch: 'amd64', region: 'eu-west' });
    expect(eu.statusCode).toBe(200);
    expect(eu.json().fragments.map((f: { id: string }) => f.id)).toEqual([ids['eu-west']]);
    const viaFallback = await negotiate({ region: 'ap-south', regionFallback: ['eu-west'] });
    expect(viaFallback.json()).toMatchObject({
      fragments: [{ id: ids['eu-west'] }],
      platform: { region: 'ap-south', regionFallback: ['eu-west'] },
    });
    expect(viaFallback.json().key).not.toBe(eu.json().key);
    const none = await negotiate({ region: 'ap-south' });
    expect(none.statusCode).toBe(406);
    expect(none.json().error).toMatchObject({ code: 'NO_VARIANT', details: { regions: ['eu-west', 'us-east'] } });
    expect((await negotiate({ region: 'Not a region' })).statusCode).toBe(400);
  });

  it('reports failures with the stage and reason, and 406 from negotiate when nothing fits', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/syntheses',
      headers: { ...SYNTH, prefer: 'wait=20' },
      payload: { manifest: manifest([{ name: 'app', version: '^9' }]) },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ status: 'failed', error: { code: 'UNSATISFIABLE', stage: 'resolver' } });
    const neg = await app.inject({
      method: 'POST',
      url: '/v1/negotiate',
      headers: SYNTH,
      payload: { manifest: manifest([{ name: 'app' }]), platform: 'linux/arm64' },
    });
    expect(neg.statusCode).toBe(200);
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/negotiate',
      headers: SYNTH,
      payload: { manifest: manifest([{ name: 'app', version: '^9' }]) },
    });
    expect(bad.statusCode).toBe(406);
    expect(bad.json().error.message).toMatch(/app/);
    const invalid = await app.inject({
      method: 'POST',
      url: '/v1/syntheses',
      headers: SYNTH,
      payload: { manifest: { ...manifest([]), requires: [] } },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error.code).toBe('MANIFEST_INVALID');
  });

  it('refuses to publish fragments that are untrusted, out of scope or whose blob does not match', async () => {
    const stranger = generateKeyPair('stranger').secretKey;
    const untrusted = await publish('libx', '1.0.0', [], stranger);
    expect(untrusted.statusCode).toBe(422);
    expect(untrusted.json().error.code).toBe('KEY_UNTRUSTED');
    const scope = await publish('zzz', '1.0.0');
    expect(scope.json().error.code).toBe('KEY_OUT_OF_SCOPE');
    const { fragment } = buildFragment({
      entries: [file('a', 'x')],
      name: 'liby',
      version: '1.0.0',
      scheme: 'semver',
      key,
      epoch: 0,
      source: {},
    });
    const tampered = await app.inject({
      method: 'POST',
      url: '/v1/fragments',
      headers: ADMIN,
      payload: { fragment, blob: randomBytes(1024).toString('base64') },
    });
    expect(tampered.statusCode).toBe(422);
    expect(await ports.fragments.byName('liby')).toEqual([]);
  });

  it('releases and renews leases', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/syntheses',
      headers: { ...SYNTH, prefer: 'wait=20' },
      payload: { manifest: manifest([{ name: 'libdata' }]) },
    });
    const { id } = res.json();
    const renew = await app.inject({
      method: 'POST',
      url: `/v1/syntheses/${id}/lease`,
      headers: SYNTH,
      payload: { ttlSeconds: 120 },
    });
    expect(renew.statusCode).toBe(200);
    expect(Date.parse(renew.json().expiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
    expect((await app.inject({ method: 'DELETE', url: `/v1/syntheses/${id}`, headers: SYNTH })).statusCode).toBe(204);
    expect(await leases.get(id)).toBeUndefined();
    expect(
      (await app.inject({ method: 'POST', url: `/v1/syntheses/${id}/lease`, headers: SYNTH, payload: {} })).statusCode,
    ).toBe(410);
    expect((await app.inject({ method: 'GET', url: '/v1/syntheses/nope', headers: SYNTH })).statusCode).toBe(404);
  });

  it('keeps tenants apart: another tenant gets 404 for a synthesis and cannot release or renew its lease; admin can see it', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/syntheses',
      headers: { ...SYNTH, prefer: 'wait=20' },
      payload: { manifest: manifest([{ name: 'libdata' }]) },
    });
    const { id } = res.json();
    expect(res.statusCode).toBe(200);
    for (const [method, url] of [
      ['GET', `/v1/syntheses/${id}`],
      ['GET', `/v1/syntheses/${id}/events`],
      ['DELETE', `/v1/syntheses/${id}`],
      ['POST', `/v1/syntheses/${id}/lease`],
    ] as const) {
      const other = await app.inject({ method, url, headers: OTHER, ...(method === 'POST' ? { payload: {} } : {}) });
      expect([method, url, other.statusCode, other.json().error.code]).toEqual([method, url, 404, 'SYNTHESIS_UNKNOWN']);
    }
    expect(await leases.get(id)).toBeDefined();
    expect((await app.inject({ method: 'GET', url: `/v1/syntheses/${id}`, headers: ADMIN })).json().status).toBe(
      'completed',
    );
    // The same manifest from the other tenant: its own synthesis and lease on the same image.
    const theirs = (
      await app.inject({
        method: 'POST',
        url: '/v1/syntheses',
        headers: { ...OTHER, prefer: 'wait=20' },
        payload: { manifest: manifest([{ name: 'libdata' }]) },
      })
    ).json();
    expect(theirs.result.manifestDigest).toBe(res.json().result.manifestDigest);
    expect((await app.inject({ method: 'DELETE', url: `/v1/syntheses/${theirs.id}`, headers: OTHER })).statusCode).toBe(
      204,
    );
    expect(await leases.get(id)).toBeDefined();
  });

  it('answers a repeat from memory (no work message) with its own record and lease, until a publish changes the catalog', async () => {
    const body = { manifest: { ...manifest([{ name: 'app' }]), metadata: { name: 'repeat-svc' } } };
    const first = (
      await app.inject({
        method: 'POST',
        url: '/v1/syntheses',
        headers: { ...SYNTH, prefer: 'wait=20' },
        payload: body,
      })
    ).json();
    expect(first.status).toBe('completed');
    const before = work.length;
    const again = await app.inject({
      method: 'POST',
      url: '/v1/syntheses',
      headers: { ...SYNTH, prefer: 'wait=20' },
      payload: body,
    });
    expect(again.statusCode).toBe(200);
    const r = again.json();
    expect(work.length).toBe(before);
    expect(r).toMatchObject({
      status: 'completed',
      key: first.key,
      result: { manifestDigest: first.result.manifestDigest },
    });
    expect(r.id).not.toBe(first.id);
    expect(r.lease.expiresAt).toBeTruthy();
    await new Promise((res) => setTimeout(res, 50));
    expect((await leases.get(r.id))?.blobs).toContain(first.result.manifestDigest); // written by the projection
    expect(await syntheses.get(r.id)).toMatchObject({ status: 'completed', tenant: 'runner' });
    // A publish may change what the manifest resolves to: the next request goes through the stages.
    expect((await publish('libdata', '1.5.0')).statusCode).toBe(201);
    const after = (
      await app.inject({
        method: 'POST',
        url: '/v1/syntheses',
        headers: { ...SYNTH, prefer: 'wait=20' },
        payload: body,
      })
    ).json();
    expect(work.length).toBe(before + 1);
    expect(after.status).toBe('completed');
    expect(after.key).not.toBe(first.key);
  });

  it('refuses an unauthenticated upload before reading it, and a manifest body over the route limit with 413', async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const answer = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
      let sent = 0;
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/syntheses',
          headers: { 'content-type': 'application/json', 'content-length': String(100 * 1024 * 1024) },
        },
        (res) => {
          resolve({ status: res.statusCode ?? 0, sent });
          res.resume();
          req.destroy();
        },
      );
      req.on('error', (e) => {
        if (!sent) reject(e);
      });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (sent < 100 * 1024 * 1024 && req.write(chunk)) sent += chunk.length;
      };
      req.on('drain', pump);
      pump();
    });
    expect(answer.status).toBe(401);
    expect(answer.sent).toBeLessThan(100 * 1024 * 1024);
    const before = work.length;
    const big = await app.inject({
      method: 'POST',
      url: '/v1/syntheses',
      headers: SYNTH,
      payload: { manifest: manifest([]), pad: 'x'.repeat(2 * 1024 * 1024) },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().error.code).toBe('TOO_LARGE');
    expect(work.length).toBe(before);
  });

  it('gives a request published straight to NATS a record from the request on; it belongs to no tenant (admin only)', async () => {
    const id = `nats-client-${Date.now()}`;
    await bus.publish(
      'lse.synth.requested',
      {
        v: 1,
        synthesisId: id,
        manifest:
          'apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: from-nats }\nbase: scratch\nrequire: [{ name: libdata }]\n',
        requestedAt: new Date().toISOString(),
      },
      { 'Nats-Msg-Id': `requested:${id}` },
    );
    const got = await app.inject({
      method: 'GET',
      url: `/v1/syntheses/${id}`,
      headers: { ...ADMIN, prefer: 'wait=20' },
    });
    expect(got.json()).toMatchObject({ id, status: 'completed', manifestName: 'from-nats' });
    await new Promise((r) => setTimeout(r, 50));
    expect(await syntheses.get(id)).toMatchObject({ status: 'completed', manifestName: 'from-nats' });
    expect((await app.inject({ method: 'GET', url: `/v1/syntheses/${id}`, headers: SYNTH })).statusCode).toBe(404);
  });

  it('reads uploaded bases off the event loop: /healthz answers while a large one is read and while a tar that used to hang is refused', async () => {
    const entries = Array.from({ length: 400 }, (_, i) => file(`usr/share/big/f${i}`, `${i}`.padEnd(50_000, 'x')));
    const big = writeTar(entries).toString('base64');
    let uploadDone = false;
    const upload = app
      .inject({
        method: 'POST',
        url: '/v1/bases',
        headers: ADMIN,
        payload: { name: 'big', tag: 'latest', rootfsTar: big },
      })
      .then((r) => {
        uploadDone = true;
        return r;
      });
    await new Promise((r) => setTimeout(r, 20));
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(uploadDone).toBe(false); // answered while the upload was still being read
    expect((await upload).statusCode).toBe(201);
    // The 1.5 KB tar whose pax header has a negative base-256 size (readTar used to loop on it
    // for ever, freezing the gateway): refused, and the gateway keeps answering meanwhile.
    const hanging = readFileSync(join(__dirname, '../../../libs/core/fuzz/regressions/tar/negative-size-pax.tar'));
    const refused = app.inject({
      method: 'POST',
      url: '/v1/bases',
      headers: ADMIN,
      payload: { name: 'hostile', tag: 'latest', rootfsTar: hanging.toString('base64') },
    });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const r = await refused;
    expect(r.statusCode).toBe(422);
    expect(r.json().error.code).toBe('TAR_INVALID');
    expect(await ports.bases.resolveTag('hostile', 'latest')).toBeUndefined();
  });

  it('serves health, metrics and the OpenAPI document without a token', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^lse_http_requests_total\{code="\d+",route="[^"]+"\} \d+$/m);
    expect((await app.inject({ method: 'GET', url: '/openapi.json' })).json().paths['/v1/syntheses']).toBeDefined();
  });

  it("accepts a derivation-signed fragment from a signed index only with Debian's chain (batch publish)", async () => {
    // one package's index, its InRelease signed by an archive key of the test; the proof blobs in the origin
    const deb = randomBytes(64);
    const packages = Buffer.from(
      formatParagraph({
        Package: 'libderived',
        Version: '1.0-1',
        Architecture: 'amd64',
        Filename: 'pool/main/libd/libderived_1.0-1_amd64.deb',
        Size: String(deb.length),
        SHA256: sha256Hex(deb),
      }) + '\n',
    );
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: 'ecc',
      curve: 'curve25519Legacy',
      userIDs: [{ name: 'gateway test archive' }],
      format: 'object',
    });
    const release = `Origin: Test\nLabel: Test\nCodename: gw\nDate: ${new Date(0).toUTCString()}\nSHA256:\n ${sha256Hex(packages)} ${packages.length} main/binary-amd64/Packages\n`;
    const inRelease = Buffer.from(
      await openpgp.sign({ message: await openpgp.createCleartextMessage({ text: release }), signingKeys: privateKey }),
    );
    await ports.origin.put(sha256Digest(inRelease), inRelease, inRelease.length);
    await ports.origin.put(sha256Digest(packages), packages, packages.length);
    const span = paragraphSpans(packages)[0]!;
    const describe = (epoch: number) =>
      indexDescriptor(paragraphAt(packages, span), {
        derive: { from: 'deb', mergedUsr: true, epoch },
        proof: {
          inRelease: sha256Digest(inRelease),
          packages: sha256Digest(packages),
          path: 'main/binary-amd64/Packages',
          paragraph: span,
          suite: 'Test/Test/gw',
          date: new Date(0).toISOString(),
        },
      });
    const f = signDerivation(describe(0), key);
    const batch = async (fragments: object[]) =>
      (await app.inject({ method: 'POST', url: '/v1/fragments/batch', headers: ADMIN, payload: { fragments } })).json();

    // no Debian keyring configured for this gateway: refused, naming what is missing
    expect(await batch([f])).toMatchObject({
      created: 0,
      rejected: [{ code: 'DEBIAN_CHAIN_UNVERIFIED', message: expect.stringMatching(/LSE_DEBIAN_KEYRING/) }],
    });
    try {
      const other = await openpgp.generateKey({
        type: 'ecc',
        curve: 'curve25519Legacy',
        userIDs: [{ name: 'x' }],
        format: 'object',
      });
      ports.debianChain = new DebianChainVerifier(ports.origin, { file: 'x.asc', keys: [other.publicKey] });
      expect(await batch([f])).toMatchObject({ created: 0, rejected: [{ code: 'DEBIAN_KEY_UNKNOWN' }] });
      ports.debianChain = new DebianChainVerifier(ports.origin, { file: 'test.asc', keys: [publicKey] });
      // another derivation under the same signature, re-hashed: the signature does not cover it
      const changed = { ...f, descriptor: describe(5) };
      expect(await batch([{ ...changed, id: fragmentId(changed.descriptor) }])).toMatchObject({
        created: 0,
        rejected: [{ code: 'SIGNATURE_INVALID' }],
      });
      // chain and signature good, but the release was never registered with this gateway (so
      // its rollback rule never ran): refused
      expect(await batch([f])).toMatchObject({ created: 0, rejected: [{ code: 'DEBIAN_PROOF_UNKNOWN' }] });
      await debianReleases.record({
        suite: 'Test/Test/gw',
        date: new Date(0).toISOString(),
        inRelease: sha256Digest(inRelease),
      });
      expect(await batch([f])).toMatchObject({ created: 1, rejected: [] });
      const listed = await app.inject({ method: 'GET', url: '/v1/fragments', headers: ADMIN });
      expect(listed.json()).toEqual(
        expect.arrayContaining([expect.objectContaining({ id: f.id, signatureKinds: ['derivation'] })]),
      );
    } finally {
      delete ports.debianChain;
    }
  });
});
