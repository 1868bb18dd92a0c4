/**
 * The OCI Distribution API against the running stack (infra/local/stack.sh up), with standard
 * clients: a Debian base `minimal` and curl imported through the CLI with --server (skipped when
 * they are there already), then `skopeo copy docker://.../pkgs/curl:latest` with the token flow,
 * `umoci unpack` and `chroot ROOTFS curl --version` (root only), `skopeo inspect`; HEAD and GET
 * agree; 401 + a challenge that works when followed by hand; spec error codes; a blob tampered
 * in S3 is cut short and logged by the gateway. The image's referrers with `oras discover`, its
 * signature with `cosign verify --key` (both built by infra/local/build-registry-tools.sh), and its
 * SBOM against the dpkg database inside the image.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatKey, generateImageSigningKeyPem, generateKeyPair, imageSigningKeyFromPem, publicKeyOf } from '@lse/core';
import { buildFragment } from '@lse/engine';
import { makeS3Client } from '@lse/adapter-s3';
import { tamperS3Object } from '@lse/adapter-s3/testing';
import { testServers } from '@lse/testing';

jest.setTimeout(600_000);

const env = process.env;
const SERVER = env['LSE_SERVER'] ?? '';
const TOKEN = env['LSE_TOKEN'] ?? '';
const STATE = env['LSE_STATE_DIR'] ?? join(env['HOME'] ?? '/root', '.local/state/lse-local');
const HOST = SERVER.replace(/^https?:\/\//, '').replace(/\/+$/, '');
const repo = join(__dirname, '../../..');
const run = Date.now().toString(36);
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const basicAuth = { authorization: `Basic ${Buffer.from(`lse:${TOKEN}`).toString('base64')}` };
const BIN = env['LSE_BIN_DIR'] ?? join(env['HOME'] ?? '/root', '.cache/lse/bin');
function tool(name: string): string {
  const p = join(BIN, name);
  if (!existsSync(p))
    throw new Error(`${p} is missing: run bash infra/local/build-registry-tools.sh (scripts/test.sh does)`);
  return p;
}

/** Every `{ artifactType, digest }` in oras' JSON output, however deep. */
function artifactsIn(
  v: unknown,
  out: { artifactType: string; digest: string }[] = [],
): { artifactType: string; digest: string }[] {
  if (Array.isArray(v)) for (const x of v) artifactsIn(x, out);
  else if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o['artifactType'] === 'string' && typeof o['digest'] === 'string')
      out.push({ artifactType: o['artifactType'], digest: o['digest'] });
    for (const x of Object.values(o)) artifactsIn(x, out);
  }
  return out;
}

async function api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetchFresh(new URL(path, SERVER), {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/**
 * fetch, retried once when a kept-alive socket turns out closed: the tests block the event loop
 * in spawnSync (skopeo, umoci) for longer than the server's keep-alive timeout, so undici cannot
 * notice the close in time and reuses a dead socket.
 */
async function fetchFresh(url: URL, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (!/other side closed|socket/i.test(String((e as { cause?: Error }).cause?.message ?? ''))) throw e;
    return fetch(url, init);
  }
}

const v2 = (path: string, init: RequestInit = {}) => fetchFresh(new URL(`/v2/${path}`, SERVER), init);

function lse(...args: string[]): string {
  return execFileSync('node', [join(repo, 'apps/cli/bin/lse.js'), '--server', SERVER, ...args], {
    cwd: repo,
    env: process.env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 900_000,
  });
}

describe('OCI Distribution API against the stack', () => {
  let work: string;

  beforeAll(async () => {
    if (!SERVER || !TOKEN)
      throw new Error(
        'the registry int test needs the stack: bash infra/local/stack.sh up && eval "$(bash infra/local/stack.sh env)"',
      );
    work = mkdtempSync(join(tmpdir(), 'lse-registry-'));
    const bases = (await api<{ name: string }[]>('GET', '/v1/bases')).body;
    const curl = await api('GET', '/v1/fragments/curl');
    if (bases.some((b) => b.name === 'minimal') && curl.status === 200) return;
    // A Debian base named `minimal` and curl's closure, through the CLI against the gateway.
    lse('keys', 'generate', '--name', `reg${run}`, '--out', work);
    lse('trust', 'add', join(work, `reg${run}.pub`));
    const key = join(work, `reg${run}.key`);
    const cache = env['LSE_APT_CACHE'] || join(env['HOME'] ?? '/root', '.cache/lse/apt');
    lse(
      'base',
      'build',
      '--name',
      'minimal',
      'base-files',
      'base-passwd',
      'dash',
      'coreutils',
      '--key',
      key,
      '--cache',
      cache,
    );
    lse('import', 'apt', 'curl', '--key', key, '--cache', cache);
  });

  it('skopeo copies pkgs/curl:latest with --src-creds; umoci unpacks it; curl runs; skopeo inspect shows linux/amd64', async () => {
    const dir = join(work, 'oci');
    const copy = spawnSync(
      'skopeo',
      [
        'copy',
        '--src-tls-verify=false',
        '--src-creds',
        `lse:${TOKEN}`,
        `docker://${HOST}/pkgs/curl:latest`,
        `oci:${dir}:latest`,
      ],
      { encoding: 'utf8', timeout: 540_000 },
    );
    expect([copy.status, copy.stderr]).toEqual([0, '']);
    const inspect = spawnSync(
      'skopeo',
      ['inspect', '--tls-verify=false', '--creds', `lse:${TOKEN}`, `docker://${HOST}/pkgs/curl:latest`],
      { encoding: 'utf8' },
    );
    expect(inspect.status).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ Os: 'linux', Architecture: 'amd64' });
    const bundle = join(work, 'bundle');
    const u = spawnSync(
      'umoci',
      ['unpack', ...(process.getuid?.() === 0 ? [] : ['--rootless']), '--image', `${dir}:latest`, bundle],
      { encoding: 'utf8' },
    );
    expect([u.status, u.stderr.includes('level=error') ? u.stderr : '']).toEqual([0, '']);
    expect(existsSync(join(bundle, 'rootfs/usr/bin/curl'))).toBe(true);
    if (process.getuid?.() === 0 && has('chroot')) {
      const r = spawnSync('chroot', [join(bundle, 'rootfs'), 'curl', '--version'], {
        encoding: 'utf8',
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      });
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^curl \d+\.\d+/);
    } else console.warn('registry.int.spec: not root, curl --version in the unpacked rootfs not run');
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]!.digest).toBe(JSON.parse(inspect.stdout).Digest);
  });

  it('oras discover lists the SBOM and signature; cosign verify and verify-attestation --key accept the signature and provenance; the SBOM lists every package of the image with its version', async () => {
    const get = await v2('pkgs/curl/manifests/latest', { headers: basicAuth });
    expect(get.status).toBe(200);
    const digest = get.headers.get('docker-content-digest')!;
    const manifest = JSON.parse(Buffer.from(await get.arrayBuffer()).toString()) as { layers: { digest: string }[] };
    const ref = `${HOST}/pkgs/curl@${digest}`;

    const disc = spawnSync(
      tool('oras'),
      ['discover', '--plain-http', '-u', 'lse', '--password-stdin', '--format', 'json', ref],
      { input: TOKEN, encoding: 'utf8', timeout: 120_000 },
    );
    expect([disc.status, disc.stderr]).toEqual([0, '']);
    const found = artifactsIn(JSON.parse(disc.stdout));
    expect(found.map((a) => a.artifactType)).toEqual(
      expect.arrayContaining([
        'application/spdx+json',
        'application/vnd.dev.cosign.artifact.sig.v1+json',
        'application/vnd.dsse.envelope.v1+json',
      ]),
    );

    // cosign with the gateway's public key; the same check with another key fails.
    const keys = join(work, 'cosign');
    mkdirSync(join(keys, 'docker'), { recursive: true });
    const pub = await fetchFresh(new URL('/v1/image-key', SERVER));
    expect(pub.status).toBe(200);
    writeFileSync(join(keys, 'image.pub'), await pub.text());
    writeFileSync(join(keys, 'other.pub'), imageSigningKeyFromPem(generateImageSigningKeyPem()).publicKeyPem);
    writeFileSync(
      join(keys, 'docker/config.json'),
      JSON.stringify({ auths: { [HOST]: { auth: Buffer.from(`lse:${TOKEN}`).toString('base64') } } }),
    );
    const verify = (key: string) =>
      spawnSync(
        tool('cosign'),
        [
          'verify',
          '--key',
          join(keys, key),
          '--insecure-ignore-tlog=true',
          '--allow-insecure-registry',
          '--allow-http-registry',
          '--output',
          'json',
          ref,
        ],
        {
          encoding: 'utf8',
          timeout: 120_000,
          env: { ...env, DOCKER_CONFIG: join(keys, 'docker') },
        },
      );
    const ok = verify('image.pub');
    expect([ok.status, ok.status === 0 ? '' : ok.stderr]).toEqual([0, '']);
    const verified = JSON.parse(ok.stdout) as { critical: { image: { 'docker-manifest-digest': string } } }[];
    expect(verified.map((v) => v.critical.image['docker-manifest-digest'])).toEqual([digest]);
    expect(verify('other.pub').status).not.toBe(0);
    const att = spawnSync(
      tool('cosign'),
      [
        'verify-attestation',
        '--key',
        join(keys, 'image.pub'),
        '--type',
        'slsaprovenance1',
        '--insecure-ignore-tlog=true',
        '--allow-insecure-registry',
        '--allow-http-registry',
        ref,
      ],
      {
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...env, DOCKER_CONFIG: join(keys, 'docker') },
      },
    );
    expect([att.status, att.status === 0 ? '' : att.stderr]).toEqual([0, '']);
    const statement = JSON.parse(
      Buffer.from((JSON.parse(att.stdout.trim().split('\n')[0]!) as { payload: string }).payload, 'base64').toString(),
    ) as { subject: { digest: { sha256: string } }[]; predicateType: string };
    expect([statement.predicateType, statement.subject[0]!.digest.sha256]).toEqual([
      'https://slsa.dev/provenance/v1',
      digest.slice(7),
    ]);

    // The SBOM against the dpkg database of the image (the topmost layer that has one).
    const sbomRef = found.find((a) => a.artifactType === 'application/spdx+json')!;
    const sbomManifest = (await (await v2(`pkgs/curl/manifests/${sbomRef.digest}`, { headers: basicAuth })).json()) as {
      subject: { digest: string };
      layers: { digest: string }[];
    };
    expect(sbomManifest.subject.digest).toBe(digest);
    const sbom = (await (
      await v2(`pkgs/curl/blobs/${sbomManifest.layers[0]!.digest}`, { headers: basicAuth })
    ).json()) as { packages: { name: string; versionInfo: string }[] };
    let status = '';
    for (const layer of [...manifest.layers].reverse()) {
      const file = join(work, `layer-${layer.digest.slice(7, 19)}.tgz`);
      writeFileSync(
        file,
        Buffer.from(await (await v2(`pkgs/curl/blobs/${layer.digest}`, { headers: basicAuth })).arrayBuffer()),
      );
      const entry = execFileSync('tar', ['-tzf', file], { encoding: 'utf8', maxBuffer: 64 << 20 })
        .split('\n')
        .find((p) => /^(\.\/)?var\/lib\/dpkg\/status$/.test(p));
      if (entry) {
        status = execFileSync('tar', ['-xzOf', file, entry], { encoding: 'utf8', maxBuffer: 64 << 20 });
        break;
      }
    }
    const installed = status
      .split(/\n\n+/)
      .map((p) => ({
        name: /^Package: (.+)$/m.exec(p)?.[1],
        version: /^Version: (.+)$/m.exec(p)?.[1],
        ok: /^Status: .* installed$/m.test(p),
      }))
      .filter((p) => p.name && p.ok)
      .map((p) => `${p.name}@${p.version}`);
    expect(installed.length).toBeGreaterThan(5);
    expect(installed).toContain(installed.find((p) => p.startsWith('curl@')));
    const listed = new Set(sbom.packages.map((p) => `${p.name}@${p.versionInfo}`));
    expect(installed.filter((p) => !listed.has(p))).toEqual([]);
  });

  it('answers HEAD and GET of a manifest and a blob with the same digest and length', async () => {
    const head = await v2('pkgs/curl/manifests/latest', { method: 'HEAD', headers: basicAuth });
    const get = await v2('pkgs/curl/manifests/latest', { headers: basicAuth });
    expect(head.status).toBe(200);
    expect(get.status).toBe(200);
    const body = Buffer.from(await get.arrayBuffer());
    for (const h of ['docker-content-digest', 'content-length', 'content-type'])
      expect([h, head.headers.get(h)]).toEqual([h, get.headers.get(h)]);
    expect(Number(get.headers.get('content-length'))).toBe(body.length);
    const layer = (JSON.parse(body.toString()) as { layers: { digest: string; size: number }[] }).layers[0]!;
    const bh = await v2(`pkgs/curl/blobs/${layer.digest}`, { method: 'HEAD', headers: basicAuth });
    expect([bh.status, bh.headers.get('content-length'), bh.headers.get('docker-content-digest')]).toEqual([
      200,
      String(layer.size),
      layer.digest,
    ]);
    const part = await v2(`pkgs/curl/blobs/${layer.digest}`, { headers: { ...basicAuth, range: 'bytes=0-99' } });
    expect([part.status, part.headers.get('content-range'), (await part.arrayBuffer()).byteLength]).toEqual([
      206,
      `bytes 0-99/${layer.size}`,
      100,
    ]);
  });

  it('answers 401 with a challenge that, followed by hand, gives a working token', async () => {
    const none = await v2('pkgs/curl/manifests/latest');
    expect(none.status).toBe(401);
    const ch = none.headers.get('www-authenticate') ?? '';
    const m = /^Bearer realm="([^"]+)",service="([^"]+)",scope="([^"]+)"$/.exec(ch);
    expect(m).not.toBeNull();
    expect(m![3]).toBe('repository:pkgs/curl:pull');
    const tok = await fetch(`${m![1]}?service=${m![2]}&scope=${encodeURIComponent(m![3]!)}`, { headers: basicAuth });
    expect(tok.status).toBe(200);
    const { token } = (await tok.json()) as { token: string };
    expect(
      (await v2('pkgs/curl/manifests/latest', { method: 'HEAD', headers: { authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(200);
    expect(
      (await v2('pkgs/curl/manifests/latest', { headers: { authorization: 'Bearer not-a-token-not-a-token' } })).status,
    ).toBe(401);
  });

  it('answers unknown names, tags and digests with the spec codes', async () => {
    const code = async (path: string) => {
      const r = await v2(path, { headers: basicAuth });
      return [r.status, ((await r.json()) as { errors: { code: string }[] }).errors[0]!.code];
    };
    const zero = `sha256:${'0'.repeat(64)}`;
    expect(await code('library/busybox/manifests/latest')).toEqual([404, 'NAME_UNKNOWN']);
    expect(await code(`pkgs/nosuchpkg${run}/manifests/latest`)).toEqual([404, 'NAME_UNKNOWN']);
    expect(await code('pkgs/curl/manifests/nosuchbase')).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(await code(`pkgs/curl/manifests/${zero}`)).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(await code(`pkgs/curl/blobs/${zero}`)).toEqual([404, 'BLOB_UNKNOWN']);
    expect(await code('pkgs/curl/blobs/sha256:nothex')).toEqual([400, 'DIGEST_INVALID']);
    expect(await code('synth/syn-unknown/manifests/latest')).toEqual([404, 'NAME_UNKNOWN']);
    expect(await code('pkgs/curl/manifests/-x')).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(await code(`pkgs/nosuchpkg${run}/tags/list`)).toEqual([404, 'NAME_UNKNOWN']);
  });

  it('cuts a blob tampered in S3 short (the client sees a failed transfer) and logs it', async () => {
    const key = generateKeyPair(`reg-tamper-${run}`).secretKey;
    expect(
      (await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`regt${run}*`] })).status,
    ).toBe(201);
    const name = `regt${run}`;
    const content = Buffer.alloc(300_000, `tamper me ${run}\n`).toString();
    const { fragment, blob } = buildFragment({
      entries: [
        {
          path: `usr/share/${name}/data`,
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 0,
          size: content.length,
          data: Buffer.from(content),
        },
      ],
      name,
      version: '1.0.0',
      scheme: 'semver',
      key,
      epoch: 0,
      source: { type: 'test' },
    });
    expect((await api('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') })).status).toBe(201);
    const man = await v2(`pkgs/${name}/manifests/scratch`, { headers: basicAuth });
    expect(man.status).toBe(200);
    const layer = ((await man.json()) as { layers: { digest: string; size: number }[] }).layers[0]!;
    const good = Buffer.from(
      await (await v2(`pkgs/${name}/blobs/${layer.digest}`, { headers: basicAuth })).arrayBuffer(),
    );
    const bad = Buffer.from(good);
    bad[bad.length - 10] ^= 0xff;
    const servers = testServers();
    await tamperS3Object(makeS3Client(servers.s3), servers.s3.bucket, `layers/sha256/${layer.digest.slice(7)}`, bad);
    // The connection is cut before the last chunk: before or after the headers, depending on size.
    await expect(
      v2(`pkgs/${name}/blobs/${layer.digest}`, { headers: basicAuth }).then((r) => r.arrayBuffer()),
    ).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 200));
    const log = join(STATE, 'logs', 'svc-gateway-1.log');
    if (existsSync(log)) expect(readFileSync(log, 'utf8')).toContain(`"digest":"${layer.digest}"`);
    await tamperS3Object(makeS3Client(servers.s3), servers.s3.bucket, `layers/sha256/${layer.digest.slice(7)}`, good);
  });
});
