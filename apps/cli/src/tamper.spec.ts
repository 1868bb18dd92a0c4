/**
 * Tampering: each case damages a private copy of the prepared store (or its trust), then
 * `lse synth` must exit 4 naming the fragment (`name@version`) and the reason, and leave neither
 * the `--out` directory nor a `.partial` sibling behind.
 */
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fragmentId, type Fragment } from '@lse/core';
import {
  MANIFEST,
  copyTree,
  expectExit,
  generateKey,
  lse,
  lseOk,
  parseJson,
  removeTempDirs,
  setupPrepared,
  tempDir,
  writeFileMode,
  type PreparedStore,
} from './testkit';

jest.setTimeout(60_000);

let p: PreparedStore & { work: string };
let manifestFile: string;
let rogueKey: string;
let narrowKey: string;

beforeAll(async () => {
  p = await setupPrepared();
  manifestFile = join(p.work, 'acceptance.yaml');
  await writeFile(manifestFile, MANIFEST);
  // Keys that are not trusted in the prepared store (each case decides what to do with them).
  rogueKey = await generateKey(p.store, p.keysDir, 'rogue');
  narrowKey = await generateKey(p.store, p.keysDir, 'narrow');
  await writeFileMode(join(p.work, 'src/data-1.3.0/usr/share/data/greeting.txt'), 'hello from data 1.3.0\n', 0o644);
});
afterAll(removeTempDirs);

/** A private copy of the prepared store, in its own dir (so siblings of --out can be listed). */
async function damagedCopy(): Promise<{ dir: string; store: string; out: string }> {
  const dir = await tempDir('lse-tamper-');
  const store = join(dir, 'store');
  await copyTree(p.store, store);
  return { dir, store, out: join(dir, 'image') };
}

/** Runs synth and checks the common promises of a refused synthesis; returns stderr. */
async function expectRefused(
  c: { dir: string; store: string; out: string },
  label: string,
  reason: RegExp,
): Promise<string> {
  const r = await lse(c.store, ['synth', manifestFile, '--out', c.out, '--rootfs', join(c.dir, 'rootfs')]);
  expectExit(r, 4);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(label);
  expect(r.stderr).toMatch(reason);
  expect(existsSync(c.out)).toBe(false);
  expect(existsSync(join(c.dir, 'rootfs'))).toBe(false);
  expect((await readdir(c.dir)).sort()).toEqual(['store']); // no .image.partial-* left behind
  return r.stderr;
}

async function show(store: string, ref: string): Promise<Fragment> {
  return parseJson<Fragment>((await lseOk(store, ['--json', 'fragment', 'show', ref])).stdout);
}

const hex = (id: string) => id.slice('sha256:'.length);

describe('lse synth refuses a tampered store', () => {
  it('control: the untouched copy synthesizes', async () => {
    const c = await damagedCopy();
    const r = await lse(c.store, ['synth', manifestFile, '--out', c.out]);
    expectExit(r, 0);
    expect(existsSync(join(c.out, 'index.json'))).toBe(true);
  });

  it('a: a fragment blob altered on disk (and lse verify reports it)', async () => {
    const c = await damagedCopy();
    const f = await show(c.store, 'data@1.2.0');
    const blob = join(c.store, 'blobs/fragments/sha256', hex(f.descriptor.blob.digest));
    const bytes = await readFile(blob);
    const i = bytes.indexOf('hello from data');
    expect(i).toBeGreaterThan(0);
    bytes[i] = 'j'.charCodeAt(0); // same size, different content
    await chmod(blob, 0o644);
    await writeFile(blob, bytes);
    await expectRefused(c, 'data@1.2.0', /altered|DIGEST_MISMATCH|digest/i);

    const v = await lse(c.store, ['verify']);
    expectExit(v, 4);
    expect(v.stderr).toContain('data@1.2.0');
    expect(v.stderr + v.stdout).toMatch(/DIGEST_MISMATCH|altered/);
    const vj = await lse(c.store, ['--json', 'verify']);
    expectExit(vj, 4);
    const body = parseJson<{ ok: boolean; problems: { what: string; code: string }[] }>(vj.stdout);
    expect(body.ok).toBe(false);
    expect(body.problems).toEqual([
      expect.objectContaining({ code: 'DIGEST_MISMATCH', what: expect.stringContaining('data@1.2.0') }),
    ]);
  });

  it('b: a fragment signed by a key that was never trusted', async () => {
    const c = await damagedCopy();
    await lseOk(c.store, [
      'fragment',
      'pack',
      join(p.work, 'src/data-1.3.0'),
      '--name',
      'data',
      '--version',
      '1.3.0',
      '--key',
      rogueKey,
    ]);
    await expectRefused(c, 'data@1.3.0', /rogue.*not in the trust store/);
  });

  it('c: a fragment whose key was revoked', async () => {
    const c = await damagedCopy();
    await lseOk(c.store, ['trust', 'revoke', 'publisher']);
    await expectRefused(c, 'data@1.2.0', /publisher.*revoked/);
  });

  it('e: a key whose --scope does not cover the fragment name', async () => {
    const c = await damagedCopy();
    await lseOk(c.store, ['trust', 'add', join(p.keysDir, 'narrow.pub'), '--scope', 'lib*', '--scope', 'app']);
    await lseOk(c.store, [
      'fragment',
      'pack',
      join(p.work, 'src/data-1.3.0'),
      '--name',
      'data',
      '--version',
      '1.3.0',
      '--key',
      narrowKey,
    ]);
    await expectRefused(c, 'data@1.3.0', /narrow.*may only sign.*not 'data'/);
  });

  describe('d: a descriptor whose signed name was changed', () => {
    /**
     * A genuine fragment `evil@1.9.0` (trusted publisher) is relabelled `data` so the resolver
     * would take it for data ^1.0.0. Returns the copy and the edited record.
     */
    async function relabel(): Promise<{ c: Awaited<ReturnType<typeof damagedCopy>>; f: Fragment }> {
      const c = await damagedCopy();
      await lseOk(c.store, [
        'fragment',
        'pack',
        join(p.work, 'src/data-1.3.0'),
        '--name',
        'evil',
        '--version',
        '1.9.0',
        '--key',
        p.publisherKey,
      ]);
      const f = await show(c.store, 'evil@1.9.0');
      f.descriptor.name = 'data';
      await writeFile(join(c.store, 'fragments/by-id', `${hex(f.id)}.json`), JSON.stringify(f));
      await mkdir(join(c.store, 'fragments/by-name/data'), { recursive: true });
      await rename(
        join(c.store, 'fragments/by-name/evil', hex(f.id)),
        join(c.store, 'fragments/by-name/data', hex(f.id)),
      );
      return { c, f };
    }

    it('edited in place (the id no longer matches)', async () => {
      const { c } = await relabel();
      // The resolver does pick it up: the damage is reached, not side-stepped.
      const lock = (await lseOk(c.store, ['resolve', manifestFile])).stdout;
      expect(lock).toMatch(/^data 1\.9\.0 /m);
      await expectRefused(c, 'data@1.9.0', /altered|does not match its id/);
    });

    it('moved so the id is recomputed (the signature no longer verifies)', async () => {
      const { c, f } = await relabel();
      const oldHex = hex(f.id);
      f.id = fragmentId(f.descriptor);
      await rm(join(c.store, 'fragments/by-id', `${oldHex}.json`));
      await writeFile(join(c.store, 'fragments/by-id', `${hex(f.id)}.json`), JSON.stringify(f));
      await rename(join(c.store, 'fragments/by-name/data', oldHex), join(c.store, 'fragments/by-name/data', hex(f.id)));
      const lock = (await lseOk(c.store, ['resolve', manifestFile])).stdout;
      expect(lock).toContain(`data 1.9.0 ${f.id}`);
      await expectRefused(c, 'data@1.9.0', /signature.*does not verify/);
    });
  });
});
