/**
 * Issue acceptance, end to end against the running stack (infra/local/stack.sh up: five services
 * as separate processes, two fetchers, two assemblers, real NATS, FerretDB and MinIO):
 *  - 50 syntheses over REST and 50 published as NATS events, mixed manifests, some identical:
 *    all complete, each completed event exactly once, identical manifests share one result,
 *    images read back from S3 pass `umoci unpack` with the expected files;
 *  - a blob tampered in the origin fails its synthesis at the verifier, others are unaffected;
 *  - kill -9 of an assembler mid-run: its work is redelivered and completes, once;
 *  - lease release and expiry collect exactly the unreferenced blobs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatKey, generateKeyPair, publicKeyOf, writeTar, type SecretKey, type TarEntry } from '@lse/core';
import { HEADERS, SUBJECTS, eventSubjects } from '@lse/contracts';
import { buildFragment, Collector, silentLog } from '@lse/engine';
import { writeOciLayout } from '@lse/adapter-fs';
import { MongoStore } from '@lse/adapter-mongo';
import { tamperGridFsBlob } from '@lse/adapter-mongo/testing';
import { NatsBus } from '@lse/adapter-nats';
import { S3BlobStore, makeS3Client } from '@lse/adapter-s3';
import { fileEntry, gatewayApi, testServers } from '@lse/testing';
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy } from '@nats-io/jetstream';

jest.setTimeout(240_000);

const env = process.env;
const SERVER = env['LSE_SERVER'];
const TOKEN = env['LSE_TOKEN'];
const STATE = env['LSE_STATE_DIR'] ?? join(env['HOME'] ?? '/root', '.local/state/lse-local');
const run = Date.now().toString(36);
const n = (s: string) => `e2e${run}-${s}`;

const api = gatewayApi(SERVER, TOKEN);
const file = fileEntry;

function manifest(name: string, require: string[], motd?: string) {
  return {
    apiVersion: 'lse.dev/v1',
    kind: 'DependencyManifest',
    metadata: { name },
    base: `${n('base')}:latest`,
    require: require.map((r) => ({ name: r })),
    env: { APP: name },
    entrypoint: ['/usr/local/bin/app'],
    ...(motd ? { files: [{ path: '/etc/motd', content: motd, mode: '0644' }] } : {}),
  };
}

describe('distributed synthesis end to end', () => {
  let key: SecretKey;
  let bus: NatsBus;
  let mongo: MongoStore;
  let layers: S3BlobStore;
  const completedIds = new Map<string, number>();
  const failedIds = new Map<string, unknown>();
  let stopEvents: () => Promise<void>;

  const publish = async (name: string, version: string, entries: TarEntry[], depends: string[] = []) => {
    const { fragment, blob } = buildFragment({
      entries,
      name,
      version,
      scheme: 'semver',
      depends,
      key,
      epoch: 0,
      source: { type: 'e2e' },
    });
    const r = await api('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') });
    expect(r.status).toBe(201);
    return fragment;
  };

  const waitFor = async (ids: string[], seconds: number) => {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline && !ids.every((id) => completedIds.has(id) || failedIds.has(id)))
      await new Promise((r) => setTimeout(r, 250));
  };

  beforeAll(async () => {
    if (!SERVER || !TOKEN)
      throw new Error(
        'the e2e test needs the stack: bash infra/local/stack.sh up && eval "$(bash infra/local/stack.sh env)"',
      );
    const servers = testServers();
    bus = await NatsBus.connect(servers.natsUrl, { name: 'e2e-test' });
    mongo = await MongoStore.connect(servers.mongoUrl, env['MONGO_DB'] ?? 'lse');
    layers = new S3BlobStore(makeS3Client(servers.s3), servers.s3.bucket, 'layers/');
    stopEvents = await bus.subscribe('lse.events.synthesis.>', async (m) => {
      const id = m.subject.split('.').pop()!;
      if (m.subject.startsWith('lse.events.synthesis.completed.'))
        completedIds.set(id, (completedIds.get(id) ?? 0) + 1);
      if (m.subject.startsWith('lse.events.synthesis.failed.')) failedIds.set(id, m.data);
    });

    key = generateKeyPair(n('key')).secretKey;
    expect(
      (await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`e2e${run}-*`] })).status,
    ).toBe(201);
    const rootfs = writeTar([
      { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
      file('etc/os-release', 'ID=e2e\n'),
    ]);
    expect(
      (await api('POST', '/v1/bases', { name: n('base'), tag: 'latest', rootfsTar: rootfs.toString('base64') })).status,
    ).toBe(201);
    await publish(n('data'), '1.0.0', [file('usr/share/e2e/data.txt', `data ${run}\n`)]);
    await publish(n('lib'), '1.2.0', [file('usr/lib/e2e/libe2e.so', 'ELF-ish\n')], [`${n('data')} ^1.0.0`]);
    for (const app of ['a', 'b', 'c'])
      await publish(
        n(`app-${app}`),
        '2.0.0',
        [file('usr/local/bin/app', `#!/bin/sh\necho ${app}\n`, 0o755)],
        [`${n('lib')} ^1.0.0`],
      );
    await publish(n('tool'), '0.3.0', [file(`usr/bin/tool-${run}`, 'tool\n', 0o755)]);
  });

  afterAll(async () => {
    await stopEvents?.();
    await bus?.close();
    await mongo?.close();
  });

  const variants = () => [
    manifest('svc-a', [n('app-a')]),
    manifest('svc-b', [n('app-b'), n('tool')]),
    manifest('svc-c', [n('app-c')], 'hello c\n'),
    manifest('svc-d', [n('lib'), n('tool')]),
    manifest('svc-a', [n('app-a')]), // identical to the first
  ];

  it('completes 50 REST and 50 NATS syntheses once each; identical manifests share one result; images unpack', async () => {
    const ms = variants();
    const ids: { id: string; variant: number }[] = [];
    const rest = Array.from({ length: 50 }, async (_, i) => {
      const r = await api<{ id: string; status: string }>('POST', '/v1/syntheses', { manifest: ms[i % ms.length] });
      // 202 while it runs; 200 when an identical manifest completed already and the gateway
      // answered this one from its memory of recent results (a repeat, completed at once).
      expect(r.status === 202 || (r.status === 200 && r.body.status === 'completed')).toBe(true);
      ids.push({ id: r.body.id, variant: (i % ms.length) % 4 });
    });
    for (let i = 0; i < 50; i++) {
      const id = `nats-${run}-${i}`;
      await bus.publish(
        SUBJECTS.requested,
        { v: 1, synthesisId: id, manifest: ms[i % ms.length], requestedAt: new Date().toISOString() },
        { [HEADERS.synthesisId]: id, [HEADERS.requestId]: id, [HEADERS.msgId]: `requested:${id}` },
      );
      ids.push({ id, variant: (i % ms.length) % 4 });
    }
    await Promise.all(rest);
    await waitFor(
      ids.map((x) => x.id),
      180,
    );
    expect([...failedIds.keys()].filter((id) => ids.some((x) => x.id === id))).toEqual([]);
    expect(ids.filter((x) => !completedIds.has(x.id))).toEqual([]);

    // Exactly once, counted in the event stream itself (not just what this subscriber saw).
    const jsm = await jetstreamManager(bus.nc);
    const ci = await jsm.consumers.add('LSE_EVENTS', {
      filter_subject: 'lse.events.synthesis.completed.>',
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: 60_000_000_000,
    });
    const counts = new Map<string, number>();
    const js = jetstream(bus.nc);
    const consumer = await js.consumers.get('LSE_EVENTS', ci.name);
    const total = (await consumer.info()).num_pending;
    const iter = await consumer.fetch({ max_messages: total, expires: 10_000 });
    for await (const m of iter) {
      const id = m.subject.split('.').pop()!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
      if ([...counts.values()].reduce((a, b) => a + b, 0) >= total) break;
    }
    for (const { id } of ids) expect([id, counts.get(id)]).toEqual([id, 1]);

    // Identical manifests → one result; different manifests → different images.
    const digests = new Map<number, Set<string>>();
    for (const { id, variant } of ids) {
      const r = await api<{ status: string; result: { manifestDigest: string } }>('GET', `/v1/syntheses/${id}`);
      expect(r.body.status).toBe('completed');
      if (!digests.has(variant)) digests.set(variant, new Set());
      digests.get(variant)!.add(r.body.result.manifestDigest);
    }
    for (const set of digests.values()) expect(set.size).toBe(1);
    expect(new Set([...digests.values()].map((s) => [...s][0])).size).toBe(4);

    // Read two images back from S3 and unpack them with umoci.
    for (const v of [0, 2]) {
      const id = ids.find((x) => x.variant === v)!.id;
      const { body } = await api<{
        result: { manifestDigest: string; configDigest: string; layers: { digest: string }[] };
      }>('GET', `/v1/syntheses/${id}`);
      const dir = mkdtempSync(join(tmpdir(), 'lse-e2e-'));
      await writeOciLayout(join(dir, 'oci'), {
        manifest: await layers.get(body.result.manifestDigest),
        config: await layers.get(body.result.configDigest),
        blobs: await Promise.all(
          body.result.layers.map(async (l) => [l.digest, await layers.get(l.digest)] as [string, Buffer]),
        ),
      });
      execFileSync('umoci', ['unpack', '--image', `${join(dir, 'oci')}:latest`, join(dir, 'bundle')], {
        stdio: 'pipe',
      });
      const rootfs = join(dir, 'bundle', 'rootfs');
      const files: string[] = [];
      const walk = (d: string, rel = ''): void => {
        for (const e of readdirSync(d)) {
          const p = join(d, e);
          if (statSync(p).isDirectory()) walk(p, `${rel}${e}/`);
          else files.push(rel + e);
        }
      };
      walk(rootfs);
      const expected = [
        'etc/os-release',
        'usr/lib/e2e/libe2e.so',
        'usr/local/bin/app',
        'usr/share/e2e/data.txt',
        ...(v === 2 ? ['etc/motd'] : []),
      ].sort();
      expect(files.sort()).toEqual(expected);
      expect(readFileSync(join(rootfs, 'usr/local/bin/app'), 'utf8')).toBe(`#!/bin/sh\necho ${v === 0 ? 'a' : 'c'}\n`);
      expect(statSync(join(rootfs, 'usr/local/bin/app')).mode & 0o777).toBe(0o755);
    }
  });

  it('fails a synthesis whose fragment blob was tampered in the origin at the verifier; others are unaffected', async () => {
    const bad = await publish(n('bad'), '1.0.0', [file('usr/share/bad.txt', 'original\n')]);
    await tamperGridFsBlob(mongo.db, bad.descriptor.blob.digest, Buffer.from('tampered bytes of the same story\n'));
    const [failed, fine] = await Promise.all([
      api('POST', '/v1/syntheses', { manifest: manifest('bad', [n('bad')]) }, { prefer: 'wait=60' }),
      api('POST', '/v1/syntheses', { manifest: manifest('fine', [n('tool')], `fine ${run}\n`) }, { prefer: 'wait=60' }),
    ]);
    expect(failed.status).toBe(422);
    expect(failed.body).toMatchObject({ status: 'failed', error: { stage: 'verifier', code: 'DIGEST_MISMATCH' } });
    expect(failed.body.error.message).toContain(`${n('bad')}@1.0.0`);
    await waitFor([failed.body.id], 10);
    expect(failedIds.get(failed.body.id)).toMatchObject({ stage: 'verifier', code: 'DIGEST_MISMATCH' });
    expect(fine.body.status).toBe('completed');
  });

  it('redelivers the work of an assembler killed with SIGKILL: every synthesis completes, once', async () => {
    const pidFile = join(STATE, 'run', 'svc-assembler-1.pid');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const ids: string[] = [];
    const posts = Array.from({ length: 20 }, async (_, i) => {
      const r = await api<{ id: string }>('POST', '/v1/syntheses', {
        manifest: manifest(`kill-${i}`, [n('app-b')], `kill ${run} ${i}\n`),
      });
      ids.push(r.body.id);
    });
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid, 'SIGKILL');
    await Promise.all(posts);
    await waitFor(ids, 150);
    expect(ids.filter((id) => !completedIds.has(id))).toEqual([]);
    for (const id of ids) expect(completedIds.get(id)).toBe(1);
    execFileSync('bash', ['infra/local/stack.sh', 'up'], {
      cwd: join(__dirname, '../../..'),
      stdio: 'pipe',
      env: process.env,
    });
  });

  it('drains a service on SIGTERM: it stops taking work, finishes what it has, logs "stopped" and exits', async () => {
    const pid = Number(readFileSync(join(STATE, 'run', 'svc-verifier-1.pid'), 'utf8'));
    const log = join(STATE, 'logs', 'svc-verifier-1.log');
    const before = readFileSync(log, 'utf8').length;
    const pending = api(
      'POST',
      '/v1/syntheses',
      { manifest: manifest('drain', [n('tool')], `drain ${run}\n`) },
      { prefer: 'wait=60' },
    );
    await new Promise((r) => setTimeout(r, 200));
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (
      Date.now() < deadline &&
      (() => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      })()
    )
      await new Promise((r) => setTimeout(r, 100));
    const lines = readFileSync(log, 'utf8')
      .slice(before)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['draining', 'stopped']));
    execFileSync('bash', ['infra/local/stack.sh', 'up'], {
      cwd: join(__dirname, '../../..'),
      stdio: 'pipe',
      env: process.env,
    });
    const r = await pending; // verified by the drained process or by its restart: either way, once
    expect(r.body.status).toBe('completed');
  });

  it('works from the lse CLI with --server (pack, base import, synth with per-stage progress) and from the NATS example client', async () => {
    const repo = join(__dirname, '../../..');
    const dir = mkdtempSync(join(tmpdir(), 'lse-e2e-cli-'));
    const lse = (...args: string[]) =>
      execFileSync('node', [join(repo, 'apps/cli/bin/lse.js'), ...args], {
        cwd: dir,
        env: process.env,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    const lseAll = (...args: string[]) =>
      spawnSync('node', [join(repo, 'apps/cli/bin/lse.js'), ...args], { cwd: dir, env: process.env, encoding: 'utf8' });
    lse('keys', 'generate', '--name', n('cli'), '--out', dir);
    expect(lse('trust', 'add', join(dir, `${n('cli')}.pub`), '--scope', `e2e${run}-cli-*`)).toContain(
      `trusted ${n('cli')}`,
    );
    const k = join(dir, `${n('cli')}.key`);
    lse(
      'fragment',
      'pack',
      join(repo, 'examples/fragments/hello-data'),
      '--name',
      n('cli-data'),
      '--version',
      '1.2.0',
      '--key',
      k,
    );
    const id = lse(
      'fragment',
      'pack',
      join(repo, 'examples/fragments/hello-app'),
      '--name',
      n('cli-app'),
      '--version',
      '1.0.3',
      '--depends',
      `${n('cli-data')} ^1.0.0`,
      '--key',
      k,
    ).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.parse(lse('--json', 'fragment', 'list')).map((f: { id: string }) => f.id)).toContain(id);
    execFileSync('tar', [
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-C',
      join(repo, 'examples/base-rootfs'),
      '-cf',
      join(dir, 'base.tar'),
      '.',
    ]);
    expect(lse('base', 'import', join(dir, 'base.tar'), '--name', n('cli-base')).trim()).toMatch(
      /^sha256:[0-9a-f]{64}$/,
    );
    expect(lse('base', 'list')).toContain(`${n('cli-base')}:latest`);
    const manifestFile = join(dir, 'cli.yaml');
    writeFileSync(
      manifestFile,
      [
        'apiVersion: lse.dev/v1',
        'kind: DependencyManifest',
        'metadata: { name: cli-e2e }',
        `base: ${n('cli-base')}`,
        `require: [{ name: ${n('cli-app')} }]`,
        'entrypoint: ["/usr/local/bin/hello.sh"]',
        '',
      ].join('\n'),
    );
    expect(
      lse('resolve', manifestFile)
        .trim()
        .split('\n')
        .map((l) => l.split(' ')[0]),
    ).toEqual([n('cli-data'), n('cli-app')]);
    const synth = lseAll('synth', manifestFile, '--out', join(dir, 'img'), '--rootfs', join(dir, 'rootfs'));
    expect(synth.status).toBe(0);
    const digest = synth.stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    for (const stage of ['resolved', 'fetched', 'verified', 'assembled'])
      expect(synth.stderr).toMatch(new RegExp(`^\\s+${stage}\\s`, 'm'));
    expect(readFileSync(join(dir, 'rootfs/usr/share/hello/greeting.txt'), 'utf8')).toBe(
      'Hello from a signed LSE fragment!\n',
    );
    expect(readFileSync(join(dir, 'rootfs/etc/os-release'), 'utf8')).toContain('LSE minimal example base');
    expect(JSON.parse(readFileSync(join(dir, 'img/index.json'), 'utf8')).manifests[0].digest).toBe(digest);
    const bad = lseAll('synth', manifestFile, '--out', join(dir, 'img2'), '--token', 'not-a-valid-token-at-all');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/bearer token is not valid/);

    const client = spawnSync('node', [join(repo, 'examples/nats-client.mjs'), manifestFile, `example-${run}`], {
      env: process.env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(client.status).toBe(0);
    expect(JSON.parse(client.stdout)).toMatchObject({ synthesisId: `example-${run}`, manifestDigest: digest });
    expect(client.stderr).toMatch(/requested example-/);
  });

  it('collects exactly the unreferenced blobs on release and on expiry', async () => {
    const post = async (m: object) =>
      (
        await api<{
          id: string;
          result: { manifestDigest: string; configDigest: string; layers: { digest: string }[] };
        }>('POST', '/v1/syntheses', { manifest: m }, { prefer: 'wait=60' })
      ).body;
    const one = await post(manifest('lease-1', [n('tool')], `lease one ${run}\n`));
    const two = await post(manifest('lease-2', [n('tool')], `lease two ${run}\n`));
    const blobs = (r: typeof one) => [
      r.result.manifestDigest,
      r.result.configDigest,
      ...r.result.layers.map((l) => l.digest),
    ];
    const shared = blobs(one).filter((b) => blobs(two).includes(b));
    expect(shared.length).toBeGreaterThan(0); // the base layer and the tool layer
    const onlyOne = blobs(one).filter((b) => !shared.includes(b));
    const onlyTwo = blobs(two).filter((b) => !shared.includes(b));
    const collector = new Collector({
      leases: mongo.leases,
      bases: mongo.bases,
      layers,
      graceMs: 0,
      now: () => new Date(),
      log: silentLog,
    });

    expect((await api('DELETE', `/v1/syntheses/${one.id}`)).status).toBe(204);
    const r1 = await collector.collect();
    for (const b of onlyOne) expect(r1.deleted).toContain(b);
    for (const b of [...shared, ...onlyTwo]) expect(await layers.has(b)).toBe(true);

    expect((await api('POST', `/v1/syntheses/${two.id}/lease`, { ttlSeconds: 600 })).status).toBe(200);
    await collector.collect();
    for (const b of blobs(two)) expect(await layers.has(b)).toBe(true);
    await mongo.leases.renew(two.id, new Date(Date.now() - 1000).toISOString()); // let it expire
    const r2 = await collector.collect();
    expect(r2.expired).toContain(two.id);
    for (const b of onlyTwo) expect(r2.deleted).toContain(b);
    const baseAndShared = shared.filter((b) => b !== one.result.manifestDigest);
    for (const b of baseAndShared) {
      const stillLeased = (await mongo.leases.list()).some((l) => l.blobs.includes(b));
      const isBase = (await mongo.bases.get((await mongo.bases.resolveTag(n('base'), 'latest'))!))!.layers.some(
        (l) => l.digest === b,
      );
      expect(await layers.has(b)).toBe(stillLeased || isBase);
    }
    void eventSubjects;
  });
});
