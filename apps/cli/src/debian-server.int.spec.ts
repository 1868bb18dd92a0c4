/**
 * Debian packages through the running services (issue 4): the built `lse` binary with
 * `--server` against the gateway of the local stack (`infra/local/stack.sh up`, env loaded).
 * A fresh key is trusted over REST, `lse base build` uploads a base built from packages under a
 * name unique to this run, `lse import apt` uploads the fragments of curl, python3 and jq, and
 * each example manifest (examples/{curl,python3,jq}.yaml on that base) is synthesized by the
 * services; the image's root filesystem is materialized and the programs run in it with chroot.
 *
 * Same prerequisites as debian.spec.ts (Debian host, root for chroot), skipped with the reason
 * printed otherwise; the .debs are shared with it in ~/.cache/lse/apt (LSE_APT_CACHE overrides).
 * The stack is required (the test fails, saying how to start it, when LSE_SERVER is not set).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { REPO, lse, parseJson, removeTempDirs, requireBuiltCli, tempDir, type RunResult } from './testkit';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const reason =
  !has('dpkg-deb') || !has('apt-get')
    ? 'not a Debian host (dpkg-deb/apt-get missing)'
    : process.getuid?.() !== 0
      ? 'not root (chroot needs root)'
      : !has('chroot')
        ? 'chroot missing'
        : undefined;
if (reason) console.warn(`debian-server.int.spec.ts skipped: ${reason}`);
const suite = reason ? describe.skip : describe;

jest.setTimeout(15 * 60_000);

const SERVER = process.env['LSE_SERVER'];
const TOKEN = process.env['LSE_TOKEN'];
const CACHE = process.env['LSE_APT_CACHE'] || join(homedir(), '.cache', 'lse', 'apt');
const BASE = `deb-srv-${Date.now().toString(36)}`;
let work: string;
let store: string;
let key: string;

/** The CLI against the gateway: `lse --store STORE --server URL --token T ARGS...`. */
async function lseOk(...args: string[]): Promise<string> {
  const r: RunResult = await lse(store, ['--server', SERVER!, '--token', TOKEN!, '-q', ...args]);
  if (r.code !== 0) throw new Error(`lse ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(new URL(path, SERVER), { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

function chroot(root: string, ...cmd: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('chroot', [root, ...cmd], {
    encoding: 'utf8',
    input: '{"a":[1,2,3]}',
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** examples/NAME.yaml with this run's base; synthesized by the services into work/img-NAME and work/rootfs-NAME. */
async function synth(name: string): Promise<{ root: string; synthesisId: string }> {
  const text = await readFile(join(REPO, 'examples', `${name}.yaml`), 'utf8');
  expect(text).toMatch(/^base: debian-min$/m);
  const m = join(work, `${name}.yaml`);
  await writeFile(m, text.replace(/^base: debian-min$/m, `base: ${BASE}`));
  const root = join(work, `rootfs-${name}`);
  const out = parseJson<{ synthesisId: string; rootfs: string }>(
    await lseOk('--json', 'synth', m, '--out', join(work, `img-${name}`), '--rootfs', root),
  );
  expect(out.rootfs).toBe(root);
  expect(out.synthesisId).not.toMatch(/^cli-/); // an id from the gateway, not the in-process pipeline
  return { root, synthesisId: out.synthesisId };
}

suite('Debian packages through the gateway (lse --server)', () => {
  beforeAll(async () => {
    if (!SERVER || !TOKEN)
      throw new Error(
        'this test needs the stack: bash infra/local/stack.sh up && eval "$(bash infra/local/stack.sh env)"',
      );
    requireBuiltCli();
    const lists =
      existsSync('/var/lib/apt/lists') && readdirSync('/var/lib/apt/lists').some((f) => f.includes('_Packages'));
    if (!lists) expect(spawnSync('apt-get', ['update'], { stdio: 'ignore' }).status).toBe(0);
    work = await tempDir('lse-debian-server-');
    store = join(work, 'store');
    const keyName = `${BASE}-key`;
    await lseOk('keys', 'generate', '--name', keyName, '--out', work);
    key = join(work, `${keyName}.key`);
    await lseOk('trust', 'add', join(work, `${keyName}.pub`));
    await lseOk(
      'base',
      'build',
      '--name',
      BASE,
      'base-files',
      'base-passwd',
      'dash',
      'coreutils',
      '--key',
      key,
      '--cache',
      CACHE,
    );
    await lseOk('import', 'apt', 'curl', 'ca-certificates', 'python3', 'jq', '--key', key, '--cache', CACHE);
  });
  afterAll(removeTempDirs);

  it('stored the key, the base and the fragments in the services', async () => {
    expect((await api<{ name: string }[]>('/v1/keys')).map((k) => k.name)).toContain(`${BASE}-key`);
    expect(await api<{ name: string; tag: string }[]>('/v1/bases')).toContainEqual(
      expect.objectContaining({ name: BASE, tag: 'latest' }),
    );
    for (const name of ['coreutils', 'curl', 'python3', 'jq']) {
      const found = await api<{ descriptor: { scheme: string; metadata: { debian?: unknown } } }[]>(
        `/v1/fragments/${name}`,
      );
      expect(found[0]!.descriptor.scheme).toBe('debian');
      expect(found[0]!.descriptor.metadata.debian).toBeDefined();
    }
    // Publishing the same .debs again is a no-op on the gateway.
    const again = parseJson<{ created: boolean }[]>(
      await lseOk('--json', 'import', 'apt', 'jq', '--key', key, '--cache', CACHE),
    );
    expect(again.length).toBeGreaterThan(1);
    expect(again.filter((x) => x.created)).toEqual([]);
  });

  it('synthesizes curl without shipping the packages the base holds, and runs curl --version', async () => {
    const { root, synthesisId } = await synth('curl');
    // The base's record lists its packages (from the dpkg status of the uploaded rootfs), and the
    // services' resolution counts them as installed.
    const { lock } = parseJson<{ lock: { fragments: { name: string }[] } }>(
      await lseOk('--json', 'resolve', join(work, 'curl.yaml')),
    );
    expect(lock.fragments.map((f) => f.name)).toContain('libcurl4');
    const inBase = [
      'base-files',
      'base-passwd',
      'dash',
      'coreutils',
      'gcc-12-base',
      'libc6',
      'libgcc-s1',
      'libgmp10',
      'libzstd1',
      'zlib1g',
    ];
    expect(lock.fragments.filter((f) => inBase.includes(f.name))).toEqual([]);
    const r = chroot(root, 'curl', '--version');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^curl \d+\.\d+/);
    expect(await readFile(join(root, 'var/lib/dpkg/status'), 'utf8')).toMatch(
      /Package: libcurl4\nStatus: install ok installed\n/,
    );
    expect(await api<{ status: string }>(`/v1/syntheses/${synthesisId}`)).toMatchObject({ status: 'completed' });
  });

  it('synthesizes python3 and imports json', async () => {
    const { root } = await synth('python3');
    const r = chroot(root, 'python3', '-c', 'import json; print(1)');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1\n');
  });

  it('synthesizes jq and runs a one-liner', async () => {
    const { root } = await synth('jq');
    const r = chroot(root, 'jq', '-c', '.a | map(. * 2) | add');
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('12\n');
  });
});
