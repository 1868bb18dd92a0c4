/**
 * The registry endpoint's own logic, against a small HTTP server standing in for the gateway:
 * what is relayed unchanged (status, headers, Authorization, Host, bodies both ways), what is
 * dropped (hop-by-hop headers), and when `onManifest` runs (a 200 image manifest whose digest
 * checks out, before its body; once for two requests at once; never for 401, HEAD, blobs or
 * indexes; a failing one does not stop the manifest).
 */
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLog } from '@lse/engine';
import { RegistryProxy, endToEndHeaders, manifestRequest, type RelayedManifest } from './registry';

const OCI = 'application/vnd.oci.image.manifest.v1+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI, layers: [] }));
const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: [] }));
const blob = Buffer.alloc(8 * 1024 * 1024 + 13);
for (let i = 0; i < blob.length; i++) blob[i] = (i * 31) & 0xff;

let gateway: Server;
let seen: Seen[] = [];
let lieAboutDigest = false;

function answer(req: IncomingMessage, body: Buffer, res: ServerResponse) {
  const url = req.url ?? '';
  if (req.headers.authorization !== 'Bearer good') {
    res.writeHead(401, {
      'www-authenticate': `Bearer realm="http://${req.headers.host}/v2/token",service="lse"`,
      'content-type': 'application/json',
    });
    res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    return;
  }
  if (url.startsWith('/v2/token')) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echo: body.toString() }));
  } else if (/\/manifests\//.test(url)) {
    const bytes = url.includes('/index/') ? index : manifest;
    res.writeHead(200, {
      'content-type': url.includes('/index/') ? INDEX : OCI,
      'docker-content-digest': lieAboutDigest ? sha(Buffer.from('other')) : sha(bytes),
      'content-length': String(bytes.length),
      'x-gateway': 'yes',
      connection: 'keep-alive, x-gateway-hop',
      'x-gateway-hop': 'not relayed',
    });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  } else if (url.includes('/blobs/')) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'docker-content-digest': sha(blob) });
    res.end(blob); // no content-length: chunked
  } else res.writeHead(404).end();
}

let proxy: RegistryProxy;
let server: Server;
let onManifest: (m: RelayedManifest) => Promise<unknown>;
const calls: RelayedManifest[] = [];

beforeAll(async () => {
  gateway = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      answer(req, body, res);
    });
  });
  await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', () => r()));
  proxy = new RegistryProxy({
    upstream: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`,
    log: silentLog,
    onManifest: (m) => {
      calls.push(m);
      return onManifest(m);
    },
    seedTimeoutMs: 500,
  });
  server = await proxy.listen('127.0.0.1', 0);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  proxy.close();
  gateway.closeAllConnections();
  await new Promise((r) => gateway.close(r));
});

beforeEach(() => {
  seen = [];
  calls.length = 0;
  lieAboutDigest = false;
  onManifest = () => Promise.resolve();
});

function call(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: (server.address() as AddressInfo).port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const good = { authorization: 'Bearer good' };

describe('manifestRequest / endToEndHeaders', () => {
  it('names the repository and reference of a manifest path, nothing else', () => {
    expect(manifestRequest('/v2/pkgs/curl/jq/manifests/minimal')).toEqual({
      name: 'pkgs/curl/jq',
      reference: 'minimal',
    });
    expect(manifestRequest(`/v2/synth/x/manifests/${sha(manifest)}?ns=1`)).toEqual({
      name: 'synth/x',
      reference: sha(manifest),
    });
    expect(manifestRequest('/v2/pkgs/curl/blobs/sha256:00')).toBeUndefined();
    expect(manifestRequest('/v2/')).toBeUndefined();
  });

  it('drops hop-by-hop headers and those Connection names', () => {
    expect(
      endToEndHeaders({
        connection: 'close, x-hop',
        'x-hop': '1',
        'transfer-encoding': 'chunked',
        'keep-alive': 'timeout=5',
        authorization: 'Basic abc',
        'www-authenticate': 'Bearer realm="r"',
      }),
    ).toEqual({ authorization: 'Basic abc', 'www-authenticate': 'Bearer realm="r"' });
  });
});

describe('RegistryProxy', () => {
  it('relays a 401 with its challenge, passes Authorization and Host through, and prepares nothing', async () => {
    const r = await call('GET', '/v2/pkgs/curl/manifests/minimal', {
      authorization: 'Bearer wrong',
      host: 'node:5000',
    });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="http://node:5000/v2/token",service="lse"');
    expect(seen[0]!.headers.authorization).toBe('Bearer wrong');
    expect(seen[0]!.headers.host).toBe('node:5000');
    expect(calls).toEqual([]);
  });

  it('relays the token request body (a form POST) and its answer unchanged', async () => {
    const form = 'grant_type=password&username=lse&password=t&service=lse&scope=repository%3Apkgs%2Fcurl%3Apull';
    const r = await call(
      'POST',
      '/v2/token',
      { ...good, 'content-type': 'application/x-www-form-urlencoded' },
      Buffer.from(form),
    );
    expect([r.status, JSON.parse(r.body.toString())]).toEqual([200, { echo: form }]);
    expect(seen[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
  });

  it('runs onManifest for a 200 image manifest before the body is sent, with the digest checked; keeps the headers, drops hop-by-hop ones', async () => {
    let done = false;
    onManifest = async () => {
      await new Promise((r) => setTimeout(r, 50));
      done = true;
    };
    const r = await call('GET', '/v2/pkgs/curl/manifests/minimal', good);
    expect(done).toBe(true);
    expect(r.status).toBe(200);
    expect(r.body.equals(manifest)).toBe(true);
    expect(r.headers['content-type']).toBe(OCI);
    expect(r.headers['docker-content-digest']).toBe(sha(manifest));
    expect(r.headers['x-gateway']).toBe('yes');
    expect(r.headers['x-gateway-hop']).toBeUndefined();
    expect(calls.map((c) => [c.name, c.reference, c.digest, c.mediaType])).toEqual([
      ['pkgs/curl', 'minimal', sha(manifest), OCI],
    ]);
    expect(calls[0]!.bytes.equals(manifest)).toBe(true);
  });

  it('two requests for one manifest at once share one onManifest call; both get the manifest', async () => {
    let release!: () => void;
    onManifest = () => new Promise<void>((r) => (release = r));
    const a = call('GET', `/v2/pkgs/curl/manifests/${sha(manifest)}`, good);
    const b = call('GET', '/v2/pkgs/curl/manifests/minimal', good);
    while (proxy.waiting < 2) await new Promise((r) => setTimeout(r, 5));
    release();
    const [ra, rb] = await Promise.all([a, b]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(ra.body.equals(manifest) && rb.body.equals(manifest)).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it('relays the manifest when onManifest fails or does not finish in time', async () => {
    onManifest = () => Promise.reject(new Error('fragment failed verification'));
    const failed = await call('GET', '/v2/pkgs/curl/manifests/minimal', good);
    expect([failed.status, failed.body.equals(manifest)]).toEqual([200, true]);
    onManifest = () => new Promise(() => undefined); // never settles: the 500 ms timeout of this proxy
    const slow = await call('GET', '/v2/pkgs/curl/manifests/minimal', good);
    expect([slow.status, slow.body.equals(manifest)]).toEqual([200, true]);
  });

  it('does not run onManifest for HEAD, an index, a blob, or a manifest that does not match its digest', async () => {
    expect((await call('HEAD', '/v2/pkgs/curl/manifests/minimal', good)).status).toBe(200);
    const ix = await call('GET', '/v2/pkgs/index/manifests/minimal', good);
    expect([ix.status, ix.body.equals(index)]).toEqual([200, true]);
    const wrongRef = await call('GET', `/v2/pkgs/curl/manifests/${sha(Buffer.from('x'))}`, good);
    expect(wrongRef.status).toBe(200); // relayed; the client finds the mismatch itself
    lieAboutDigest = true;
    expect((await call('GET', '/v2/pkgs/curl/manifests/minimal', good)).status).toBe(200);
    expect(calls).toEqual([]);
  });

  it('streams a blob larger than any buffer through unchanged', async () => {
    const r = await call('GET', `/v2/pkgs/curl/blobs/${sha(blob)}`, good);
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(blob.length);
    expect(sha(r.body)).toBe(sha(blob));
    expect(calls).toEqual([]);
  });

  it('answers paths outside /v2 itself, and 502 UNAVAILABLE when the gateway does not answer', async () => {
    expect((await call('GET', '/v1/syntheses', good)).status).toBe(404);
    expect(seen).toEqual([]);
    const dead = new RegistryProxy({ upstream: 'http://127.0.0.1:1', log: silentLog });
    const s = await dead.listen('127.0.0.1', 0);
    try {
      const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: (s.address() as AddressInfo).port, path: '/v2/', agent: false },
          (res) => {
            let t = '';
            res.on('data', (c: Buffer) => (t += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: t }));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body)).toEqual({
        errors: [{ code: 'UNAVAILABLE', message: expect.stringMatching(/gateway/) }],
      });
    } finally {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
      dead.close();
    }
  });
});
