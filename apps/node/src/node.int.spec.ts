/**
 * lse-node against the running stack with LSE_NODE=1 (infra/local/node.sh: the agent and a
 * containerd of its own with `[proxy_plugins.lse]`): `lse node run` of a synthesized curl image
 * (root = overlay of fragment directories, exit code passed through, nothing left behind, lease
 * released); a second image sharing fragments materializes only its new fragments and unpacks no
 * layer through containerd; `ctr images pull --user lse:TOKEN --snapshotter lse` + `ctr run` from
 * the gateway, and through the agent's registry endpoint (no extract at all); a fragment whose
 * cached blob was altered is never extracted; the collector removes
 * exactly the unreferenced directories (with an image put there by `lse node pull`). Root only (containerd, overlay mounts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatKey, generateKeyPair, publicKeyOf } from '@lse/core';
import { buildFragment } from '@lse/engine';
import { makeS3Client } from '@lse/adapter-s3';
import { tamperS3Object } from '@lse/adapter-s3/testing';
import { gatewayApi, nodeTestLock, testServers } from '@lse/testing';

jest.setTimeout(600_000);

const env = process.env;
const SERVER = env['LSE_SERVER'] ?? '';
const TOKEN = env['LSE_TOKEN'] ?? '';
const CTRD = env['CONTAINERD_ADDRESS'] ?? '';
const CONTROL = env['LSE_NODE_CONTROL_SOCKET'] ?? '';
const ROOT = env['LSE_NODE_ROOT'] ?? '';
const HOST = SERVER.replace(/^https?:\/\//, '').replace(/\/+$/, '');
const repo = join(__dirname, '../../..');
const run = Date.now().toString(36);
const isRoot = process.getuid?.() === 0;

interface NodeState {
  counters: Record<string, number>;
  refs: Record<string, number>;
  fragments: Record<string, { dir: string; bytes: number; label: string }>;
  snapshots: { key: string; kind: string; fragments?: string[] }[];
  held: Record<string, string>;
}

function control<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: CONTROL, agent: false, method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
const state = async () => (await control<NodeState>('GET', '/state')).body;
/** The node tier's count in the agent's /metrics (control socket). */
const nodeTierHits = () =>
  new Promise<number>((resolve, reject) => {
    const req = request({ socketPath: CONTROL, agent: false, method: 'GET', path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        const m = /^lse_cache_tier_lookups_total\{[^}]*tier="node"[^}]*\} (\d+)$/m.exec(text);
        if (m) resolve(Number(m[1]));
        else reject(new Error(`no node tier in /metrics:\n${text}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
const counter = (s: NodeState, name: string) => s.counters[name] ?? 0;

const api = gatewayApi(SERVER, TOKEN);

const lse = (...args: string[]) =>
  spawnSync('node', [join(repo, 'apps/cli/bin/lse.js'), '--server', SERVER, ...args], {
    cwd: repo,
    env: process.env,
    encoding: 'utf8',
    timeout: 900_000,
  });
const ctr = (...args: string[]) =>
  spawnSync('ctr', ['--address', CTRD, ...args], { encoding: 'utf8', timeout: 600_000 });

function manifest(dir: string, name: string, require: string[], file: string): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'lse.dev/v1',
      kind: 'DependencyManifest',
      metadata: { name },
      base: 'minimal',
      require: require.map((n) => ({ name: n })),
      files: [{ path: `/etc/${name}`, content: file }],
    }),
  );
  return path;
}

(isRoot ? describe : describe.skip)('lse-node with containerd (the stack with LSE_NODE=1)', () => {
  let work: string;
  let release: (() => void) | undefined;

  beforeAll(async () => {
    if (!SERVER || !TOKEN || !CTRD || !CONTROL)
      throw new Error(
        'the node int test needs the stack with the node: LSE_NODE=1 bash infra/local/stack.sh up && eval "$(LSE_NODE=1 bash infra/local/stack.sh env)"',
      );
    release = await nodeTestLock(`${ROOT}.int-test.lock`); // one node int spec file at a time (node-debian.int.spec.ts)
    work = mkdtempSync(join(tmpdir(), 'lse-node-'));
    const bases = (await api<{ name: string }[]>('GET', '/v1/bases')).body;
    const have = async (n: string) => (await api('GET', `/v1/fragments/${n}`)).status === 200;
    if (bases.some((b) => b.name === 'minimal') && (await have('curl')) && (await have('jq'))) return;
    const cli = (...a: string[]) =>
      execFileSync('node', [join(repo, 'apps/cli/bin/lse.js'), '--server', SERVER, ...a], {
        cwd: repo,
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 900_000,
      });
    cli('keys', 'generate', '--name', `node${run}`, '--out', work);
    cli('trust', 'add', join(work, `node${run}.pub`));
    const key = join(work, `node${run}.key`);
    const cache = env['LSE_APT_CACHE'] || join(env['HOME'] ?? '/root', '.cache/lse/apt');
    if (!bases.some((b) => b.name === 'minimal'))
      cli(
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
    cli('import', 'apt', 'curl', 'jq', '--key', key, '--cache', cache);
  });

  afterAll(() => release?.());

  let firstSynthesis = '';

  it('lse node run: curl runs in an overlay of fragment directories, the exit code is passed through, nothing is left behind', async () => {
    const before = await state();
    const r = lse(
      'node',
      'run',
      manifest(work, `node-curl-${run}`, ['curl'], `${run}\n`),
      '--',
      'sh',
      '-c',
      'curl --version; cat /proc/mounts; exit 3',
    );
    expect([r.status, r.stderr.includes('Error') ? r.stderr : '']).toEqual([3, '']);
    expect(r.stdout).toMatch(/^curl \d+\.\d+/);
    const rootMount = r.stdout.split('\n').find((l) => l.startsWith('overlay / overlay')) ?? '';
    const lowers = /lowerdir=([^,]+)/.exec(rootMount)?.[1]?.split(':') ?? [];
    expect(lowers.length).toBeGreaterThan(20); // curl's closure less what the Debian base already holds (base-aware resolution), the base, the inline files
    expect(lowers.filter((l) => !l.startsWith(`${ROOT}/f/`))).toEqual([]); // every layer is a fragment-cache directory
    firstSynthesis = /synthesized (syn-\S+)/.exec(r.stderr)?.[1] ?? '';
    expect(firstSynthesis).not.toBe('');

    const after = await state();
    expect(counter(after, 'layersExtracted')).toBe(counter(before, 'layersExtracted')); // nothing went through containerd's extract path
    expect(after.snapshots.filter((s) => s.kind !== 'committed')).toEqual([]); // the writable snapshot is gone
    expect(
      ctr('-n', 'default', 'containers', 'ls', '-q')
        .stdout.split('\n')
        .filter((c) => c.startsWith('lse-run-')),
    ).toEqual([]);
    expect(readFileSync('/proc/self/mounts', 'utf8').includes(`${ROOT}/`)).toBe(false);
    expect(after.held).toEqual({});
    const rec = await api<{ lease: unknown }>('GET', `/v1/syntheses/${firstSynthesis}`);
    expect(rec.body.lease).toBeNull(); // released
  });

  it('a second image sharing fragments materializes only the ones it does not share, and unpacks nothing through containerd', async () => {
    const before = await state();
    const hitsBefore = await nodeTierHits();
    const known = new Set(Object.keys(before.fragments));
    const r = lse(
      'node',
      'run',
      manifest(work, `node-jq-${run}`, ['curl', 'jq'], `${run} jq\n`),
      '--',
      'sh',
      '-c',
      'jq --version && curl --version >/dev/null',
    );
    expect([r.status, r.stderr.includes('Error') ? r.stderr : '']).toEqual([0, '']);
    expect(r.stdout).toMatch(/^jq-1\./);
    const after = await state();
    const added = Object.keys(after.fragments).filter((id) => !known.has(id));
    expect(counter(after, 'fragmentsMaterialized') - counter(before, 'fragmentsMaterialized')).toBe(added.length);
    // At most jq, libjq1, libonig5, the inline-files layer and the dpkg-database layer are new; curl's closure is shared.
    const labels = added.map((id) => after.fragments[id]!.label);
    expect(labels.filter((l) => l.startsWith('curl@') || l.startsWith('libcurl4@'))).toEqual([]);
    // The shared ones were answered by the node tier, and /metrics counts them.
    expect(await nodeTierHits()).toBeGreaterThan(hitsBefore);
    expect(added.length).toBeLessThanOrEqual(5);
    expect(
      Object.values(after.fragments)
        .map((f) => f.label)
        .filter((l) => /^(jq|libjq1|libonig5)@/.test(l)),
    ).toHaveLength(3);
    expect(counter(after, 'layersExtracted')).toBe(counter(before, 'layersExtracted'));
  });

  it('runs an image of more than 62 fragment layers (short directory names keep the overlay options in one page)', async () => {
    const key = generateKeyPair(`node-many-${run}`).secretKey;
    const prefix = `nodemany${run}`;
    expect(
      (await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`${prefix}*`] })).status,
    ).toBe(201);
    const names = Array.from({ length: 64 }, (_, i) => `${prefix}-${i}`);
    const statuses: number[] = [];
    for (let i = 0; i < names.length; i += 8) {
      statuses.push(
        ...(await Promise.all(
          names.slice(i, i + 8).map(async (name) => {
            const { fragment, blob } = buildFragment({
              entries: [
                {
                  path: `usr/share/many/${name}`,
                  type: 'file',
                  mode: 0o644,
                  uid: 0,
                  gid: 0,
                  mtime: 0,
                  size: name.length + 1,
                  data: Buffer.from(`${name}\n`),
                },
              ],
              name,
              version: '1.0.0',
              scheme: 'semver',
              key,
              epoch: 0,
              source: { type: 'test' },
            });
            return (await api('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') })).status;
          }),
        )),
      );
    }
    expect(new Set(statuses)).toEqual(new Set([201]));
    const r = lse(
      'node',
      'run',
      manifest(work, `node-many-${run}`, names, 'many\n'),
      '--',
      'sh',
      '-c',
      `cat /usr/share/many/${names[0]} /usr/share/many/${names[63]}; cat /proc/mounts`,
    );
    expect([r.status, r.stderr.includes('Error') ? r.stderr : '']).toEqual([0, '']);
    expect(r.stdout.startsWith(`${names[0]}\n${names[63]}\n`)).toBe(true);
    const rootMount = r.stdout.split('\n').find((l) => l.startsWith('overlay / overlay')) ?? '';
    expect((/lowerdir=([^,]+)/.exec(rootMount)?.[1]?.split(':') ?? []).length).toBeGreaterThan(64); // 64 fragments, the base, the inline files
  });

  it('ctr images pull --user lse:TOKEN --snapshotter lse from the gateway, then ctr run', async () => {
    const name = `nodepull${run}`;
    const key = generateKeyPair(`node-pull-${run}`).secretKey;
    expect(
      (await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`${name}*`] })).status,
    ).toBe(201);
    const { fragment, blob } = buildFragment({
      entries: [
        {
          path: `usr/share/${name}/data`,
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 0,
          size: 6,
          data: Buffer.from('hello\n'),
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
    const image = `${HOST}/pkgs/${name}:minimal`;
    const pull = ctr('images', 'pull', '--plain-http', '--user', `lse:${TOKEN}`, '--snapshotter', 'lse', image);
    expect([pull.status, pull.status === 0 ? '' : pull.stderr]).toEqual([0, '']);
    const out = ctr('run', '--rm', '--snapshotter', 'lse', image, `lse-pull-${run}`, 'cat', `/usr/share/${name}/data`);
    expect([out.status, out.stdout, out.stderr]).toEqual([0, 'hello\n', '']);
    expect(ctr('images', 'rm', '--sync', image).status).toBe(0);
  });

  it('plain ctr images pull --snapshotter lse: a second image sharing fragments materializes only its own, and containerd unpacks at most the first layer it has no record of', async () => {
    const pull = (image: string) =>
      ctr('images', 'pull', '--plain-http', '--user', `lse:${TOKEN}`, '--snapshotter', 'lse', image);
    const first = `${HOST}/pkgs/curl:minimal`;
    const second = `${HOST}/pkgs/curl/jq:minimal`;
    const s0 = await state();
    const a = pull(first);
    expect([a.status, a.status === 0 ? '' : a.stderr]).toEqual([0, '']);
    const s1 = await state();
    // ctr 1.6 applies layers in order and skips those containerd has a record of: it prepares an
    // extract snapshot for the first one only; the agent then made the rest of the chain from the cache.
    expect(counter(s1, 'extractPrepares') - counter(s0, 'extractPrepares')).toBeLessThanOrEqual(1);
    expect(counter(s1, 'layersExtracted')).toBe(counter(s0, 'layersExtracted'));
    const known = new Set(Object.keys(s1.fragments));
    const b = pull(second);
    expect([b.status, b.status === 0 ? '' : b.stderr]).toEqual([0, '']);
    const s2 = await state();
    expect(counter(s2, 'extractPrepares') - counter(s1, 'extractPrepares')).toBeLessThanOrEqual(1);
    expect(counter(s2, 'layersExtracted')).toBe(counter(s1, 'layersExtracted')); // no layer was committed from containerd's extraction
    expect(counter(s2, 'layersFromCache') - counter(s1, 'layersFromCache')).toBeGreaterThan(0);
    const added = Object.keys(s2.fragments).filter((id) => !known.has(id));
    expect(counter(s2, 'fragmentsMaterialized') - counter(s1, 'fragmentsMaterialized')).toBe(added.length); // counted: only what was missing
    expect(added.map((id) => s2.fragments[id]!.label).filter((l) => /^(curl|libcurl4)@/.test(l))).toEqual([]);
    const out = ctr(
      'run',
      '--rm',
      '--snapshotter',
      'lse',
      second,
      `lse-pulljq-${run}`,
      'sh',
      '-c',
      'jq --version && curl --version >/dev/null',
    );
    expect([out.status, out.stdout, out.stderr]).toEqual([0, expect.stringMatching(/^jq-1\./), '']);
    for (const image of [second, first]) expect(ctr('images', 'rm', '--sync', image).status).toBe(0);
  });

  it("ctr images pull through the agent's registry endpoint: every chain ID is recorded from the cache before the manifest reaches ctr, so nothing is extracted; a wrong token gets the gateway's 401 and prepares nothing", async () => {
    const REG = env['LSE_NODE_REGISTRY'] ?? '';
    expect(REG).not.toBe(''); // stack.sh env prints it with LSE_NODE=1
    // jq (on the node already) and a fragment of this run: a chain containerd has no record of
    // above their first difference, whatever ran on this node before.
    const name = `nodemirror${run}`;
    const key = generateKeyPair(`node-mirror-${run}`).secretKey;
    expect(
      (await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`${name}*`] })).status,
    ).toBe(201);
    const { fragment, blob } = buildFragment({
      entries: [
        {
          path: `usr/share/${name}/data`,
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 0,
          size: 7,
          data: Buffer.from('mirror\n'),
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
    const image = `${REG}/pkgs/jq/${name}:minimal`;
    const pull = (user: string) => ctr('images', 'pull', '--plain-http', '--user', user, '--snapshotter', 'lse', image);
    const s0 = await state();
    const bad = pull('lse:not-a-token');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/401/);
    const direct = await fetch(`http://${REG}/v2/pkgs/jq/${name}/manifests/minimal`, {
      headers: { authorization: 'Bearer not-a-token', accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(direct.status).toBe(401);
    expect(direct.headers.get('www-authenticate')).toContain(`realm="http://${REG}/v2/token"`); // the realm points back here
    const s1 = await state();
    for (const c of ['registryImagesPrepared', 'layersFromCache', 'extractPrepares'])
      expect([c, counter(s1, c)]).toEqual([c, counter(s0, c)]);

    const known = new Set(Object.keys(s1.fragments));
    const ok = pull(`lse:${TOKEN}`);
    expect([ok.status, ok.status === 0 ? '' : ok.stderr]).toEqual([0, '']);
    const s2 = await state();
    expect(counter(s2, 'registryImagesPrepared') - counter(s1, 'registryImagesPrepared')).toBe(1);
    expect(counter(s2, 'extractPrepares')).toBe(counter(s1, 'extractPrepares')); // ctr's unpack found every chain ID
    expect(counter(s2, 'layersExtracted')).toBe(counter(s1, 'layersExtracted'));
    expect(counter(s2, 'layersFromCache') - counter(s1, 'layersFromCache')).toBeGreaterThan(0);
    const added = Object.keys(s2.fragments).filter((id) => !known.has(id));
    expect(counter(s2, 'fragmentsMaterialized') - counter(s1, 'fragmentsMaterialized')).toBe(added.length);
    expect(added.map((id) => s2.fragments[id]!.label).filter((l) => /^(jq|libjq1|libonig5)@/.test(l))).toEqual([]); // on the node already
    expect(added.map((id) => s2.fragments[id]!.label)).toContain(`${name}@1.0.0`);
    const out = ctr(
      'run',
      '--rm',
      '--snapshotter',
      'lse',
      image,
      `lse-mirror-${run}`,
      'sh',
      '-c',
      `jq --version && cat /usr/share/${name}/data`,
    );
    expect([out.status, out.stdout, out.stderr]).toEqual([0, expect.stringMatching(/^jq-1\.[^\n]*\nmirror\n$/), '']);
    expect(ctr('images', 'rm', '--sync', image).status).toBe(0);
  });

  it('never extracts a fragment whose cached blob was altered: the run fails with the verification error', async () => {
    const name = `nodetamper${run}`;
    const key = generateKeyPair(`node-tamper-${run}`).secretKey;
    expect(
      (await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`${name}*`] })).status,
    ).toBe(201);
    const content = Buffer.alloc(4096, `tampered ${run}\n`);
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
          data: content,
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
    const file = manifest(work, `node-tamper-${run}`, [name], 'x\n');
    const syn = await api<{ status: string; key: string; result: { manifestDigest: string; configDigest: string } }>(
      'POST',
      '/v1/syntheses',
      { manifest: JSON.parse(readFileSync(file, 'utf8')) },
      { prefer: 'wait=300' },
    );
    expect(syn.body.status).toBe('completed');
    const bad = Buffer.from(blob);
    bad[bad.length - 1] ^= 0xff;
    const servers = testServers();
    await tamperS3Object(
      makeS3Client(servers.s3),
      servers.s3.bucket,
      `fragments/sha256/${fragment.descriptor.blob.digest.slice(7)}`,
      bad,
    );
    const before = await state();
    const r = lse('node', 'run', file, '--', 'true');
    expect(r.status).toBe(4); // verification
    expect(r.stderr).toMatch(/DIGEST_MISMATCH|altered|does not match/);
    const after = await state();
    expect(Object.keys(after.fragments)).not.toContain(fragment.id);
    expect(counter(after, 'fragmentsRefused')).toBe(counter(before, 'fragmentsRefused') + 1);

    // Through the agent's registry endpoint: the agent cannot make that layer from the cache, so
    // the manifest is relayed anyway and containerd unpacks the layers from there up itself (from
    // the gateway's layer blobs); the altered fragment still gets no directory.
    const mirrored = `${env['LSE_NODE_REGISTRY'] ?? ''}/synth/${syn.body.key.slice(7)}:latest`;
    // The failed run's seeding may have written the manifest and config into containerd's content
    // store (they go in while the layers are checked; garbage once its lease is gone): remove them,
    // so that ctr fetches the manifest through the endpoint rather than finding it locally.
    for (const digest of [syn.body.result.manifestDigest, syn.body.result.configDigest])
      ctr('-n', 'default', 'content', 'rm', digest);
    const m0 = await state();
    const pulled = ctr('images', 'pull', '--plain-http', '--user', `lse:${TOKEN}`, '--snapshotter', 'lse', mirrored);
    expect([pulled.status, pulled.status === 0 ? '' : pulled.stderr]).toEqual([0, '']);
    const m1 = await state();
    expect(counter(m1, 'registryPrepareFailures') - counter(m0, 'registryPrepareFailures')).toBe(1);
    expect(counter(m1, 'registryImagesPrepared')).toBe(counter(m0, 'registryImagesPrepared'));
    expect(counter(m1, 'extractPrepares')).toBeGreaterThan(counter(m0, 'extractPrepares')); // containerd's own path ran
    expect(counter(m1, 'fragmentsRefused')).toBeGreaterThan(counter(m0, 'fragmentsRefused'));
    expect(Object.keys(m1.fragments)).not.toContain(fragment.id);
    expect(ctr('images', 'rm', '--sync', mirrored).status).toBe(0);
    await tamperS3Object(
      makeS3Client(servers.s3),
      servers.s3.bucket,
      `fragments/sha256/${fragment.descriptor.blob.digest.slice(7)}`,
      blob,
    );
  });

  it('the collector removes the directories no snapshot references, and only those', async () => {
    const pulled = lse('node', 'pull', 'pkgs/curl:minimal'); // seeded from the cache, held by containerd's image record
    expect([pulled.status, pulled.stdout.trim()]).toEqual([0, `${HOST}/pkgs/curl:minimal`]);
    const s = await state();
    const unreferenced = Object.keys(s.refs).filter((id) => s.refs[id] === 0);
    const referenced = Object.keys(s.refs).filter((id) => s.refs[id]! > 0);
    expect(unreferenced.length).toBeGreaterThan(0); // jq's fragments: their image is gone
    expect(referenced.length).toBeGreaterThan(20); // curl's closure (less the base's packages), held by the image above
    const removed = (await control<{ removed: string[] }>('POST', '/collect', { budgetBytes: 0 })).body.removed;
    expect(removed.sort()).toEqual(unreferenced.sort());
    for (const id of referenced) expect(existsSync(join(ROOT, s.fragments[id]!.dir))).toBe(true);
    for (const id of unreferenced) expect(existsSync(join(ROOT, s.fragments[id]!.dir))).toBe(false);
    expect((await control('POST', '/images/remove', { ref: `${HOST}/pkgs/curl:minimal` })).status).toBe(200);
  });
});
