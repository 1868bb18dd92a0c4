/**
 * Debian packages end to end through the embedded CLI (in-process `main`): import .debs and apt
 * closures as signed fragments, build a base from packages, synthesize curl, python3 and jq
 * images on it, and run the programs with chroot in the materialized root filesystem (and once in
 * a `umoci unpack`ed bundle).
 *
 * Needs a Debian host (dpkg-deb, apt-get) and root (chroot); otherwise the suite is skipped with
 * the reason printed. apt's lists are fetched with `apt-get update` when there are none. Downloaded
 * .debs stay in ~/.cache/lse/apt between runs (LSE_APT_CACHE overrides).
 *
 * Opt-in (LSE_TEST_DEBOOTSTRAP=1, a few minutes, needs the Debian mirror): a
 * `debootstrap --variant=minbase bookworm` rootfs imported with `lse base import` as a base, and
 * jq synthesized on it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
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
if (reason) console.warn(`debian.spec.ts skipped: ${reason}`);
const suite = reason ? describe.skip : describe;

jest.setTimeout(15 * 60_000);

const CACHE = process.env['LSE_APT_CACHE'] || join(homedir(), '.cache', 'lse', 'apt');
let work: string;
let store: string;
let key: string;

/** Runs the CLI in-process; returns exit code and what it wrote on stdout. */
async function lse(...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(['--store', store, '-q', ...args]);
    return { code, stdout };
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
  }
}

async function lseOk(...args: string[]): Promise<string> {
  const r = await lse(...args);
  if (r.code !== 0) throw new Error(`lse ${args.join(' ')} exited ${r.code}: ${r.stdout}`);
  return r.stdout;
}

function chroot(root: string, ...cmd: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('chroot', [root, ...cmd], {
    encoding: 'utf8',
    input: '{"a":[1,2,3]}',
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function manifest(name: string, require: string): Promise<string> {
  const f = join(work, `${name}.yaml`);
  await writeFile(
    f,
    `apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: ${name} }\nbase: debian-min\nplatform: { os: linux, arch: amd64 }\nrequire:\n${require}`,
  );
  return f;
}

suite('Debian packages (embedded CLI)', () => {
  beforeAll(async () => {
    const lists =
      existsSync('/var/lib/apt/lists') && readdirSync('/var/lib/apt/lists').some((f) => f.includes('_Packages'));
    if (!lists) expect(spawnSync('apt-get', ['update'], { stdio: 'ignore' }).status).toBe(0);
    work = await mkdtemp(join(tmpdir(), 'lse-debian-'));
    store = join(work, 'store');
    await lseOk('keys', 'generate', '--name', 'debian-import', '--out', work);
    key = join(work, 'debian-import.key');
    await lseOk('trust', 'add', join(work, 'debian-import.pub'));
    await lseOk(
      'base',
      'build',
      '--name',
      'debian-min',
      'base-files',
      'base-passwd',
      'dash',
      'coreutils',
      '--key',
      key,
      '--cache',
      CACHE,
    );
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('imports a .deb with its relations, control data and script analysis, idempotently', async () => {
    const deb = readdirSync(CACHE).find((f) => /^coreutils_.*\.deb$/.test(f))!;
    const first = JSON.parse(await lseOk('--json', 'import', 'deb', join(CACHE, deb), '--key', key)) as {
      id: string;
      created: boolean;
    }[];
    expect(first[0]!.created).toBe(false); // base build imported the same .deb already
    const f = JSON.parse(await lseOk('--json', 'fragment', 'show', 'coreutils')) as {
      id: string;
      descriptor: {
        scheme: string;
        preDepends: unknown[];
        files: { path: string }[];
        metadata: { debian: { control: Record<string, string>; notReproduced: string[] } };
      };
    }[];
    const d = f[0]!.descriptor;
    expect(f[0]!.id).toBe(first[0]!.id);
    expect(d.scheme).toBe('debian');
    expect(d.preDepends.length).toBeGreaterThan(0);
    expect(d.metadata.debian.control['Essential']).toBe('yes');
    expect(d.files.some((x) => x.path === 'usr/bin/ls')).toBe(true); // shipped as /bin/ls, merged-/usr
    expect(d.files.some((x) => x.path.startsWith('bin/'))).toBe(false);
  });

  it('builds a base whose dpkg database dpkg itself reads', async () => {
    const out = join(work, 'base-check');
    const m = await manifest('base-only', '  - name: dash\n');
    await lseOk('synth', m, '--out', join(work, 'img-base'), '--rootfs', out);
    const q = chroot(
      out,
      'dpkg-query',
      '-W',
      '-f',
      '${Package} ${db:Status-Abbrev}\n',
      'base-files',
      'coreutils',
      'libc6',
    );
    expect(q.stderr).toBe('');
    expect(q.stdout).toMatch(/^base-files ii \ncoreutils ii \nlibc6 ii \n$/);
    expect(chroot(out, 'sh', '-c', 'ls /bin/ls && id -un').stdout).toBe('/bin/ls\nroot\n');
  });

  it("synthesizes curl on the base without shipping the base's packages again, and runs curl --version", async () => {
    await lseOk('import', 'apt', 'curl', '--key', key, '--cache', CACHE);
    const root = join(work, 'rootfs-curl');
    const m = await manifest('curl', '  - name: curl\n');
    const { lock } = JSON.parse(await lseOk('--json', 'resolve', m)) as {
      lock: { fragments: { name: string }[]; satisfiedByBase?: { name: string; version: string }[] };
    };
    const inBase = ['gcc-12-base', 'libc6', 'libgcc-s1', 'libgmp10', 'libzstd1', 'zlib1g'];
    expect(lock.fragments.map((f) => f.name)).toContain('libcurl4');
    expect(
      lock.fragments.filter(
        (f) => inBase.includes(f.name) || ['base-files', 'base-passwd', 'dash', 'coreutils'].includes(f.name),
      ),
    ).toEqual([]);
    expect(lock.satisfiedByBase?.map((p) => p.name)).toEqual(expect.arrayContaining(inBase));
    await lseOk('synth', m, '--out', join(work, 'img-curl'), '--rootfs', root);
    const r = chroot(root, 'curl', '--version');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^curl \d+\.\d+/);
    const status = await readFile(join(root, 'var/lib/dpkg/status'), 'utf8');
    expect(status).toMatch(/Package: curl\nStatus: install ok installed\n/);
    expect(status).toMatch(/Package: libcurl4\nStatus: install ok installed\n/);
  });

  it('synthesizes python3 and imports json', async () => {
    await lseOk('import', 'apt', 'python3', '--key', key, '--cache', CACHE);
    const root = join(work, 'rootfs-py');
    await lseOk(
      'synth',
      await manifest('python3', '  - name: python3\n'),
      '--out',
      join(work, 'img-py'),
      '--rootfs',
      root,
    );
    const r = chroot(root, 'python3', '-c', 'import json; print(1)');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1\n');
  });

  it('synthesizes jq, unpacks it with umoci, and runs a one-liner; re-importing is a no-op', async () => {
    await lseOk('import', 'apt', 'jq', '--key', key, '--cache', CACHE);
    const again = JSON.parse(await lseOk('--json', 'import', 'apt', 'jq', '--key', key, '--cache', CACHE)) as {
      created: boolean;
    }[];
    expect(again.every((x) => !x.created)).toBe(true);
    const img = join(work, 'img-jq');
    await lseOk('synth', await manifest('jq', '  - { name: jq, version: ">= 1.6" }\n'), '--out', img);
    let root = join(work, 'rootfs-jq');
    if (has('umoci')) {
      const bundle = join(work, 'bundle-jq');
      const u = spawnSync('umoci', ['unpack', '--rootless', '--image', `${img}:latest`, bundle], { encoding: 'utf8' });
      if (u.status !== 0) {
        const tags = spawnSync('sh', ['-c', `ls ${img}`], { encoding: 'utf8' }).stdout;
        throw new Error(`umoci unpack failed: ${u.stderr} (layout: ${tags})`);
      }
      root = join(bundle, 'rootfs');
    } else {
      await lseOk('synth', join(work, 'jq.yaml'), '--out', join(work, 'img-jq2'), '--rootfs', root);
    }
    const r = chroot(root, 'jq', '-c', '.a | map(. * 2) | add');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('12\n');
  });

  (process.env['LSE_TEST_DEBOOTSTRAP'] ? it : it.skip)(
    'imports a debootstrap minbase rootfs as a base (LSE_TEST_DEBOOTSTRAP=1)',
    async () => {
      const dir = join(work, 'debootstrap');
      const d = spawnSync('debootstrap', ['--variant=minbase', 'bookworm', dir, 'http://deb.debian.org/debian'], {
        encoding: 'utf8',
      });
      expect(d.status).toBe(0);
      const tar = join(work, 'minbase.tar');
      expect(spawnSync('tar', ['-C', dir, '-cf', tar, '.']).status).toBe(0);
      await lseOk('base', 'import', tar, '--name', 'debian-min', '--tag', 'debootstrap');
      await lseOk('import', 'apt', 'jq', '--key', key, '--cache', CACHE);
      const m = join(work, 'jq-deboot.yaml');
      await writeFile(
        m,
        (await readFile(await manifest('jq', '  - name: jq\n'), 'utf8')).replace(
          'base: debian-min',
          'base: debian-min:debootstrap',
        ),
      );
      const root = join(work, 'rootfs-deboot');
      await lseOk('synth', m, '--out', join(work, 'img-deboot'), '--rootfs', root);
      expect(chroot(root, 'jq', '-c', '.a | add').stdout).toBe('6\n');
      const q = chroot(root, 'dpkg-query', '-W', '-f', '${Package}\n');
      expect(q.stdout.split('\n')).toEqual(expect.arrayContaining(['jq', 'apt', 'bash']));
    },
  );
});
