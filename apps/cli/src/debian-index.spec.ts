/**
 * `lse import debian-index` end to end through the embedded CLI: a Packages index (the jq closure
 * from the host's apt lists, plus a broken paragraph) is imported as metadata-only fragments;
 * synthesizing jq then downloads each .deb once from a mirror (a local HTTP server serving real
 * .debs fetched with apt-get download), checks it against the signed SHA256, derives the
 * fragment content, and the image runs jq under chroot. A mirror serving an altered .deb fails
 * the synthesis at verification and nothing is written.
 *
 * Needs a Debian host (dpkg-deb, apt-get) and root (chroot); otherwise skipped with the reason.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebianIndexCatalog, formatParagraph, resolve, type ControlParagraph } from '@lse/core';
import { aptDownload, hostArch, readAptIndex } from '@lse/adapter-deb';
import { main } from './main';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const reason =
  !has('dpkg-deb') || !has('apt-get')
    ? 'not a Debian host (dpkg-deb/apt-get missing)'
    : process.getuid?.() !== 0
      ? 'not root (chroot needs root)'
      : !has('chroot')
        ? 'chroot missing'
        : undefined;
if (reason) console.warn(`debian-index.spec.ts skipped: ${reason}`);
const suite = reason ? describe.skip : describe;

jest.setTimeout(10 * 60_000);

const CACHE = process.env['LSE_APT_CACHE'] || join(homedir(), '.cache', 'lse', 'apt');

let work: string;
let key: string;
let mirror: Server;
let mirrorUrl: string;
/** Archive path (Filename) → local .deb; requests served, by path. */
const files = new Map<string, string>();
const served: string[] = [];
let tamper: string | undefined;

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

const chroot = (root: string, ...cmd: string[]) =>
  spawnSync('chroot', [root, ...cmd], {
    encoding: 'utf8',
    input: '{"a":[1,2,3]}',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
  });

suite('lse import debian-index (embedded CLI, local mirror)', () => {
  let packagesFile: string;
  let closure: string[];
  const manifest = () => join(work, 'jq.yaml');

  beforeAll(async () => {
    const lists =
      existsSync('/var/lib/apt/lists') && readdirSync('/var/lib/apt/lists').some((f) => f.includes('_Packages'));
    if (!lists) expect(spawnSync('apt-get', ['update'], { stdio: 'ignore' }).status).toBe(0);
    work = await mkdtemp(join(tmpdir(), 'lse-index-'));
    const arch = await hostArch();
    const index = await readAptIndex();
    const catalog = new DebianIndexCatalog(index.paragraphs, [arch, 'all']);
    const { fragments } = resolve({ requirements: [{ name: 'jq' }], platform: { os: 'linux', arch }, catalog });
    const paragraphs = fragments.map((f) => catalog.paragraphOf(f)!) as ControlParagraph[];
    closure = paragraphs.map((p) => p['Package']!).sort();
    const debs = await aptDownload(
      paragraphs.map((p) => ({ name: p['Package']!, version: p['Version']!, arch: p['Architecture']! })),
      CACHE,
    );
    paragraphs.forEach((p, i) => files.set(p['Filename']!, debs[i]!));
    const broken = {
      Package: 'broken-entry',
      Version: '1.0',
      Architecture: 'all',
      Filename: 'pool/main/b/broken/broken_1.0_all.deb',
      Size: '10',
    };
    packagesFile = join(work, 'Packages');
    await writeFile(packagesFile, [...paragraphs, broken].map(formatParagraph).join('\n'));

    mirror = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? '').replace(/^\/debian\//, ''));
      const local = files.get(path);
      served.push(path);
      if (!local) return void res.writeHead(404).end('not found');
      const data = readFileSync(local);
      if (tamper && path.includes(`/${tamper}_`)) data[data.length - 100] ^= 0xff;
      res.writeHead(200, { 'content-length': data.length }).end(data);
    });
    await new Promise<void>((ok) => mirror.listen(0, '127.0.0.1', ok));
    mirrorUrl = `http://127.0.0.1:${(mirror.address() as { port: number }).port}/debian`;

    await lseOk(join(work, 'store'), 'keys', 'generate', '--name', 'index', '--out', work);
    key = join(work, 'index.key');
    await writeFile(
      manifest(),
      'apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: jq }\nbase: scratch\nplatform: { os: linux, arch: amd64 }\nrequire:\n  - name: jq\n',
    );
  });
  afterAll(async () => {
    await new Promise((ok) => (mirror ? mirror.close(ok) : ok(undefined)));
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('imports every package of the index as a metadata-only fragment, skipping a broken entry; re-running stores nothing', async () => {
    const store = join(work, 'store');
    await lseOk(store, 'trust', 'add', join(work, 'index.pub'));
    const first = JSON.parse(
      await lseOk(
        store,
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
    expect(first).toMatchObject({ packages: closure.length, created: closure.length, existing: 0, skipped: 1 });
    const again = JSON.parse(
      await lseOk(
        store,
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
    expect(again).toMatchObject({ packages: closure.length, created: 0, existing: closure.length, skipped: 1 });
    const shown = JSON.parse(await lseOk(store, '--json', 'fragment', 'show', 'jq')) as {
      descriptor: { files: unknown[]; blob: { mediaType: string; size: number }; source: Record<string, string> };
    }[];
    expect(shown[0]!.descriptor.files).toEqual([]);
    expect(shown[0]!.descriptor.blob.mediaType).toBe('application/vnd.debian.binary-package');
    expect(shown[0]!.descriptor.source).toMatchObject({
      type: 'debian-index',
      repo: mirrorUrl,
      debian: { unsigned: true },
    });
    expect(served).toEqual([]); // nothing downloaded at import
    const v = JSON.parse(await lseOk(store, '--json', 'verify'));
    expect(v).toMatchObject({ ok: true, fragments: closure.length, unfetched: closure.length });
  });

  it('synthesizes jq from the index: each .deb downloaded once, checked, derived; the image runs jq and dpkg knows it', async () => {
    const store = join(work, 'store');
    const root = join(work, 'rootfs');
    const digest = (await lseOk(store, 'synth', manifest(), '--out', join(work, 'img'), '--rootfs', root)).trim();
    expect([...served].sort()).toEqual([...files.keys()].sort());
    const r = chroot(root, 'jq', '-c', '.a | map(. * 2) | add');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('12\n');
    const status = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8');
    for (const p of closure) expect(status).toContain(`Package: ${p}\nStatus: install ok installed\n`);
    expect(await readFile(join(root, 'var/lib/dpkg/info/jq.list'), 'utf8')).toContain('/usr/bin/jq\n');
    served.length = 0;
    // again: the derived file indexes and Debian metadata come from the verdicts, the layers from
    // the layer records; the image is the same, byte for byte, and so it is without them
    expect((await lseOk(store, 'synth', manifest(), '--out', join(work, 'img2'))).trim()).toBe(digest);
    expect(served).toEqual([]); // served from the cache now
    expect(readdirSync(join(store, 'verdicts')).length).toBe(closure.length);
    await rm(join(store, 'verdicts'), { recursive: true });
    await rm(join(store, 'layer-records'), { recursive: true });
    expect((await lseOk(store, 'synth', manifest(), '--out', join(work, 'img3'))).trim()).toBe(digest);
    expect(JSON.parse(await lseOk(store, '--json', 'verify'))).toMatchObject({ ok: true, unfetched: 0 });
  });

  it('refuses a .deb the mirror altered: the synthesis fails at verification naming the package, nothing is written', async () => {
    const store = join(work, 'store-tampered');
    await lseOk(store, 'trust', 'add', join(work, 'index.pub'));
    await lseOk(store, 'import', 'debian-index', packagesFile, '--allow-unsigned', '--mirror', mirrorUrl, '--key', key);
    tamper = 'libonig5';
    try {
      const out = join(work, 'img-bad');
      const r = await lse(store, 'synth', manifest(), '--out', out);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/libonig5@.*hashes to sha256:[0-9a-f]{64}, the index says sha256:/);
      expect(existsSync(join(out, 'index.json'))).toBe(false);
    } finally {
      tamper = undefined;
    }
    // the mirror serves the right bytes again: the same store synthesizes (the bad bytes were never cached)
    await lseOk(store, 'synth', manifest(), '--out', join(work, 'img-good'));
  });

  it('says what is wrong with bad input', async () => {
    const store = join(work, 'store');
    const unsigned = await lse(store, 'import', 'debian-index', packagesFile, '--key', key);
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toMatch(/without Debian's signature: give the InRelease .*--allow-unsigned/);
    const missing = await lse(store, 'import', 'debian-index', join(work, 'nope'), '--allow-unsigned', '--key', key);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/does not exist; give a Packages file/);
    await writeFile(join(work, 'empty'), 'Package: x\nVersion: 1\nArchitecture: s390x\n');
    const wrongArch = await lse(store, 'import', 'debian-index', join(work, 'empty'), '--allow-unsigned', '--key', key);
    expect(wrongArch.code).toBe(2);
    expect(wrongArch.stderr).toMatch(/has no package for .*--arch/);
    const badMirror = await lse(
      store,
      'import',
      'debian-index',
      packagesFile,
      '--allow-unsigned',
      '--mirror',
      'ftp://x',
      '--key',
      key,
    );
    expect(badMirror.code).toBe(2);
    expect(badMirror.stderr).toMatch(/--mirror must be an http\(s\) URL/);
  });
});
