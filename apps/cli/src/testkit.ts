/**
 * Test helpers for the CLI acceptance specs: run the built `lse` binary as a real process, run
 * external tools (skopeo, umoci), make temp dirs, list trees, and prepare a store with signed
 * fragments and a base image written by umoci. Only specs import this file.
 *
 * The prepared store holds, signed by key `publisher` (trusted for every name):
 *   data 1.0.0, 1.2.0, 2.0.0   usr/share/data/greeting.txt (0644), etc/data/secret.conf (0640)
 *   lib  1.4.0 -> data ^1.0.0  usr/lib/libdemo.so.1, symlink usr/lib/libdemo.so -> libdemo.so.1
 *   app  2.0.0, 2.3.1 -> lib >=1.0.0 <2    usr/local/bin/app.sh (0755)
 * and base `minimal:latest`, imported from an OCI layout that umoci wrote (one layer holding
 * etc/os-release). `MANIFEST` requires `app ^2.0.0` on it and adds two inline files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { sha256Hex } from '@lse/core';

export const REPO = resolve(__dirname, '../../..');
export const LSE_BIN = join(REPO, 'apps/cli/bin/lse.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Fails (with what to do) unless the CLI has been built. */
export function requireBuiltCli(): void {
  if (!existsSync(join(REPO, 'apps/cli/dist/main.js'))) {
    throw new Error(
      'the lse CLI is not built: run `npx tsc -b tsconfig.build.json` (or `npm run build`) at the repository root before these tests',
    );
  }
}

/** Fails loudly (never skips) when an external tool the acceptance tests rely on is missing. */
export function requireTools(...tools: string[]): void {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length) {
    throw new Error(
      `required tool(s) not on PATH: ${missing.join(', ')}; install them (e.g. apt-get install ${missing.join(' ')}) to run the CLI acceptance tests`,
    );
  }
}

/** Environment for child processes: no SOURCE_DATE_EPOCH, no LSE_* settings, no colour. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  for (const k of ['SOURCE_DATE_EPOCH', 'LSE_HOME', 'LSE_LOG_LEVEL']) if (!(k in extra)) delete env[k];
  return env;
}

/** Runs a command to completion; never throws for a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? REPO,
      env: childEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolvePromise({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Like {@link run} but throws, with the command's output, unless it exits 0. */
export async function runOk(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** `node apps/cli/bin/lse.js --store STORE ARGS...` */
export function lse(
  store: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return run(process.execPath, [LSE_BIN, '--store', store, ...args], opts);
}

export async function lseOk(store: string, args: string[], opts: { cwd?: string } = {}): Promise<RunResult> {
  const r = await lse(store, args, opts);
  if (r.code !== 0) throw new Error(`lse ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** Temp dirs made by {@link tempDir}, removed by {@link removeTempDirs}. */
const temps: string[] = [];

export async function tempDir(prefix = 'lse-cli-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

export async function removeTempDirs(): Promise<void> {
  while (temps.length) await rm(temps.pop()!, { recursive: true, force: true });
}

/** `cp -a SRC DST`: a private copy of a prepared store for a test that damages it. */
export async function copyTree(src: string, dst: string): Promise<void> {
  await runOk('cp', ['-a', src, dst]);
}

export interface TreeEntry {
  path: string;
  type: 'file' | 'symlink';
  /** Permission bits (0o7777 range). */
  mode: number;
  /** sha256 hex of a file's content, or a symlink's target. */
  content: string;
}

/**
 * Every regular file and symlink under `dir` (not directories), sorted by path, with mode and
 * content hash (or link target). Other types (devices, FIFOs) make it throw.
 */
export async function listTree(dir: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(dir, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(dir, path));
      if (st.isDirectory()) await visit(path);
      else if (st.isSymbolicLink())
        out.push({ path, type: 'symlink', mode: 0o777, content: await readlink(join(dir, path)) });
      else if (st.isFile())
        out.push({ path, type: 'file', mode: st.mode & 0o7777, content: sha256Hex(await readFile(join(dir, path))) });
      else throw new Error(`${join(dir, path)} is neither a file, a directory nor a symlink`);
    }
  };
  await visit('');
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Every path (any type) under `dir`, sorted: to prove a command wrote nothing. */
export async function listAllPaths(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of await readdir(join(dir, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      out.push(path);
      if ((await lstat(join(dir, path))).isDirectory()) await visit(path);
    }
  };
  if (existsSync(dir)) await visit('');
  return out.sort();
}

/** Writes a file (creating parent dirs) and sets its mode exactly, whatever the umask. */
export async function writeFileMode(path: string, content: string | Buffer, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  await chmod(path, mode);
}

/** Which `umoci unpack` flags this user needs (`--rootless` unless root). */
export function umociUnpackFlags(): string[] {
  return process.getuid?.() === 0 ? [] : ['--rootless'];
}

/**
 * A base image written by umoci: `umoci init`, `new`, `unpack`, add etc/os-release, `repack`.
 * Returns the layout directory (the image is `DIR:latest`).
 */
export async function makeUmociBase(work: string): Promise<string> {
  const layout = join(work, 'base-layout');
  const bundle = join(work, 'base-bundle');
  await runOk('umoci', ['init', '--layout', layout]);
  await runOk('umoci', ['new', '--image', `${layout}:latest`]);
  await runOk('umoci', ['unpack', ...umociUnpackFlags(), '--image', `${layout}:latest`, bundle]);
  await writeFileMode(join(bundle, 'rootfs/etc/os-release'), OS_RELEASE, 0o644);
  await runOk('umoci', ['repack', '--image', `${layout}:latest`, bundle]);
  return layout;
}

export const OS_RELEASE = 'ID=lse-test\nPRETTY_NAME="umoci-made base"\n';
export const APP_SCRIPT = '#!/bin/sh\necho "app 2.3.1: $(cat /usr/share/data/greeting.txt)"\n';
export const GREETING = 'hello from data 1.2.0\n';
export const SECRET = 'token=not-for-everyone\n';
export const LIB = 'ELF-ish library bytes\n';

/** Content directories for the fragments, under `work/src`. */
export async function makeFragmentSources(work: string): Promise<Record<string, string>> {
  const src = join(work, 'src');
  const dirs: Record<string, string> = {};
  for (const v of ['1.0.0', '1.2.0', '2.0.0']) {
    const d = join(src, `data-${v}`);
    await writeFileMode(
      join(d, 'usr/share/data/greeting.txt'),
      v === '1.2.0' ? GREETING : `hello from data ${v}\n`,
      0o644,
    );
    await writeFileMode(join(d, 'etc/data/secret.conf'), SECRET, 0o640);
    dirs[`data-${v}`] = d;
  }
  const lib = join(src, 'lib');
  await writeFileMode(join(lib, 'usr/lib/libdemo.so.1'), LIB, 0o644);
  await symlink('libdemo.so.1', join(lib, 'usr/lib/libdemo.so'));
  dirs['lib'] = lib;
  for (const v of ['2.0.0', '2.3.1']) {
    const d = join(src, `app-${v}`);
    await writeFileMode(join(d, 'usr/local/bin/app.sh'), v === '2.3.1' ? APP_SCRIPT : '#!/bin/sh\necho old\n', 0o755);
    dirs[`app-${v}`] = d;
  }
  return dirs;
}

export const MANIFEST = `apiVersion: lse.dev/v1
kind: DependencyManifest
metadata: { name: acceptance }
base: minimal
platform: { os: linux, arch: amd64 }
require:
  - name: app
    version: "^2.0.0"
files:
  - { path: /etc/motd, content: "built by the acceptance test\\n", mode: "0644" }
  - { path: /etc/app/token, content: "s3cret\\n", mode: "0600" }
env: { LANG: C.UTF-8, APP_MODE: production }
entrypoint: ["/usr/local/bin/app.sh"]
labels: { team: payments, tier: backend }
`;

export interface Keys {
  dir: string;
  /** Trusted for '*' in the prepared store. */
  publisher: string;
}

/** `lse keys generate --name NAME --out DIR`; returns the .key path. */
export async function generateKey(store: string, dir: string, name: string): Promise<string> {
  await lseOk(store, ['keys', 'generate', '--name', name, '--out', dir]);
  return join(dir, `${name}.key`);
}

export interface PreparedStore {
  store: string;
  keysDir: string;
  /** Secret key file of `publisher`. */
  publisherKey: string;
  sources: Record<string, string>;
  baseLayout: string;
}

/**
 * Fills `store` as described at the top of this file. `keysDir` must hold publisher.key/.pub
 * (made with {@link generateKey}); `sources` from {@link makeFragmentSources}; `baseLayout`
 * from {@link makeUmociBase}. Same inputs, same fragment ids and base digest.
 */
export async function prepareStore(
  store: string,
  keysDir: string,
  sources: Record<string, string>,
  baseLayout: string,
): Promise<PreparedStore> {
  const key = join(keysDir, 'publisher.key');
  await lseOk(store, ['trust', 'add', join(keysDir, 'publisher.pub')]);
  const pack = (dir: string, name: string, version: string, ...extra: string[]) =>
    lseOk(store, ['fragment', 'pack', dir, '--name', name, '--version', version, '--key', key, ...extra]);
  for (const v of ['1.0.0', '1.2.0', '2.0.0']) await pack(sources[`data-${v}`]!, 'data', v);
  await pack(sources['lib']!, 'lib', '1.4.0', '--depends', 'data ^1.0.0');
  for (const v of ['2.0.0', '2.3.1']) await pack(sources[`app-${v}`]!, 'app', v, '--depends', 'lib >=1.0.0 <2');
  await lseOk(store, ['base', 'import', `${baseLayout}:latest`, '--name', 'minimal']);
  return { store, keysDir, publisherKey: key, sources, baseLayout };
}

/** Everything a spec needs, made once in `beforeAll`: a work dir, keys, sources, base and store. */
export async function setupPrepared(): Promise<PreparedStore & { work: string }> {
  requireBuiltCli();
  requireTools('umoci');
  const work = await tempDir();
  const keysDir = join(work, 'keys');
  const store = join(work, 'store');
  await generateKey(store, keysDir, 'publisher');
  const sources = await makeFragmentSources(work);
  const baseLayout = await makeUmociBase(work);
  return { work, ...(await prepareStore(store, keysDir, sources, baseLayout)) };
}

/** Parses JSON, failing with the text when it is not JSON. */
export function parseJson<T = unknown>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`expected JSON, got:\n${text}`);
  }
}

/** Throws, showing the command's output, unless it exited with `code`. */
export function expectExit(r: RunResult, code: number): void {
  if (r.code !== code)
    throw new Error(`expected exit ${code}, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}
