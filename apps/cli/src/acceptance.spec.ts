/**
 * Acceptance: the built `lse` CLI, run as a real process on a temp store, builds an image that
 * real tools (skopeo, umoci) accept, from three fragments (app -> lib -> data, data reached only
 * transitively) on a base that umoci wrote; the image and `--rootfs` hold exactly the expected
 * files with their modes and contents; and the same inputs always give the same digest.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { sha256Hex } from '@lse/core';
import {
  APP_SCRIPT,
  GREETING,
  LIB,
  MANIFEST,
  OS_RELEASE,
  SECRET,
  listTree,
  lseOk,
  parseJson,
  prepareStore,
  removeTempDirs,
  requireTools,
  runOk,
  setupPrepared,
  tempDir,
  umociUnpackFlags,
  type PreparedStore,
  type TreeEntry,
} from './testkit';
jest.setTimeout(60_000);

let p: PreparedStore & { work: string };
let manifestFile: string;
let out: string;
let rootfs: string;
let digest: string;

beforeAll(async () => {
  requireTools('skopeo', 'umoci');
  p = await setupPrepared();
  manifestFile = join(p.work, 'acceptance.yaml');
  await writeFile(manifestFile, MANIFEST);
  out = join(p.work, 'image');
  rootfs = join(p.work, 'rootfs');
  const r = await lseOk(p.store, ['synth', manifestFile, '--out', out, '--rootfs', rootfs]);
  digest = r.stdout.trim();
});
afterAll(removeTempDirs);

const file = (path: string, mode: number, content: string): TreeEntry => ({
  path,
  type: 'file',
  mode,
  content: sha256Hex(content),
});
const EXPECTED: TreeEntry[] = [
  file('etc/app/token', 0o600, 's3cret\n'),
  file('etc/data/secret.conf', 0o640, SECRET),
  file('etc/motd', 0o644, 'built by the acceptance test\n'),
  file('etc/os-release', 0o644, OS_RELEASE),
  file('usr/lib/libdemo.so.1', 0o644, LIB),
  { path: 'usr/lib/libdemo.so', type: 'symlink' as const, mode: 0o777, content: 'libdemo.so.1' },
  file('usr/local/bin/app.sh', 0o755, APP_SCRIPT),
  file('usr/share/data/greeting.txt', 0o644, GREETING),
].sort((a, b) => (a.path < b.path ? -1 : 1));

describe('lse synth: an image real tools accept', () => {
  it('prints the image manifest digest, which the OCI layout index points at', async () => {
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const index = parseJson<{ manifests: { digest: string; annotations?: Record<string, string> }[] }>(
      await readFile(join(out, 'index.json'), 'utf8'),
    );
    expect(index.manifests.map((m) => m.digest)).toEqual([digest]);
    expect(index.manifests[0]!.annotations?.['org.opencontainers.image.ref.name']).toBe('latest');
    // The manifest blob hashes to its name (content addressing holds on disk).
    const manifestBytes = await readFile(join(out, 'blobs/sha256', digest.slice(7)));
    expect(`sha256:${sha256Hex(manifestBytes)}`).toBe(digest);
  });

  it('skopeo inspect sees linux/amd64, the labels, env and entrypoint', async () => {
    const info = parseJson<{
      Architecture: string;
      Os: string;
      Labels: Record<string, string>;
      Digest: string;
      Layers: string[];
    }>((await runOk('skopeo', ['inspect', `oci:${out}:latest`])).stdout);
    expect(info.Architecture).toBe('amd64');
    expect(info.Os).toBe('linux');
    expect(info.Labels).toEqual(expect.objectContaining({ team: 'payments', tier: 'backend' }));
    expect(info.Digest).toBe(digest);
    expect(info.Layers.length).toBeGreaterThanOrEqual(2); // the base layer plus ours
    const config = parseJson<{ config: { Env?: string[]; Entrypoint?: string[] }; rootfs: { diff_ids: string[] } }>(
      (await runOk('skopeo', ['inspect', '--config', `oci:${out}:latest`])).stdout,
    );
    expect(config.config.Env).toEqual(expect.arrayContaining(['LANG=C.UTF-8', 'APP_MODE=production']));
    expect(config.config.Entrypoint).toEqual(['/usr/local/bin/app.sh']);
    expect(config.rootfs.diff_ids).toHaveLength(info.Layers.length);
  });

  it('umoci unpacks it into exactly the expected files, modes and contents', async () => {
    const bundle = join(p.work, 'bundle2');
    await runOk('umoci', ['unpack', ...umociUnpackFlags(), '--image', `${out}:latest`, bundle]);
    expect(await listTree(join(bundle, 'rootfs'))).toEqual(EXPECTED);
    // The transitive dependency's content is the version the constraints chose (data 1.2.0).
    expect(await readFile(join(bundle, 'rootfs/usr/share/data/greeting.txt'), 'utf8')).toBe(GREETING);
  });

  it('--rootfs materializes the same tree', async () => {
    expect(await listTree(rootfs)).toEqual(EXPECTED);
  });
});

describe('determinism', () => {
  it('same manifest and store, other working directory, later: same digest', async () => {
    const cwdA = join(p.work, 'cwd-a');
    const cwdB = join(p.work, 'cwd-b', 'deeper');
    await mkdir(cwdA, { recursive: true });
    await mkdir(cwdB, { recursive: true });
    await writeFile(join(cwdA, 'm.yaml'), MANIFEST);
    await sleep(1100);
    const a = await lseOk(p.store, ['synth', 'm.yaml', '--out', 'img'], { cwd: cwdA });
    await sleep(1100);
    const b = await lseOk(p.store, ['synth', manifestFile, '--out', join(cwdB, 'img')], { cwd: cwdB });
    expect(a.stdout.trim()).toBe(digest);
    expect(b.stdout.trim()).toBe(digest);
    // The layouts are byte-identical too.
    expect(await listTree(join(cwdA, 'img'))).toEqual(await listTree(join(cwdB, 'img')));
  });

  it('a second store built from the same inputs and key files gives the same digest', async () => {
    const work2 = await tempDir();
    const store2 = join(work2, 'store');
    await prepareStore(store2, p.keysDir, p.sources, p.baseLayout);
    const r = await lseOk(store2, ['synth', manifestFile, '--out', join(work2, 'image')]);
    expect(r.stdout.trim()).toBe(digest);
  });

  it('a one-label change to the manifest changes the digest (the equality above is not vacuous)', async () => {
    const changed = join(p.work, 'changed.yaml');
    await writeFile(changed, MANIFEST.replace('tier: backend', 'tier: frontend'));
    const r = await lseOk(p.store, ['synth', changed, '--out', join(p.work, 'image-changed')]);
    expect(r.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.stdout.trim()).not.toBe(digest);
  });
});
