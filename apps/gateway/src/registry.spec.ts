/**
 * The OCI Distribution API (/v2) in process: the pipeline on memory adapters (as gateway.spec.ts),
 * a layer store that streams through the digest verifier like the S3 adapter, and `pkgs/...`
 * images synthesized on pull.
 */
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import pino from 'pino';
import {
  LseError,
  StreamingDigestVerifier,
  checkBlob,
  dssePae,
  generateImageSigningKeyPem,
  generateKeyPair,
  formatKey,
  imageSigningKeyFromPem,
  publicKeyOf,
  sha256Digest,
  verifyImageSignature,
  type BlobStore,
  type SecretKey,
} from '@lse/core';
import {
  InProcessBus,
  MemoryBaseRepository,
  MemoryBlobStore,
  MemoryFragmentRepository,
  MemoryLeaseRepository,
  MemorySynthesisRepository,
  MemoryTrustStore,
} from '@lse/adapter-memory';
import { buildFragment, makeResultCache, silentLog, startPipeline, type EnginePorts } from '@lse/engine';
import { startGateway } from './compose';
import type { RegistrySettings } from './deps';
import { signRegistryToken } from './registry-auth';
import { WORK_STAGES, gatewayDefaults } from './testing';

/** Layer store keeping raw bytes (so a test can alter them) and streaming like S3BlobStore.getStream. */
class StreamingStore implements BlobStore {
  readonly raw = new Map<string, Buffer>();
  async put(digest: string, data: Buffer, size?: number): Promise<void> {
    checkBlob(digest, data, size);
    if (!this.raw.has(digest)) this.raw.set(digest, Buffer.from(data));
  }
  private bytes(digest: string): Buffer {
    const b = this.raw.get(digest);
    if (!b) throw new LseError('BLOB_UNKNOWN', `no blob ${digest}`, { digest });
    return b;
  }
  async get(digest: string): Promise<Buffer> {
    const b = this.bytes(digest);
    if (sha256Digest(b) !== digest) throw new LseError('DIGEST_MISMATCH', `blob ${digest} was altered`, { digest });
    return b;
  }
  async has(digest: string) {
    return this.raw.has(digest);
  }
  async stat(digest: string) {
    return this.raw.get(digest)?.length;
  }
  async delete(digest: string) {
    this.raw.delete(digest);
  }
  async *list() {
    yield* this.raw.keys();
  }
  async getStream(digest: string, range?: { start: number; end?: number }) {
    const b = this.bytes(digest);
    const chunks = (x: Buffer) =>
      Array.from({ length: Math.ceil(x.length / 1024) }, (_, i) => x.subarray(i * 1024, (i + 1) * 1024));
    if (range) {
      const part = b.subarray(range.start, range.end === undefined ? undefined : range.end + 1);
      return { stream: Readable.from(chunks(part)), size: b.length, contentLength: part.length };
    }
    const v = new StreamingDigestVerifier({ digest, size: b.length });
    Readable.from(chunks(b)).pipe(v);
    return { stream: v as Readable, size: b.length, contentLength: b.length };
  }
}

const TOKENS = new Map([
  ['synth-token-0123456789', { name: 'runner', scopes: new Set(['synth']) }],
  ['pull-token-01234567890', { name: 'puller', scopes: new Set(['pull']) }],
  ['publish-token-01234567', { name: 'publisher', scopes: new Set(['publish']) }],
  ['admin-token-0123456789', { name: 'ops', scopes: new Set(['admin']) }],
]);
const SYNTH = { authorization: 'Bearer synth-token-0123456789' };
const PULL = { authorization: 'Bearer pull-token-01234567890' };
const ADMIN = { authorization: 'Bearer admin-token-0123456789' };
const basic = (user: string, pass: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`,
});
const SECRET = Buffer.from('registry-secret-for-tests-0123456789');
const IMAGE_KEY = imageSigningKeyFromPem(generateImageSigningKeyPem());

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

describe('OCI Distribution API (/v2)', () => {
  let app: FastifyInstance;
  let multi: FastifyInstance;
  let ports: EnginePorts;
  let layers: StreamingStore;
  let bus: InProcessBus;
  let stop: () => Promise<void>;
  const logLines: string[] = [];
  const syntheses = new MemorySynthesisRepository();
  const leases = new MemoryLeaseRepository();

  beforeAll(async () => {
    bus = new InProcessBus();
    layers = new StreamingStore();
    ports = {
      fragments: new MemoryFragmentRepository(),
      bases: new MemoryBaseRepository(),
      trust: new MemoryTrustStore(),
      origin: new MemoryBlobStore(),
      cache: new MemoryBlobStore(),
      layers,
    };
    const stopStages = await startPipeline(
      {
        bus,
        ports,
        opts: { epoch: 0 },
        log: silentLog,
        isTransient: () => false,
        leases,
        completedByKey: makeResultCache({ syntheses, layers }),
      },
      WORK_STAGES,
    );
    const registry: RegistrySettings = {
      secret: SECRET,
      anonymousPull: false,
      pkgsBase: 'scratch',
      pkgsPlatforms: [{ os: 'linux', arch: 'amd64' }],
      tokenTtlSeconds: 300,
      signingKey: IMAGE_KEY,
    };
    const parts = { ...gatewayDefaults, bus, ports, syntheses, leases, auth: { tokens: TOKENS, disabled: false } };
    const sink = new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    const gw = await startGateway({
      ...parts,
      registry,
      httpLogger: pino({ level: 'warn' }, sink) as unknown as FastifyBaseLogger,
    });
    const gwMulti = await startGateway({
      ...parts,
      registry: {
        ...registry,
        anonymousPull: true,
        pkgsPlatforms: [
          { os: 'linux', arch: 'amd64' },
          { os: 'linux', arch: 'amd64', variant: 'v3' },
        ],
      },
    });
    stop = async () => {
      await stopStages();
      await gw.stop();
      await gwMulti.stop();
    };
    app = gw.app;
    multi = gwMulti.app;
    const key: SecretKey = generateKeyPair('pub-1').secretKey;
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/v1/keys',
          headers: ADMIN,
          payload: { publicKey: formatKey(publicKeyOf(key)), scopes: ['*'] },
        })
      ).statusCode,
    ).toBe(201);
    const publish = async (name: string, content: string, depends: string[] = []) => {
      const { fragment, blob } = buildFragment({
        entries: [file(`usr/share/${name}/data`, content)],
        name,
        version: '1.0.0',
        scheme: 'semver',
        depends,
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
    };
    await publish('libdata', 'x'.repeat(5000));
    await publish('app', 'app 1\n', ['libdata ^1.0.0']);
    await publish('tool', 'tool\n');
    await publish('extra', 'extra\n');
  });
  afterAll(async () => {
    await stop();
  });

  it('answers /v2/ with 401 and a Bearer challenge, 200 {} with credentials', async () => {
    const none = await app.inject({ method: 'GET', url: '/v2/' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="http://localhost:80/v2/token",service="lse"');
    expect(none.json().errors[0].code).toBe('UNAUTHORIZED');
    const ok = await app.inject({ method: 'GET', url: '/v2/', headers: PULL });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({});
    const named = await app.inject({ method: 'GET', url: '/v2/pkgs/app/manifests/latest' });
    expect(named.statusCode).toBe(401);
    expect(named.headers['www-authenticate']).toBe(
      'Bearer realm="http://localhost:80/v2/token",service="lse",scope="repository:pkgs/app:pull"',
    );
  });

  it('issues scoped registry tokens for Basic or Bearer LSE tokens and accepts them', async () => {
    expect(
      (await app.inject({ method: 'GET', url: '/v2/token?service=lse&scope=repository:pkgs/app:pull' })).statusCode,
    ).toBe(401);
    expect(
      (await app.inject({ method: 'GET', url: '/v2/token?service=lse', headers: basic('x', 'wrong-token-000000000') }))
        .statusCode,
    ).toBe(401);
    const denied = await app.inject({
      method: 'GET',
      url: '/v2/token?service=lse',
      headers: basic('x', 'publish-token-01234567'),
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().errors[0].code).toBe('DENIED');
    const res = await app.inject({
      method: 'GET',
      url: '/v2/token?service=lse&scope=repository:pkgs/app:pull',
      headers: basic('anyone', 'synth-token-0123456789'),
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ expires_in: 300 });
    expect(body.access_token).toBe(body.token);
    expect(Date.parse(body.issued_at)).toBeGreaterThan(0);
    const bearer = { authorization: `Bearer ${body.token}` };
    expect((await app.inject({ method: 'GET', url: '/v2/pkgs/app/tags/list', headers: bearer })).json()).toEqual({
      name: 'pkgs/app',
      tags: ['latest', 'scratch'],
    });
    const other = await app.inject({ method: 'GET', url: '/v2/pkgs/tool/tags/list', headers: bearer });
    expect(other.statusCode).toBe(401);
    expect(other.headers['www-authenticate']).toContain('error="insufficient_scope"');
    const viaBearer = await app.inject({
      method: 'GET',
      url: '/v2/token?scope=repository:pkgs/tool:pull',
      headers: PULL,
    });
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/v2/pkgs/tool/tags/list',
          headers: { authorization: `Bearer ${viaBearer.json().token}` },
        })
      ).statusCode,
    ).toBe(200);
    const forged = body.token.replace(/\.[^.]+$/, '.' + Buffer.alloc(32).toString('base64url'));
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/v2/pkgs/app/tags/list',
          headers: { authorization: `Bearer ${forged}` },
        })
      ).statusCode,
    ).toBe(401);
    const expired = signRegistryToken(SECRET, { sub: 'x', access: ['pkgs/app'], iat: 1, exp: 2 });
    const exp = await app.inject({
      method: 'GET',
      url: '/v2/pkgs/app/tags/list',
      headers: { authorization: `Bearer ${expired}` },
    });
    expect(exp.statusCode).toBe(401);
    expect(exp.json().errors[0].message).toMatch(/expired/);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/v2/pkgs/app/tags/list',
          headers: basic('lse', 'pull-token-01234567890'),
        })
      ).statusCode,
    ).toBe(200);
  });

  it('issues registry tokens for the OAuth2 form POST containerd sends (password and refresh_token grants)', async () => {
    const form = (fields: Record<string, string>) => ({
      'content-type': 'application/x-www-form-urlencoded',
      payload: new URLSearchParams(fields).toString(),
    });
    const post = (fields: Record<string, string>) => {
      const f = form(fields);
      return app.inject({
        method: 'POST',
        url: '/v2/token',
        headers: { 'content-type': f['content-type'] },
        payload: f.payload,
      });
    };
    const res = await post({
      grant_type: 'password',
      service: 'lse',
      scope: 'repository:pkgs/app:pull repository:pkgs/tool:pull',
      client_id: 'containerd-client',
      username: 'lse',
      password: 'pull-token-01234567890',
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ expires_in: 300, token_type: 'Bearer' });
    expect(body.access_token).toBe(body.token);
    const bearer = { authorization: `Bearer ${body.access_token}` };
    expect((await app.inject({ method: 'GET', url: '/v2/pkgs/app/tags/list', headers: bearer })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v2/pkgs/tool/tags/list', headers: bearer })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v2/pkgs/extra/tags/list', headers: bearer })).statusCode).toBe(
      401,
    );
    const refresh = await post({
      grant_type: 'refresh_token',
      service: 'lse',
      scope: 'repository:pkgs/extra:pull',
      refresh_token: 'synth-token-0123456789',
    });
    expect(refresh.statusCode).toBe(200);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/v2/pkgs/extra/tags/list',
          headers: { authorization: `Bearer ${refresh.json().access_token}` },
        })
      ).statusCode,
    ).toBe(200);

    const wrong = await post({
      grant_type: 'password',
      service: 'lse',
      username: 'lse',
      password: 'wrong-token-000000000',
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ error: 'invalid_grant', errors: [{ code: 'UNAUTHORIZED' }] });
    expect((await post({ grant_type: 'password', service: 'lse', username: 'lse' })).statusCode).toBe(401);
    const denied = await post({
      grant_type: 'password',
      service: 'lse',
      username: 'lse',
      password: 'publish-token-01234567',
    });
    expect([denied.statusCode, denied.json().error]).toEqual([403, 'unauthorized_client']);
    const grant = await post({ grant_type: 'client_credentials', service: 'lse' });
    expect([grant.statusCode, grant.json().error]).toEqual([400, 'unsupported_grant_type']);
    expect((await post({ service: 'lse', password: 'pull-token-01234567890' })).json().error).toBe('invalid_request');
    expect(
      (await post({ grant_type: 'password', service: 'other', password: 'pull-token-01234567890' })).json().error,
    ).toBe('invalid_request');
    // GET keeps working beside it, and other POSTs under /v2 are still refused.
    expect(
      (
        await app.inject({
          method: 'GET',
          url: '/v2/token?service=lse&scope=repository:pkgs/app:pull',
          headers: basic('lse', 'pull-token-01234567890'),
        })
      ).statusCode,
    ).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/v2/pkgs/app/blobs/uploads/', headers: PULL })).statusCode).toBe(
      405,
    );
  });

  it('synthesizes pkgs/... on pull; HEAD and GET agree on digest, length and type; blobs stream with Range', async () => {
    const head = await app.inject({ method: 'HEAD', url: '/v2/pkgs/app/tool/manifests/latest', headers: PULL });
    expect(head.statusCode).toBe(200);
    const get = await app.inject({ method: 'GET', url: '/v2/pkgs/app/tool/manifests/latest', headers: PULL });
    expect(get.statusCode).toBe(200);
    for (const h of ['docker-content-digest', 'content-length', 'content-type'])
      expect([h, head.headers[h]]).toEqual([h, get.headers[h]]);
    expect(head.body).toBe('');
    expect(get.headers['content-type']).toBe('application/vnd.oci.image.manifest.v1+json');
    const digest = get.headers['docker-content-digest'] as string;
    expect(sha256Digest(get.rawPayload)).toBe(digest);
    expect(Number(get.headers['content-length'])).toBe(get.rawPayload.length);
    const m = get.json() as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
    expect(m.layers).toHaveLength(3); // libdata, app, tool: one layer each
    const byDigest = await app.inject({ method: 'GET', url: `/v2/pkgs/app/tool/manifests/${digest}`, headers: PULL });
    expect(byDigest.rawPayload.equals(get.rawPayload)).toBe(true);

    const layer = m.layers[0]!;
    const blobHead = await app.inject({
      method: 'HEAD',
      url: `/v2/pkgs/app/tool/blobs/${layer.digest}`,
      headers: PULL,
    });
    expect(blobHead.statusCode).toBe(200);
    expect(blobHead.headers['content-length']).toBe(String(layer.size));
    expect(blobHead.headers['docker-content-digest']).toBe(layer.digest);
    const blob = await app.inject({ method: 'GET', url: `/v2/pkgs/app/tool/blobs/${layer.digest}`, headers: PULL });
    expect(blob.statusCode).toBe(200);
    expect(sha256Digest(blob.rawPayload)).toBe(layer.digest);
    const part = await app.inject({
      method: 'GET',
      url: `/v2/pkgs/app/tool/blobs/${layer.digest}`,
      headers: { ...PULL, range: 'bytes=10-19' },
    });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 10-19/${layer.size}`);
    expect(part.rawPayload.equals(blob.rawPayload.subarray(10, 20))).toBe(true);
    const tail = await app.inject({
      method: 'GET',
      url: `/v2/pkgs/app/tool/blobs/${layer.digest}`,
      headers: { ...PULL, range: 'bytes=-5' },
    });
    expect(tail.rawPayload.equals(blob.rawPayload.subarray(-5))).toBe(true);
    const beyond = await app.inject({
      method: 'GET',
      url: `/v2/pkgs/app/tool/blobs/${layer.digest}`,
      headers: { ...PULL, range: `bytes=${layer.size}-` },
    });
    expect(beyond.statusCode).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${layer.size}`);

    const lease = (await leases.list()).find((l) => l.blobs.includes(digest));
    expect(lease).toBeDefined();
    expect(Date.parse(lease!.expiresAt)).toBeGreaterThan(Date.now() + 500_000);
  });

  it('answers unknown and invalid names, tags and digests with the spec codes', async () => {
    const code = async (method: 'GET' | 'HEAD', url: string) => {
      const r = await app.inject({ method, url, headers: PULL });
      return [r.statusCode, method === 'HEAD' ? undefined : r.json().errors[0].code];
    };
    expect(await code('GET', '/v2/library/busybox/manifests/latest')).toEqual([404, 'NAME_UNKNOWN']);
    expect(await code('GET', '/v2/pkgs/no-such-package/manifests/latest')).toEqual([404, 'NAME_UNKNOWN']);
    expect(await code('GET', '/v2/pkgs/app/manifests/nosuchbase')).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(await code('GET', `/v2/pkgs/app/manifests/sha256:${'0'.repeat(64)}`)).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(await code('GET', `/v2/pkgs/app/blobs/sha256:${'0'.repeat(64)}`)).toEqual([404, 'BLOB_UNKNOWN']);
    expect(await code('HEAD', `/v2/pkgs/app/blobs/sha256:${'0'.repeat(64)}`)).toEqual([404, undefined]);
    expect(await code('GET', '/v2/pkgs/app/blobs/sha256:xyz')).toEqual([400, 'DIGEST_INVALID']);
    expect(await code('GET', '/v2/pkgs/app/manifests/sha256:xyz')).toEqual([400, 'DIGEST_INVALID']);
    expect(await code('GET', '/v2/Pkgs/App/manifests/latest')).toEqual([400, 'NAME_INVALID']);
    expect(await code('GET', '/v2/pkgs/app/manifests/-bad')).toEqual([404, 'MANIFEST_UNKNOWN']); // what clients and the conformance suite expect
    expect(await code('GET', `/v2/pkgs/app/manifests/${'x'.repeat(129)}`)).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(await code('GET', '/v2/pkgs/no-such-package/tags/list')).toEqual([404, 'NAME_UNKNOWN']);
    expect(await code('GET', '/v2/pkgs/app/no-such-package/tags/list')).toEqual([404, 'NAME_UNKNOWN']);
    expect(await code('GET', `/v2/pkgs/app/referrers/sha256:xyz`)).toEqual([400, 'DIGEST_INVALID']);
    expect(await code('GET', '/v2/synth/syn-nothere/manifests/latest')).toEqual([404, 'NAME_UNKNOWN']);
    expect(
      (await app.inject({ method: 'PUT', url: '/v2/pkgs/app/manifests/latest', headers: PULL })).json().errors[0].code,
    ).toBe('UNSUPPORTED');
  });

  it('serves syntheses registered over REST as synth/<id> and synth/<key>, re-taking a released lease', async () => {
    const manifest = {
      apiVersion: 'lse.dev/v1',
      kind: 'DependencyManifest',
      metadata: { name: 'svc' },
      base: 'scratch',
      require: [{ name: 'extra' }],
      files: [{ path: '/etc/motd', content: 'hi\n' }],
    };
    const r = (
      await app.inject({
        method: 'POST',
        url: '/v1/syntheses',
        headers: { ...SYNTH, prefer: 'wait=20' },
        payload: { manifest },
      })
    ).json();
    expect(r.status).toBe('completed');
    // ids are lowercase, so every synthesis is nameable as synth/<id>
    expect(r.id).toMatch(/^syn-[0-9a-f]{24}$/);
    const got = await app.inject({ method: 'GET', url: `/v2/synth/${r.id}/manifests/latest`, headers: PULL });
    expect(got.headers['docker-content-digest']).toBe(r.result.manifestDigest);
    expect((await app.inject({ method: 'DELETE', url: `/v1/syntheses/${r.id}`, headers: SYNTH })).statusCode).toBe(204);
    const byKey = await app.inject({
      method: 'GET',
      url: `/v2/synth/${r.key.slice(7)}/manifests/latest`,
      headers: PULL,
    });
    expect(byKey.statusCode).toBe(200);
    expect(byKey.headers['docker-content-digest']).toBe(r.result.manifestDigest);
    expect((await leases.get(r.id))?.blobs).toContain(r.result.manifestDigest); // the pull took a new lease
    expect(
      (await app.inject({ method: 'GET', url: `/v2/synth/${r.key.slice(7)}/tags/list`, headers: PULL })).json().tags,
    ).toEqual(['latest']);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: `/v2/synth/${r.key.slice(7)}/manifests/${r.result.configDigest}`,
          headers: PULL,
        })
      ).json().errors[0].code,
    ).toBe('MANIFEST_UNKNOWN');
    // Its attachments under the synth/ name: listed, and served by digest there.
    const refs = (
      await app.inject({
        method: 'GET',
        url: `/v2/synth/${r.key.slice(7)}/referrers/${r.result.manifestDigest}`,
        headers: PULL,
      })
    ).json() as { manifests: { digest: string }[] };
    expect(refs.manifests).toHaveLength(3);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: `/v2/synth/${r.key.slice(7)}/manifests/${refs.manifests[0]!.digest}`,
          headers: PULL,
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: `/v2/pkgs/app/manifests/${refs.manifests[0]!.digest}`, headers: PULL }))
        .statusCode,
    ).toBe(404); // not an image of pkgs/app
  });

  it('synthesizes once for concurrent first pulls of one name', async () => {
    let requested = 0;
    const unsubscribe = await bus.subscribe('lse.events.synthesis.completed.>', async (m) => {
      if (m.subject.includes('.reg-')) requested++;
    });
    const all = await Promise.all(
      Array.from({ length: 5 }, () =>
        app.inject({ method: 'GET', url: '/v2/pkgs/extra/tool/manifests/latest', headers: PULL }),
      ),
    );
    await unsubscribe();
    expect(all.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(all.map((r) => r.headers['docker-content-digest'])).size).toBe(1);
    expect(requested).toBe(1);
  });

  it('answers an image index with one manifest per configured platform (anonymous pull on)', async () => {
    expect((await multi.inject({ method: 'GET', url: '/v2/' })).statusCode).toBe(200);
    const res = await multi.inject({ method: 'GET', url: '/v2/pkgs/app/manifests/latest' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json');
    const index = res.json() as { manifests: { digest: string; platform: object }[] };
    expect(index.manifests.map((m) => m.platform)).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'amd64', os: 'linux', variant: 'v3' },
    ]);
    const digest = res.headers['docker-content-digest'] as string;
    expect(await layers.has(digest)).toBe(true);
    expect(
      (await multi.inject({ method: 'GET', url: `/v2/pkgs/app/manifests/${digest}` })).rawPayload.equals(
        res.rawPayload,
      ),
    ).toBe(true);
    const one = await multi.inject({ method: 'GET', url: `/v2/pkgs/app/manifests/${index.manifests[1]!.digest}` });
    expect(JSON.parse(one.body).mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    const single = await multi.inject({ method: 'GET', url: '/v2/pkgs/app/manifests/latest--amd64-v3' });
    expect(single.headers['docker-content-digest']).toBe(index.manifests[1]!.digest);
  });

  it('never delivers a tampered blob complete: the transfer is cut short and logged; a tampered manifest is refused', async () => {
    const get = await app.inject({ method: 'GET', url: '/v2/pkgs/libdata/manifests/latest', headers: PULL });
    const m = get.json() as { layers: { digest: string; size: number }[] };
    const digest = m.layers[0]!.digest;
    const good = layers.raw.get(digest)!;
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff;
    layers.raw.set(digest, bad);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const outcome = await new Promise<{ status?: number; length?: number; received: number; error?: string }>(
      (resolve) => {
        const req = request(
          { host: '127.0.0.1', port, path: `/v2/pkgs/libdata/blobs/${digest}`, headers: PULL },
          (res) => {
            let received = 0;
            res.on('data', (c: Buffer) => {
              received += c.length;
            });
            res.on('end', () =>
              resolve({ status: res.statusCode, length: Number(res.headers['content-length']), received }),
            );
            res.on('error', (e) =>
              resolve({
                status: res.statusCode,
                length: Number(res.headers['content-length']),
                received,
                error: e.message,
              }),
            );
            res.on('aborted', () =>
              resolve({
                status: res.statusCode,
                length: Number(res.headers['content-length']),
                received,
                error: 'aborted',
              }),
            );
          },
        );
        req.on('error', (e) => resolve({ received: 0, error: e.message }));
        req.end();
      },
    );
    expect(outcome.error).toBeDefined();
    expect(outcome.received).toBeLessThan(good.length);
    await new Promise((r) => setTimeout(r, 50));
    expect(logLines.join('')).toContain('blob does not match its digest: transfer aborted');

    const manifestDigest = get.headers['docker-content-digest'] as string;
    const mBytes = layers.raw.get(manifestDigest)!;
    layers.raw.set(manifestDigest, Buffer.from(mBytes.toString().replace('"schemaVersion":2', '"schemaVersion":3')));
    for (const method of ['GET', 'HEAD'] as const) {
      const r = await app.inject({ method, url: `/v2/pkgs/libdata/manifests/${manifestDigest}`, headers: PULL });
      expect(r.statusCode).toBe(500);
    }
    layers.raw.set(manifestDigest, mBytes);
    layers.raw.set(digest, good);
  });

  it('serves an image by digest only under a pkgs/ name whose packages it contains', async () => {
    const get = await app.inject({ method: 'GET', url: '/v2/pkgs/app/manifests/latest', headers: PULL });
    const digest = get.headers['docker-content-digest'] as string;
    expect(
      (await app.inject({ method: 'GET', url: `/v2/pkgs/app/manifests/${digest}`, headers: PULL })).statusCode,
    ).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: `/v2/pkgs/libdata/manifests/${digest}`, headers: PULL })).statusCode,
    ).toBe(200); // app depends on libdata: in the image
    const other = await app.inject({ method: 'GET', url: `/v2/pkgs/tool/manifests/${digest}`, headers: PULL });
    expect([other.statusCode, other.json().errors[0].code]).toEqual([404, 'MANIFEST_UNKNOWN']);
    const config = (get.json() as { config: { digest: string } }).config.digest;
    expect(
      (await app.inject({ method: 'GET', url: `/v2/pkgs/app/manifests/${config}`, headers: PULL })).json().errors[0]
        .code,
    ).toBe('MANIFEST_UNKNOWN');
  });

  it('ignores a Range with a unit other than bytes (whole blob, 200)', async () => {
    const m = (await app.inject({ method: 'GET', url: '/v2/pkgs/tool/manifests/latest', headers: PULL })).json() as {
      layers: { digest: string; size: number }[];
    };
    const layer = m.layers[0]!;
    const r = await app.inject({
      method: 'GET',
      url: `/v2/pkgs/tool/blobs/${layer.digest}`,
      headers: { ...PULL, range: 'items=0-1' },
    });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-range']).toBeUndefined();
    expect(sha256Digest(r.rawPayload)).toBe(layer.digest);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: `/v2/pkgs/tool/blobs/${layer.digest}`,
          headers: { ...PULL, range: 'bytes=x-y' },
        })
      ).statusCode,
    ).toBe(416);
  });

  it('answers a client accepting only Docker schema 2 with the Docker form, fetchable by its digest', async () => {
    const docker = 'application/vnd.docker.distribution.manifest.v2+json';
    const oci = await app.inject({ method: 'GET', url: '/v2/pkgs/app/tool/manifests/latest', headers: PULL });
    const accept = { ...PULL, accept: `${docker}, application/vnd.docker.distribution.manifest.list.v2+json;q=0.9` };
    const got = await app.inject({ method: 'GET', url: '/v2/pkgs/app/tool/manifests/latest', headers: accept });
    expect(got.headers['content-type']).toBe(docker);
    const digest = got.headers['docker-content-digest'] as string;
    expect(sha256Digest(got.rawPayload)).toBe(digest);
    const m = got.json() as {
      mediaType: string;
      config: { mediaType: string; digest: string };
      layers: { mediaType: string; digest: string }[];
    };
    const o = oci.json() as { config: { digest: string }; layers: { digest: string }[] };
    expect(m.mediaType).toBe(docker);
    expect(m.config).toMatchObject({
      mediaType: 'application/vnd.docker.container.image.v1+json',
      digest: o.config.digest,
    });
    expect(m.layers.map((l) => [l.mediaType, l.digest])).toEqual(
      o.layers.map((l) => ['application/vnd.docker.image.rootfs.diff.tar.gzip', l.digest]),
    );
    const byDigest = await app.inject({ method: 'GET', url: `/v2/pkgs/app/tool/manifests/${digest}`, headers: accept });
    expect([byDigest.statusCode, byDigest.headers['content-type']]).toEqual([200, docker]);
    expect(byDigest.rawPayload.equals(got.rawPayload)).toBe(true);
    // OCI (or anything) accepted besides: the OCI manifest, as before.
    const both = await app.inject({
      method: 'GET',
      url: '/v2/pkgs/app/tool/manifests/latest',
      headers: { ...PULL, accept: `${docker}, application/vnd.oci.image.manifest.v1+json` },
    });
    expect(both.headers['docker-content-digest']).toBe(oci.headers['docker-content-digest']);
    // An index becomes a manifest list of Docker manifests.
    const list = await multi.inject({
      method: 'GET',
      url: '/v2/pkgs/app/manifests/latest',
      headers: { accept: 'application/vnd.docker.distribution.manifest.list.v2+json' },
    });
    expect(list.headers['content-type']).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    const children = (
      list.json() as { manifests: { mediaType: string; digest: string; platform: { variant?: string } }[] }
    ).manifests;
    expect(children.map((c) => c.mediaType)).toEqual([docker, docker]);
    const child = await multi.inject({
      method: 'GET',
      url: `/v2/pkgs/app/manifests/${children[1]!.digest}`,
      headers: { accept: docker },
    });
    expect([child.statusCode, child.headers['content-type']]).toEqual([200, docker]);
  });

  it('lists the SBOM, signature and provenance of an image through the referrers API and cosign tags', async () => {
    const get = await app.inject({ method: 'GET', url: '/v2/pkgs/app/tool/manifests/latest', headers: PULL });
    const digest = get.headers['docker-content-digest'] as string;
    const res = await app.inject({ method: 'GET', url: `/v2/pkgs/app/tool/referrers/${digest}`, headers: PULL });
    expect([res.statusCode, res.headers['content-type']]).toEqual([200, 'application/vnd.oci.image.index.v1+json']);
    const index = res.json() as { manifests: { digest: string; artifactType: string; size: number }[] };
    expect(index.manifests.map((m) => m.artifactType).sort()).toEqual([
      'application/spdx+json',
      'application/vnd.dev.cosign.artifact.sig.v1+json',
      'application/vnd.dsse.envelope.v1+json',
    ]);
    const again = await app.inject({ method: 'GET', url: `/v2/pkgs/app/tool/referrers/${digest}`, headers: PULL });
    expect(again.rawPayload.equals(res.rawPayload)).toBe(true);

    const filtered = await app.inject({
      method: 'GET',
      url: `/v2/pkgs/app/tool/referrers/${digest}?artifactType=application/spdx%2Bjson`,
      headers: PULL,
    });
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    const sbomDesc = (filtered.json() as typeof index).manifests;
    expect(sbomDesc).toHaveLength(1);
    expect(
      (
        await app.inject({
          method: 'GET',
          url: `/v2/pkgs/app/tool/referrers/${digest}?artifactType=application/x-none`,
          headers: PULL,
        })
      ).json().manifests,
    ).toEqual([]);
    // Unknown subject: an empty index, never 404 (distribution-spec 1.1).
    const none = await app.inject({
      method: 'GET',
      url: `/v2/pkgs/app/tool/referrers/sha256:${'1'.repeat(64)}`,
      headers: PULL,
    });
    expect([none.statusCode, none.json().manifests]).toEqual([200, []]);
    // Another name's image: nothing listed under this name.
    expect(
      (await app.inject({ method: 'GET', url: `/v2/pkgs/extra/referrers/${digest}`, headers: PULL })).json().manifests,
    ).toEqual([]);

    const fetchJson = async (url: string) => {
      const r = await app.inject({ method: 'GET', url, headers: PULL });
      expect([url, r.statusCode]).toEqual([url, 200]);
      return r;
    };
    const artifact = async (d: string) =>
      (await fetchJson(`/v2/pkgs/app/tool/manifests/${d}`)).json() as {
        subject: { digest: string };
        layers: { digest: string; annotations?: Record<string, string> }[];
      };
    const sbomManifest = await artifact(sbomDesc[0]!.digest);
    expect(sbomManifest.subject.digest).toBe(digest);
    const sbom = (await fetchJson(`/v2/pkgs/app/tool/blobs/${sbomManifest.layers[0]!.digest}`)).json() as {
      spdxVersion: string;
      packages: { name: string; versionInfo: string; checksums?: unknown[]; sourceInfo?: string }[];
    };
    expect(sbom.spdxVersion).toBe('SPDX-2.3');
    expect(
      sbom.packages
        .filter((p) => p.name !== 'lse-image')
        .map((p) => `${p.name}@${p.versionInfo}`)
        .sort(),
    ).toEqual(['app@1.0.0', 'libdata@1.0.0', 'tool@1.0.0']);
    expect(sbom.packages.find((p) => p.name === 'app')?.sourceInfo).toContain('"type":"test"');

    // cosign's tag convention points at the same signature the referrers list.
    const sigTag = await fetchJson(`/v2/pkgs/app/tool/manifests/sha256-${digest.slice(7)}.sig`);
    const sigDesc = index.manifests.find((m) => m.artifactType === 'application/vnd.dev.cosign.artifact.sig.v1+json')!;
    expect(sigTag.headers['docker-content-digest']).toBe(sigDesc.digest);
    const sigLayer = (sigTag.json() as { layers: { digest: string; annotations: Record<string, string> }[] })
      .layers[0]!;
    const payload = (await fetchJson(`/v2/pkgs/app/tool/blobs/${sigLayer.digest}`)).rawPayload;
    expect(JSON.parse(payload.toString()).critical.image['docker-manifest-digest']).toBe(digest);
    const pub = await app.inject({ method: 'GET', url: '/v1/image-key' });
    expect(pub.body).toContain('BEGIN PUBLIC KEY');
    expect(
      verifyImageSignature(
        pub.body,
        payload,
        Buffer.from(sigLayer.annotations['dev.cosignproject.cosign/signature']!, 'base64'),
      ),
    ).toBe(true);
    expect(
      verifyImageSignature(
        pub.body,
        Buffer.concat([payload, Buffer.from(' ')]),
        Buffer.from(sigLayer.annotations['dev.cosignproject.cosign/signature']!, 'base64'),
      ),
    ).toBe(false);

    const att = await artifact(
      index.manifests.find((m) => m.artifactType === 'application/vnd.dsse.envelope.v1+json')!.digest,
    );
    const env = (await fetchJson(`/v2/pkgs/app/tool/blobs/${att.layers[0]!.digest}`)).json() as {
      payloadType: string;
      payload: string;
      signatures: { sig: string }[];
    };
    const statement = Buffer.from(env.payload, 'base64');
    expect(
      verifyImageSignature(
        pub.body,
        dssePae(env.payloadType, statement),
        Buffer.from(env.signatures[0]!.sig, 'base64'),
      ),
    ).toBe(true);
    const prov = JSON.parse(statement.toString()) as {
      subject: { digest: { sha256: string } }[];
      predicate: { buildDefinition: { resolvedDependencies: { name: string; uri: string }[] } };
    };
    expect(prov.subject[0]!.digest.sha256).toBe(digest.slice(7));
    const deps = prov.predicate.buildDefinition.resolvedDependencies;
    expect(deps.find((x) => x.name === 'lock')).toBeDefined();
    expect(
      deps
        .filter((x) => x.uri.startsWith('lse:fragment/'))
        .map((x) => x.name)
        .sort(),
    ).toEqual(['app@1.0.0', 'libdata@1.0.0', 'tool@1.0.0']);

    // The attachments' blobs are held by a lease of their own.
    const lease = await leases.get(`reg-ref-${digest.slice(7, 39)}`);
    expect(lease?.blobs).toEqual(expect.arrayContaining([sigDesc.digest, sbomDesc[0]!.digest, sigLayer.digest]));
    expect(
      (
        await app.inject({
          method: 'GET',
          url: `/v2/pkgs/app/tool/manifests/sha256-${'2'.repeat(64)}.sig`,
          headers: PULL,
        })
      ).statusCode,
    ).toBe(404);
  });
});
