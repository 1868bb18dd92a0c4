/**
 * lse-node with a real Debian image of more than 62 fragment layers (issue 10's acceptance "an
 * image of more than 62 fragments runs"): python3, perl, jq, curl, ca-certificates and gnupg on
 * the `minimal` base, imported with `lse import apt` (only the names the fragment database does
 * not have yet: node.int.spec.ts imports curl and jq), synthesized by the services and run with
 * `lse node run`: each program runs inside, the root is an overlay of more than 62 fragment
 * directories of the node cache, and nothing is left behind (container, writable snapshot,
 * mounts, image, synthesis lease). Root only; needs the stack with LSE_NODE=1 (see node.int.spec.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayApi, nodeTestLock } from '@lse/testing';

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
const PACKAGES = ['python3', 'perl', 'jq', 'curl', 'ca-certificates', 'gnupg'];

interface NodeState {
  counters: Record<string, number>;
  fragments: Record<string, { dir: string; bytes: number; label: string }>;
  snapshots: { key: string; kind: string }[];
  held: Record<string, string>;
}

const state = () =>
  new Promise<NodeState>((resolve, reject) => {
    const req = request({ socketPath: CONTROL, agent: false, method: 'GET', path: '/state' }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(JSON.parse(text) as NodeState));
    });
    req.on('error', reject);
    req.end();
  });
const counter = (s: NodeState, name: string) => s.counters[name] ?? 0;
const api = gatewayApi(SERVER, TOKEN);
const ctr = (...args: string[]) =>
  spawnSync('ctr', ['--address', CTRD, ...args], { encoding: 'utf8', timeout: 60_000 });

(isRoot ? describe : describe.skip)('lse-node: a Debian image of more than 62 fragments', () => {
  let work: string;
  let release: (() => void) | undefined;

  beforeAll(async () => {
    if (!SERVER || !TOKEN || !CTRD || !CONTROL)
      throw new Error(
        'the node int test needs the stack with the node: LSE_NODE=1 bash infra/local/stack.sh up && eval "$(LSE_NODE=1 bash infra/local/stack.sh env)"',
      );
    release = await nodeTestLock(`${ROOT}.int-test.lock`);
    work = mkdtempSync(join(tmpdir(), 'lse-node-debian-'));
    const hasBase = (await api<{ name: string }[]>('GET', '/v1/bases')).body.some((b) => b.name === 'minimal');
    const missing: string[] = [];
    for (const n of PACKAGES) if ((await api('GET', `/v1/fragments/${n}`)).status !== 200) missing.push(n);
    if (hasBase && missing.length === 0) return;
    const cli = (...a: string[]) =>
      execFileSync('node', [join(repo, 'apps/cli/bin/lse.js'), '--server', SERVER, ...a], {
        cwd: repo,
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 900_000,
      });
    cli('keys', 'generate', '--name', `nodedeb${run}`, '--out', work);
    cli('trust', 'add', join(work, `nodedeb${run}.pub`));
    const key = join(work, `nodedeb${run}.key`);
    const cache = env['LSE_APT_CACHE'] || join(env['HOME'] ?? '/root', '.cache/lse/apt');
    if (!hasBase)
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
    if (missing.length) cli('import', 'apt', ...missing, '--key', key, '--cache', cache);
  });

  afterAll(() => release?.());

  it('lse node run: python3, perl, jq, curl and gpg run in an overlay of more than 62 fragment directories, and nothing is left behind', async () => {
    const name = `node-debian-${run}`;
    const file = join(work, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'lse.dev/v1',
        kind: 'DependencyManifest',
        metadata: { name },
        base: 'minimal',
        require: PACKAGES.map((n) => ({ name: n })),
        files: [{ path: `/etc/${name}`, content: `hello ${run}\n` }],
      }),
    );
    const before = await state();
    const script = [
      `python3 -c 'import json, sys; print(json.dumps({"python": sys.version_info[0]}))'`,
      `perl -e 'print "perl ", 6 * 7, "\\n"'`,
      `echo '{"a":[1,2,3]}' | jq -c '.a | add'`,
      `curl -sS file:///etc/${name}`,
      `gpg --version | head -n 1`,
      'test -s /usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt && echo ca-certificates',
      'cat /proc/mounts',
    ].join(' && ');
    const r = spawnSync(
      'node',
      [join(repo, 'apps/cli/bin/lse.js'), '--server', SERVER, 'node', 'run', file, '--', 'sh', '-c', script],
      { cwd: repo, env: process.env, encoding: 'utf8', timeout: 900_000 },
    );
    expect([r.status, r.status === 0 ? '' : r.stderr]).toEqual([0, '']);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 6)).toEqual([
      '{"python": 3}',
      'perl 42',
      '6',
      `hello ${run}`,
      expect.stringMatching(/^gpg \(GnuPG\) 2\./),
      'ca-certificates',
    ]);

    // The root: an overlay whose lower dirs are all fragment-cache directories, more than 62 of
    // them fragments (the base and the generated top layer are the others).
    const after = await state();
    const rootMount = lines.find((l) => l.startsWith('overlay / overlay')) ?? '';
    // When the options near a page, containerd gives the lower dirs relative to their common
    // directory (compactLowerdirOption; a longer agent root, as in CI, gets there with ~95):
    // all in f/, that is f/ itself.
    const lowers = (/lowerdir=([^,]+)/.exec(rootMount)?.[1]?.split(':') ?? []).map((l) =>
      l.startsWith('/') ? l : `${ROOT}/${l.includes('/') ? '' : 'f/'}${l}`,
    );
    expect(lowers.length).toBeGreaterThan(62);
    expect(lowers.filter((l) => !l.startsWith(`${ROOT}/f/`))).toEqual([]);
    const idOfDir = new Map(Object.entries(after.fragments).map(([id, f]) => [f.dir, id] as const));
    const ids = lowers.map((l) => idOfDir.get(l.slice(ROOT.length + 1)) ?? `unknown ${l}`);
    expect(ids.filter((id) => id.startsWith('unknown'))).toEqual([]);
    const fragments = ids.filter((id) => !id.startsWith('layer:'));
    expect(fragments.length).toBeGreaterThan(62);
    const labels = fragments.map((id) => after.fragments[id]!.label.split('@')[0]);
    for (const p of [...PACKAGES, 'perl-base', 'python3.11-minimal', 'libcurl4'])
      expect([p, labels.includes(p)]).toEqual([p, true]);

    // Nothing left behind: no extraction through containerd, no container, no writable
    // snapshot, no mount under the agent's root, no image, the synthesis lease released.
    expect(counter(after, 'layersExtracted')).toBe(counter(before, 'layersExtracted'));
    expect(after.snapshots.filter((s) => s.kind !== 'committed')).toEqual([]);
    expect(
      ctr('-n', 'default', 'containers', 'ls', '-q')
        .stdout.split('\n')
        .filter((c) => c.startsWith('lse-run-')),
    ).toEqual([]);
    expect(readFileSync('/proc/self/mounts', 'utf8').includes(`${ROOT}/`)).toBe(false);
    const synthesis = /synthesized (syn-\S+)/.exec(r.stderr)?.[1] ?? '';
    expect(synthesis).not.toBe('');
    expect(ctr('-n', 'default', 'images', 'ls', '-q').stdout.split('\n')).not.toContain(
      `${HOST}/synth/${synthesis.toLowerCase()}:latest`,
    );
    expect(after.held).toEqual({});
    expect((await api<{ lease: unknown }>('GET', `/v1/syntheses/${synthesis}`)).body.lease).toBeNull();
  });
});
