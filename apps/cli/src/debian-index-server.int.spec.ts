/**
 * `lse import debian-index --server` and synthesis of indexed packages by the running services:
 * a Packages index (the closure of `tree` from the host's apt lists) is published to the gateway
 * in batches as metadata-only fragments; synthesizing `tree` on scratch makes the fetcher
 * download the .debs from the archive the index names (a local HTTP mirror serving real .debs),
 * the verifier check them against the signed SHA256 and derive their content, and the assembler
 * build the image, which runs `tree --version` under chroot. A package whose index entry names a
 * digest the mirror's bytes do not have fails at the verifier with DIGEST_MISMATCH.
 *
 * Needs the stack (LSE_SERVER), a Debian host and root; skipped with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DebianIndexCatalog, formatParagraph, resolve, type ControlParagraph } from '@lse/core';
import { aptDownload, hostArch, readAptIndex } from '@lse/adapter-deb';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { lse, parseJson, removeTempDirs, requireBuiltCli, tempDir, type RunResult } from './testkit';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const reason =
  !has('dpkg-deb') || !has('apt-get')
    ? 'not a Debian host (dpkg-deb/apt-get missing)'
    : process.getuid?.() !== 0
      ? 'not root (chroot needs root)'
      : !has('chroot')
        ? 'chroot missing'
        : undefined;
if (reason) console.warn(`debian-index-server.int.spec.ts skipped: ${reason}`);
const suite = reason ? describe.skip : describe;

jest.setTimeout(10 * 60_000);

const SERVER = process.env['LSE_SERVER'];
const TOKEN = process.env['LSE_TOKEN'];
const CACHE = process.env['LSE_APT_CACHE'] || join(homedir(), '.cache', 'lse', 'apt');
const RUN = Date.now().toString(36);
let work: string;
let store: string;
let mirror: Server;
const files = new Map<string, string>();
const served: string[] = [];

async function cli(...args: string[]): Promise<RunResult> {
  return lse(store, ['--server', SERVER!, '--token', TOKEN!, '-q', ...args]);
}
async function cliOk(...args: string[]): Promise<string> {
  const r = await cli(...args);
  if (r.code !== 0) throw new Error(`lse ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

suite('Debian index through the services (lse --server)', () => {
  let packagesFile: string;
  let closure: ControlParagraph[];
  let key: string;
  let mirrorUrl: string;

  beforeAll(async () => {
    if (!SERVER || !TOKEN)
      throw new Error(
        'this test needs the stack: bash infra/local/stack.sh up && eval "$(bash infra/local/stack.sh env)"',
      );
    requireBuiltCli();
    const lists =
      existsSync('/var/lib/apt/lists') && readdirSync('/var/lib/apt/lists').some((f) => f.includes('_Packages'));
    if (!lists) expect(spawnSync('apt-get', ['update'], { stdio: 'ignore' }).status).toBe(0);
    work = await tempDir('lse-index-server-');
    store = join(work, 'store');
    const arch = await hostArch();
    const index = await readAptIndex();
    const catalog = new DebianIndexCatalog(index.paragraphs, [arch, 'all']);
    const { fragments } = resolve({ requirements: [{ name: 'tree' }], platform: { os: 'linux', arch }, catalog });
    closure = fragments.map((f) => catalog.paragraphOf(f)!);
    const debs = await aptDownload(
      closure.map((p) => ({ name: p['Package']!, version: p['Version']!, arch: p['Architecture']! })),
      CACHE,
    );
    closure.forEach((p, i) => files.set(p['Filename']!, debs[i]!));
    // An entry whose SHA256 is not that of the bytes served for it (as if the mirror altered them).
    const tree = closure.find((p) => p['Package'] === 'tree')!;
    const probe = {
      ...tree,
      Package: `lse-probe-${RUN}`,
      Filename: `pool/main/l/lse-probe/lse-probe-${RUN}_all.deb`,
      SHA256: 'ab'.repeat(32),
    };
    files.set(probe.Filename, debs[closure.indexOf(tree)]!);
    packagesFile = join(work, 'Packages');
    await writeFile(packagesFile, [...closure, probe].map(formatParagraph).join('\n'));

    mirror = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? '').replace(/^\/debian\//, ''));
      served.push(path);
      const local = files.get(path);
      if (!local) return void res.writeHead(404).end();
      const data = readFileSync(local);
      res.writeHead(200, { 'content-length': data.length }).end(data);
    });
    // A fixed port: the archive URL is part of each signed descriptor, and a stack reused across
    // runs keeps the fragments of earlier runs, which must still find their archive.
    await new Promise<void>((ok) =>
      mirror.listen(Number(process.env['LSE_TEST_MIRROR_PORT'] || 18765), '127.0.0.1', ok),
    );
    mirrorUrl = `http://127.0.0.1:${(mirror.address() as { port: number }).port}/debian`;

    await cliOk('keys', 'generate', '--name', `index-${RUN}`, '--out', work);
    key = join(work, `index-${RUN}.key`);
    await cliOk('trust', 'add', join(work, `index-${RUN}.pub`));
  });
  afterAll(async () => {
    await new Promise((ok) => (mirror ? mirror.close(ok) : ok(undefined)));
    await removeTempDirs();
  });

  it('publishes the index in batches, idempotently, downloading nothing', async () => {
    const first = parseJson<{ packages: number; created: number; existing: number }>(
      await cliOk(
        '--json',
        'import',
        'debian-index',
        packagesFile,
        '--allow-unsigned',
        '--mirror',
        mirrorUrl,
        '--key',
        key,
      ),
    );
    expect(first.packages).toBe(closure.length + 1);
    expect(first.created + first.existing).toBe(closure.length + 1);
    expect(first.created).toBeGreaterThanOrEqual(1); // at least this run's probe (a stack reused across runs has the others)
    const again = parseJson<{ created: number; existing: number }>(
      await cliOk(
        '--json',
        'import',
        'debian-index',
        packagesFile,
        '--allow-unsigned',
        '--mirror',
        mirrorUrl,
        '--key',
        key,
      ),
    );
    expect(again).toMatchObject({ created: 0, existing: closure.length + 1 });
    expect(served).toEqual([]);
  });

  it('synthesizes tree: the services fetch, verify and derive the .debs; the image runs', async () => {
    const m = join(work, 'tree.yaml');
    // a label unique to this run: a new synthesis key, so the gateway's result cache cannot answer
    await writeFile(
      m,
      `apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: tree }\nbase: scratch\nplatform: { os: linux, arch: amd64 }\nlabels: { run: "${RUN}" }\nrequire:\n  - name: tree\n`,
    );
    // A stack reused across runs may have these .debs in its cache (it is content-addressed);
    // evict them so this synthesis has to download them.
    const s3 = new S3Client({
      endpoint: process.env['S3_ENDPOINT'],
      region: process.env['S3_REGION'] || 'us-east-1',
      forcePathStyle: true,
      credentials: {
        accessKeyId: process.env['S3_ACCESS_KEY_ID']!,
        secretAccessKey: process.env['S3_SECRET_ACCESS_KEY']!,
      },
    });
    for (const p of closure)
      await s3.send(
        new DeleteObjectCommand({
          Bucket: process.env['S3_BUCKET'] || 'lse',
          Key: `fragments/sha256/${p['SHA256']!.toLowerCase()}`,
        }),
      );
    s3.destroy();
    const root = join(work, 'rootfs');
    const out = parseJson<{ synthesisId: string }>(
      await cliOk('--json', 'synth', m, '--out', join(work, 'img'), '--rootfs', root),
    );
    expect(out.synthesisId).not.toMatch(/^cli-/);
    // tree exists only in the index; its dependencies may also be in the stack as fragments
    // imported from .debs by another test (same versions: either satisfies the lock)
    expect(served).toContain(closure.find((p) => p['Package'] === 'tree')!['Filename']);
    expect(served.every((p) => closure.some((c) => c['Filename'] === p))).toBe(true);
    expect(served.length).toBe(new Set(served).size); // each .deb downloaded once
    const r = spawnSync('chroot', [root, 'tree', '--version'], {
      encoding: 'utf8',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^tree v\d/);
    expect(readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8')).toMatch(
      /Package: tree\nStatus: install ok installed\n/,
    );
  });

  it('fails a package whose .deb does not have the signed digest, at the verifier', async () => {
    const m = join(work, 'probe.yaml');
    await writeFile(
      m,
      `apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: probe }\nbase: scratch\nplatform: { os: linux, arch: amd64 }\nrequire:\n  - name: lse-probe-${RUN}\n`,
    );
    const r = await cli('--json', 'synth', m, '--out', join(work, 'img-probe'));
    expect(r.code).toBe(4);
    const err = parseJson<{ error: { code: string; message: string } }>(r.stdout || r.stderr);
    expect(err.error.code).toBe('DIGEST_MISMATCH');
    expect(err.error.message).toMatch(new RegExp(`lse-probe-${RUN}@.*the index says sha256:${'ab'.repeat(32)}`));
    expect(existsSync(join(work, 'img-probe', 'index.json'))).toBe(false);
  });
});
