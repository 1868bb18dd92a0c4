/**
 * Derivation signatures through the services: a package of bookworm-updates (the host's real
 * InRelease and Packages list), imported with `--release` into an embedded store, carries only a
 * derivation signature. The gateway's batch route refuses such a fragment whose proof names a
 * blob the fragment origin does not have, or a release not registered there, and accepts it once
 * its proof blobs (InRelease, Packages) are uploaded and the release registered; the services then
 * synthesize it, the verifier accepting it by Debian's chain (LSE_DEBIAN_KEYRING, default the
 * host's Debian archive keyring) and the .deb coming from a local mirror. With the node agent
 * (a stack started with LSE_NODE=1), lse-node pulls the image, verifying the fragment the same way.
 *
 * Needs the stack (LSE_SERVER, MONGO_URL), the host's bookworm-updates lists, the Debian keyring,
 * apt-get and root (apt-get download); skipped with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fragmentId, paragraphAt, paragraphSpans, sha256Digest, type Fragment } from '@lse/core';
import { aptDownload, readIndexBytes } from '@lse/adapter-deb';
import { openFsStore } from '@lse/adapter-fs';
import { lse, parseJson, removeTempDirs, requireBuiltCli, tempDir, type RunResult } from './testkit';

const LISTS = '/var/lib/apt/lists';
const IN_RELEASE = `${LISTS}/deb.debian.org_debian_dists_bookworm-updates_InRelease`;
const PACKAGES = `${LISTS}/deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages.lz4`;
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const reason = ![IN_RELEASE, PACKAGES, KEYRING].every((f) => existsSync(f))
  ? 'no bookworm-updates apt lists or Debian archive keyring'
  : process.getuid?.() !== 0 || spawnSync('sh', ['-c', 'command -v apt-get && command -v dpkg-deb']).status !== 0
    ? 'not root on a Debian host (apt-get download)'
    : undefined;
if (reason) console.warn(`debian-derivation-server.int.spec.ts skipped: ${reason}`);
const suite = reason ? describe.skip : describe;

jest.setTimeout(5 * 60_000);

const SERVER = process.env['LSE_SERVER'];
const TOKEN = process.env['LSE_TOKEN'];
const CACHE = process.env['LSE_APT_CACHE'] || join(homedir(), '.cache', 'lse', 'apt');
const RUN = Date.now().toString(36);
const PKG = 'samba-ad-provision'; // in bookworm-updates, no dependencies

suite('derivation signatures through the services', () => {
  let work: string;
  let local: string;
  let mirror: Server;
  let mirrorUrl: string;
  let packages: Buffer;
  /** The embedded store, whatever LSE_SERVER says. */
  const embedded = (...args: string[]): Promise<RunResult> =>
    lse(local, ['-q', ...args], { env: { LSE_SERVER: '', LSE_TOKEN: '' } });
  const remote = (...args: string[]): Promise<RunResult> =>
    lse(local, ['--server', SERVER!, '--token', TOKEN!, '-q', ...args]);
  const ok = async (r: Promise<RunResult>, what: string): Promise<string> => {
    const x = await r;
    if (x.code !== 0) throw new Error(`${what} exited ${x.code}\nstdout: ${x.stdout}\nstderr: ${x.stderr}`);
    return x.stdout;
  };
  const batch = async (fragments: Fragment[]) => {
    const res = await fetch(`${SERVER}/v1/fragments/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fragments }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { created: number; existing: number; rejected: { code: string; message: string }[] };
  };

  beforeAll(async () => {
    if (!SERVER || !TOKEN || !process.env['MONGO_URL'])
      throw new Error(
        'this test needs the stack: bash infra/local/stack.sh up && eval "$(bash infra/local/stack.sh env)"',
      );
    requireBuiltCli();
    work = await tempDir('lse-derivation-server-');
    local = join(work, 'store');
    packages = await readIndexBytes(PACKAGES);
    const span = paragraphSpans(packages).find((s) => paragraphAt(packages, s)['Package'] === PKG)!;
    const p = paragraphAt(packages, span);
    const [deb] = await aptDownload([{ name: PKG, version: p['Version']!, arch: p['Architecture']! }], CACHE);
    mirror = createServer((req, res) => {
      if (decodeURIComponent(req.url ?? '') !== `/debian/${p['Filename']}`) return void res.writeHead(404).end();
      res.writeHead(200).end(readFileSync(deb!));
    });
    // any free port: the archive URL is part of each descriptor, so each run has its own fragments
    await new Promise<void>((done) => mirror.listen(0, '127.0.0.1', done));
    mirrorUrl = `http://127.0.0.1:${(mirror.address() as { port: number }).port}/debian`;
    const keyName = `derive-${RUN}`;
    await ok(embedded('keys', 'generate', '--name', keyName, '--out', work), 'keys generate');
    await ok(embedded('trust', 'add', join(work, `${keyName}.pub`)), 'trust add (embedded)');
    await ok(remote('trust', 'add', join(work, `${keyName}.pub`)), 'trust add (gateway)');
    await ok(
      embedded(
        'import',
        'debian-index',
        PACKAGES,
        '--release',
        IN_RELEASE,
        '--mirror',
        mirrorUrl,
        '--key',
        join(work, `${keyName}.key`),
      ),
      'import debian-index --release (embedded)',
    );
  });
  afterAll(async () => {
    await new Promise((done) => (mirror ? mirror.close(done) : done(undefined)));
    await removeTempDirs();
  });

  it("is refused by the gateway without its proof blobs or its release, accepted with both, and synthesized with Debian's chain", async () => {
    const all = await openFsStore(local).fragments.list();
    expect(all.length).toBeGreaterThan(0);
    expect(all.every((f) => f.signatures.map((s) => s.covers).join() === 'derivation')).toBe(true);
    // Only the one package this test needs goes to the stack's gateway: the index's other
    // packages (ca-certificates, libssl3, tzdata, ... at their newest versions) would name this
    // test's mirror, gone after it, and a later synthesis resolving them would fail to fetch.
    const fragments = all.filter((f) => f.descriptor.name === PKG);
    expect(fragments).toHaveLength(1);

    // a proof naming a Packages blob the origin does not have (the derivation signature, over
    // the name and metadata.derive, still verifies): refused, nothing stored
    const f0 = fragments[0]!;
    const missing = sha256Digest(Buffer.from(`not stored ${RUN}`));
    const d = {
      ...f0.descriptor,
      source: { ...f0.descriptor.source, debian: { ...(f0.descriptor.source['debian'] as object), packages: missing } },
    };
    const refused = await batch([{ ...f0, id: fragmentId(d), descriptor: d }]);
    expect(refused).toMatchObject({
      created: 0,
      rejected: [
        {
          code: 'DEBIAN_CHAIN_UNVERIFIED',
          message: expect.stringMatching(
            // the InRelease too, on a stack that never had this release's blobs
            /(InRelease|Packages file) sha256:[0-9a-f]{64} .* is not in the fragment blob store/,
          ),
        },
      ],
    });

    // the proof blobs uploaded (what `import debian-index --release --server` does first;
    // content-addressed, so a stack reused across runs may have them already) ...
    const inRelease = await readFile(IN_RELEASE);
    for (const blob of [inRelease, packages]) {
      const res = await fetch(`${SERVER}/v1/debian/blobs/${sha256Digest(blob)}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/octet-stream' },
        body: blob,
      });
      expect([200, 201]).toContain(res.status);
    }
    // ... but its release not registered with this gateway: refused (the rollback rule applies to
    // every release a fragment names), unless an earlier run on this stack registered it
    const before = await batch(fragments);
    if (before.created === 0 && before.existing === 0)
      expect(before.rejected.map((r) => r.code)).toEqual(['DEBIAN_PROOF_UNKNOWN']);
    const reg = await fetch(`${SERVER}/v1/debian/releases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ inRelease: sha256Digest(inRelease), packages: [sha256Digest(packages)] }),
    });
    expect(reg.status).toBeLessThan(300);
    const accepted = await batch(fragments);
    expect(accepted.rejected).toEqual([]);
    expect(accepted.created + accepted.existing).toBe(1);

    const shown = parseJson<Fragment[]>(await ok(remote('--json', 'fragment', 'show', PKG), 'fragment show'));
    expect(shown.some((f) => f.signatures[0]?.covers === 'derivation')).toBe(true);

    const m = join(work, 'provision.yaml');
    await writeFile(
      m,
      `apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: provision }\nbase: scratch\nplatform: { os: linux, arch: amd64 }\nlabels: { run: "${RUN}" }\nrequire:\n  - name: ${PKG}\n`,
    );
    const out = parseJson<{ synthesisId: string; key: string }>(
      await ok(remote('--json', 'synth', m, '--out', join(work, 'img')), 'synth --server'),
    );
    expect(out.synthesisId).not.toMatch(/^cli-/);

    // with the node agent (LSE_NODE=1 stack): lse-node verifies the fragment itself, by the chain,
    // from the proof blobs in the origin, before extracting it
    if (process.env['LSE_NODE_CONTROL_SOCKET'] && process.env['CONTAINERD_ADDRESS']) {
      const pulled = parseJson<{ materialized: number; layers: number }>(
        await ok(remote('--json', 'node', 'pull', `synth/${out.key.replace(/^sha256:/, '')}:latest`), 'node pull'),
      );
      expect(pulled.materialized).toBeGreaterThanOrEqual(1);
    }
  });
});
