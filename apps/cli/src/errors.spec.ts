/**
 * Output a person or a script can act on: resolution failures show the whole chain (exit 3),
 * invalid manifests list every problem as FILE:LINE:COL (exit 2), `resolve` prints the lock in
 * install order, `--json` is JSON for results and errors alike, every command has `--help`, and
 * `keys generate` protects the secret key.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  LSE_BIN,
  MANIFEST,
  expectExit,
  lse,
  lseOk,
  parseJson,
  removeTempDirs,
  run,
  setupPrepared,
  tempDir,
  writeFileMode,
  type PreparedStore,
  type RunResult,
} from './testkit';

jest.setTimeout(60_000);

let p: PreparedStore & { work: string };
let manifestFile: string;

const manifest = (body: string) => `apiVersion: lse.dev/v1
kind: DependencyManifest
metadata: { name: errors }
base: minimal
${body}`;

interface JsonError {
  error: { code: string; message: string; details?: Record<string, unknown> };
  exitCode: number;
}

beforeAll(async () => {
  p = await setupPrepared();
  manifestFile = join(p.work, 'acceptance.yaml');
  await writeFile(manifestFile, MANIFEST);
  // A chain that ends in a version nobody published: broken-app -> broken-lib -> data ^5.
  await writeFileMode(join(p.work, 'src/broken/usr/share/broken/readme'), 'broken\n', 0o644);
  const pack = (name: string, dep: string) =>
    lseOk(p.store, [
      'fragment',
      'pack',
      join(p.work, 'src/broken'),
      '--name',
      name,
      '--version',
      '1.0.0',
      '--depends',
      dep,
      '--key',
      p.publisherKey,
    ]);
  await pack('broken-app', 'broken-lib ^1');
  await pack('broken-lib', 'data ^5');
});
afterAll(removeTempDirs);

async function writeManifest(name: string, text: string): Promise<string> {
  const f = join(p.work, name);
  await writeFile(f, text);
  return f;
}

describe('resolution failures (exit 3) explain themselves', () => {
  it('requires app ^3 when only 2.x exist: names the requirement and what exists', async () => {
    const m = await writeManifest('app3.yaml', manifest('require:\n  - { name: app, version: "^3" }\n'));
    const out = join(p.work, 'never-app3');
    const r = await lse(p.store, ['synth', m, '--out', out]);
    expectExit(r, 3);
    expect(r.stderr).toMatch(/app \^3/);
    expect(r.stderr).toMatch(/2\.3\.1/); // what there is instead
    expect(existsSync(out)).toBe(false);
  });

  it('a chain ending in a missing version names every link', async () => {
    const m = await writeManifest('chain.yaml', manifest('require:\n  - name: broken-app\n'));
    const r = await lse(p.store, ['resolve', m]);
    expectExit(r, 3);
    for (const link of ['broken-app', 'broken-lib ^1', 'data ^5']) expect(r.stderr).toContain(link);
    expect(r.stdout).toBe('');
    const j = await lse(p.store, ['--json', 'synth', m, '--out', join(p.work, 'never-chain')]);
    expectExit(j, 3);
    const body = parseJson<JsonError>(j.stdout);
    expect(body).toEqual({
      error: expect.objectContaining({ code: 'UNSATISFIABLE', message: expect.stringContaining('broken-lib') }),
      exitCode: 3,
    });
  });
});

describe('regions: fragment pack --region, resolve --region / --region-fallback', () => {
  it('takes the variant of the runtime region or a fallback; none fitting is exit 3 naming the regions', async () => {
    const store = await tempDir('lse-cli-regions-'); // its own store: the shared one's fragment counts stay as the other tests expect
    await lseOk(store, ['trust', 'add', join(p.keysDir, 'publisher.pub')]);
    await writeFileMode(join(p.work, 'src/mirrors/etc/apt/mirror'), 'near\n', 0o644);
    const pack = async (region: string) =>
      parseJson<{ id: string }>(
        (
          await lseOk(store, [
            '--json',
            'fragment',
            'pack',
            join(p.work, 'src/mirrors'),
            '--name',
            'mirrors',
            '--version',
            '1.0.0',
            '--region',
            region,
            '--key',
            p.publisherKey,
          ])
        ).stdout,
      ).id;
    const eu = await pack('eu-west');
    const us = await pack('us-east');
    expect(eu).not.toBe(us);
    const m = await writeManifest(
      'mirrors.yaml',
      'apiVersion: lse.dev/v1\nkind: DependencyManifest\nmetadata: { name: mirrors }\nbase: scratch\nrequire:\n  - name: mirrors\n',
    );
    expect((await lseOk(store, ['resolve', m, '--region', 'eu-west'])).stdout).toContain(eu);
    expect((await lseOk(store, ['resolve', m, '--region', 'us-east'])).stdout).toContain(us);
    expect(
      (await lseOk(store, ['resolve', m, '--region', 'ap-south', '--region-fallback', 'eu-west'])).stdout,
    ).toContain(eu);
    const r = await lse(store, ['--json', 'resolve', m, '--region', 'ap-south']);
    expectExit(r, 3);
    expect(parseJson<JsonError>(r.stdout).error).toMatchObject({
      code: 'NO_VARIANT',
      details: expect.objectContaining({ regions: ['eu-west', 'us-east'] }),
    });
    expectExit(await lse(store, ['resolve', m, '--region', 'Not A Region']), 2);
  });
});

describe('invalid manifests (exit 2) list every problem with FILE:LINE:COL: path: message', () => {
  const text = manifest('requires:\n  - name: app\nenv:\n  PORT: 8080\n');
  // Line 5 col 1: the misspelt key; line 8 col 9: the number 8080.

  it('for a person, on stderr', async () => {
    const m = await writeManifest('invalid.yaml', text);
    const r = await lse(p.store, ['synth', m, '--out', join(p.work, 'never-invalid')]);
    expectExit(r, 2);
    expect(r.stderr).toMatch(/^\S*invalid\.yaml:5:1: requires: .*'require'/m);
    expect(r.stderr).toMatch(/^\S*invalid\.yaml:8:9: env\.PORT: .*number/m);
    expect(existsSync(join(p.work, 'never-invalid'))).toBe(false);
  });

  it('for a script, as JSON with each error located', async () => {
    const m = await writeManifest('invalid.yaml', text);
    const r = await lse(p.store, ['--json', 'resolve', m]);
    expectExit(r, 2);
    const body = parseJson<JsonError>(r.stdout);
    expect(body.exitCode).toBe(2);
    expect(body.error.code).toBe('MANIFEST_INVALID');
    expect(body.error.details?.['errors']).toEqual([
      expect.objectContaining({ path: 'requires', line: 5, column: 1 }),
      expect.objectContaining({ path: 'env.PORT', line: 8, column: 9 }),
    ]);
  });
});

describe('lse resolve', () => {
  it('prints NAME VERSION FRAGMENT_ID in install order, dependencies first', async () => {
    const list = parseJson<{ id: string; name: string; version: string }[]>(
      (await lseOk(p.store, ['--json', 'fragment', 'list'])).stdout,
    );
    const idOf = (name: string, version: string) => list.find((f) => f.name === name && f.version === version)?.id;
    const r = await lseOk(p.store, ['resolve', manifestFile]);
    expect(r.stdout.trim().split('\n')).toEqual([
      `data 1.2.0 ${idOf('data', '1.2.0')}`,
      `lib 1.4.0 ${idOf('lib', '1.4.0')}`,
      `app 2.3.1 ${idOf('app', '2.3.1')}`,
    ]);
    expect(idOf('data', '1.2.0')).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('--json output parses as JSON', () => {
  it('fragment list and fragment show', async () => {
    const list = parseJson<{ id: string; name: string; version: string; signedBy: string[] }[]>(
      (await lseOk(p.store, ['--json', 'fragment', 'list'])).stdout,
    );
    expect(list.map((f) => `${f.name}@${f.version}`)).toEqual([
      'app@2.0.0',
      'app@2.3.1',
      'broken-app@1.0.0',
      'broken-lib@1.0.0',
      'data@1.0.0',
      'data@1.2.0',
      'data@2.0.0',
      'lib@1.4.0',
    ]);
    expect(new Set(list.flatMap((f) => f.signedBy))).toEqual(new Set(['publisher']));
    const one = parseJson<{ id: string; descriptor: { name: string; depends: unknown[] } }>(
      (await lseOk(p.store, ['--json', 'fragment', 'show', 'lib@1.4.0'])).stdout,
    );
    expect(one.descriptor.name).toBe('lib');
    expect(one.id).toBe(list.find((f) => f.name === 'lib')!.id);
    expect(one.descriptor.depends).toEqual([[{ name: 'data', constraint: '^1.0.0' }]]);
    const all = parseJson<{ descriptor: { version: string } }[]>(
      (await lseOk(p.store, ['--json', 'fragment', 'show', 'data'])).stdout,
    );
    expect(all.map((f) => f.descriptor.version)).toEqual(['2.0.0', '1.2.0', '1.0.0']);
  });

  it('resolve, synth and verify', async () => {
    const res = parseJson<{ key: string; lock: { fragments: { name: string }[] } }>(
      (await lseOk(p.store, ['--json', 'resolve', manifestFile])).stdout,
    );
    expect(res.key).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(res.lock.fragments.map((f) => f.name)).toEqual(['data', 'lib', 'app']);
    const out = join(p.work, 'json-image');
    const syn = parseJson<{ manifestDigest: string; key: string; out: string; layers: unknown[] }>(
      (await lseOk(p.store, ['--json', 'synth', manifestFile, '--out', out])).stdout,
    );
    expect(syn.key).toBe(res.key);
    expect(syn.out).toBe(out);
    const index = parseJson<{ manifests: { digest: string }[] }>(await readFile(join(out, 'index.json'), 'utf8'));
    expect(index.manifests[0]!.digest).toBe(syn.manifestDigest);
    const ver = parseJson<{ ok: boolean; fragments: number; bases: number; problems: unknown[] }>(
      (await lseOk(p.store, ['--json', 'verify'])).stdout,
    );
    expect(ver).toEqual({
      ok: true,
      fragments: 8,
      unfetched: 0,
      chained: 0,
      unsigned: 0,
      accepted: { descriptor: 8, derivation: 0, none: 0 },
      bases: 1,
      problems: [],
    });
  });

  it('errors: { error: { code, message }, exitCode }', async () => {
    const r = await lse(p.store, ['--json', 'fragment', 'show', 'nosuch@1.0.0']);
    expectExit(r, 3);
    expect(parseJson<JsonError>(r.stdout)).toEqual({
      error: expect.objectContaining({ code: 'FRAGMENT_UNKNOWN', message: expect.stringContaining('nosuch@1.0.0') }),
      exitCode: 3,
    });
    const exists = await lse(p.store, ['--json', 'synth', manifestFile, '--out', manifestFile]);
    expectExit(exists, 2);
    expect(parseJson<JsonError>(exists.stdout)).toEqual({
      error: expect.objectContaining({ code: 'OUTPUT_EXISTS' }),
      exitCode: 2,
    });
  });

  it('usage errors (a missing required option) are JSON too', async () => {
    const r = await lse(p.store, ['--json', 'synth', manifestFile]);
    expectExit(r, 2);
    expect(parseJson<JsonError>(r.stdout)).toEqual({
      error: expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('--out') }),
      exitCode: 2,
    });
  });
});

describe('--help', () => {
  const HELP: [string[], string[]][] = [
    [[], ['--store', '--json', '--quiet', 'keys', 'trust', 'fragment', 'base', 'resolve', 'synth', 'verify']],
    [['keys'], ['generate']],
    [
      ['keys', 'generate'],
      ['--name', '--out'],
    ],
    [['trust'], ['add', 'revoke', 'list']],
    [
      ['trust', 'add'],
      ['--scope', 'file.pub'],
    ],
    [['trust', 'revoke'], ['<name>']],
    [['trust', 'list'], ['--help']],
    [['fragment'], ['pack', 'list', 'show']],
    [
      ['fragment', 'pack'],
      [
        '--name',
        '--version',
        '--scheme',
        '--arch',
        '--variant',
        '--feature',
        '--libc',
        '--depends',
        '--pre-depends',
        '--provides',
        '--conflicts',
        '--breaks',
        '--key',
        '--allow-setuid',
      ],
    ],
    [['fragment', 'list'], ['--help']],
    [['fragment', 'show'], ['name[@version]']],
    [['base'], ['import', 'list']],
    [
      ['base', 'import'],
      ['--name', '--tag', '--arch'],
    ],
    [['base', 'list'], ['--help']],
    [['resolve'], ['--platform', '<manifest>']],
    [['synth'], ['--out', '--platform', '--rootfs', '--force', '<manifest>']],
    [['verify'], ['--help']],
  ];

  it('works on every command and subcommand (exit 0, names its flags)', async () => {
    const results: RunResult[] = [];
    for (let i = 0; i < HELP.length; i += 2) {
      // Two at a time: each is a node start-up.
      results.push(...(await Promise.all(HELP.slice(i, i + 2).map(([cmd]) => lse(p.store, [...cmd, '--help'])))));
    }
    HELP.forEach(([cmd, flags], i) => {
      const r = results[i]!;
      expect({ cmd, code: r.code }).toEqual({ cmd, code: 0 });
      expect(r.stdout).toContain(`Usage: lse${cmd.length ? ' ' + cmd.join(' ') : ''}`);
      for (const f of flags)
        expect({ cmd, mentions: f, found: r.stdout.includes(f) }).toEqual({ cmd, mentions: f, found: true });
    });
  });

  it('lse --version and lse -V print the version', async () => {
    const lone = await run(process.execPath, [LSE_BIN, '--version']);
    const short = await lse(p.store, ['-V']);
    for (const r of [lone, short]) {
      expectExit(r, 0);
      expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });
});

describe('lse keys generate', () => {
  it('writes NAME.key with mode 0600 and NAME.pub, and never overwrites', async () => {
    const dir = join(await tempDir('lse-keys-'), 'nested', 'keys');
    const r = await lseOk(p.store, ['keys', 'generate', '--name', 'acme-1', '--out', dir]);
    const secret = join(dir, 'acme-1.key');
    const pub = join(dir, 'acme-1.pub');
    expect((await stat(secret)).mode & 0o777).toBe(0o600);
    const pubText = (await readFile(pub, 'utf8')).trim();
    expect(pubText).toMatch(/^acme-1:[A-Za-z0-9+/]{43}=$/);
    expect(r.stdout.trim()).toBe(pubText);
    const secretText = await readFile(secret, 'utf8');

    const again = await lse(p.store, ['keys', 'generate', '--name', 'acme-1', '--out', dir]);
    expectExit(again, 2);
    expect(again.stderr).toMatch(/already exists.*never overwritten/);
    expect(await readFile(secret, 'utf8')).toBe(secretText);
    expect((await readFile(pub, 'utf8')).trim()).toBe(pubText);
  });

  it('refuses when only the .pub exists, writing no .key', async () => {
    const dir = await tempDir('lse-keys-');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'half.pub'), 'half:AAAA\n');
    const r = await lse(p.store, ['--json', 'keys', 'generate', '--name', 'half', '--out', dir]);
    expectExit(r, 2);
    expect(parseJson<JsonError>(r.stdout).error.code).toBe('OUTPUT_EXISTS');
    expect(existsSync(join(dir, 'half.key'))).toBe(false);
  });
});

describe('fragment pack --owner', () => {
  it('records the given numeric owner for every entry, and refuses a non-numeric one', async () => {
    const r = await lseOk(p.store, [
      '--json',
      'fragment',
      'pack',
      join(p.work, 'src/broken'),
      '--name',
      'owned',
      '--version',
      '1.0.0',
      '--owner',
      '1000:1001',
      '--key',
      p.publisherKey,
    ]);
    const shown = JSON.parse((await lseOk(p.store, ['--json', 'fragment', 'show', 'owned@1.0.0'])).stdout) as {
      id: string;
      descriptor: { files: { uid: number; gid: number }[] };
    };
    expect(shown.id).toBe(JSON.parse(r.stdout).id);
    expect(shown.descriptor.files.length).toBeGreaterThan(0);
    for (const f of shown.descriptor.files) expect([f.uid, f.gid]).toEqual([1000, 1001]);
    const bad = await lse(p.store, [
      '--json',
      'fragment',
      'pack',
      join(p.work, 'src/broken'),
      '--name',
      'owned2',
      '--version',
      '1.0.0',
      '--owner',
      'root',
      '--key',
      p.publisherKey,
    ]);
    expectExit(bad, 2);
    expect(JSON.parse(bad.stdout).error.message).toMatch(/--owner must be numeric UID:GID/);
  });
});
