/**
 * The resolver's in-memory catalog against the running stack (infra/local/stack.sh up):
 *  - a fragment published over the gateway is resolved by the running resolver service (no
 *    restart, no reload): the first synthesis asked for right after the 201 completes;
 *  - a resolver stopped by pid misses nothing published while it was down: started again, it
 *    rebuilds its catalog (snapshot + replay of the LSE_CATALOG stream) and resolves it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatKey, generateKeyPair, publicKeyOf, writeTar, type SecretKey } from '@lse/core';
import { buildFragment } from '@lse/engine';
import { fileEntry, gatewayApi } from '@lse/testing';

jest.setTimeout(180_000);

const env = process.env;
const SERVER = env['LSE_SERVER'];
const TOKEN = env['LSE_TOKEN'];
const STATE = env['LSE_STATE_DIR'] ?? join(env['HOME'] ?? '/root', '.local/state/lse-local');
const REPO = join(__dirname, '../../..');
const run = Date.now().toString(36);
const n = (s: string) => `live${run}-${s}`;

const api = gatewayApi(SERVER, TOKEN);
const file = (path: string, content: string) => fileEntry(path, content);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('resolver catalog in memory, kept current by catalog events', () => {
  let key: SecretKey;

  const publish = async (name: string, depends: string[] = []) => {
    const { fragment, blob } = buildFragment({
      entries: [file(`usr/share/${name}/data.txt`, `${name}\n`)],
      name,
      version: '1.0.0',
      scheme: 'semver',
      depends,
      key,
      epoch: 0,
      source: { type: 'live-int' },
    });
    const r = await api('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') });
    expect(r.status).toBe(201);
    return fragment;
  };
  const synth = (require: string[]) =>
    api<{ status: string; error?: { code: string; message: string } }>(
      'POST',
      '/v1/syntheses',
      {
        manifest: {
          apiVersion: 'lse.dev/v1',
          kind: 'DependencyManifest',
          metadata: { name: n('m') },
          base: `${n('base')}:latest`,
          require: require.map((name) => ({ name })),
        },
      },
      { prefer: 'wait=60' },
    );

  beforeAll(async () => {
    if (!SERVER || !TOKEN)
      throw new Error(
        'this test needs the stack: bash infra/local/stack.sh up && eval "$(bash infra/local/stack.sh env)"',
      );
    key = generateKeyPair(n('key')).secretKey;
    expect(
      (await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`live${run}-*`] })).status,
    ).toBe(201);
    expect(
      (
        await api('POST', '/v1/bases', {
          name: n('base'),
          tag: 'latest',
          rootfsTar: writeTar([file('etc/os-release', 'ID=live\n')]).toString('base64'),
        })
      ).status,
    ).toBe(201);
  });

  it('resolves a fragment published over the gateway with the next request, without a resolver restart', async () => {
    const pid = Number(readFileSync(join(STATE, 'run', 'svc-resolver-1.pid'), 'utf8'));
    await publish(n('lib'));
    await publish(n('app'), [`${n('lib')} ^1.0.0`]);
    const r = await synth([n('app')]);
    expect(r.body).toMatchObject({ status: 'completed' });
    const neg = await api<{ fragments: { name: string }[] }>('POST', '/v1/negotiate', {
      manifest: {
        apiVersion: 'lse.dev/v1',
        kind: 'DependencyManifest',
        metadata: { name: n('neg') },
        base: `${n('base')}:latest`,
        require: [{ name: n('app') }],
      },
    });
    expect(neg.body.fragments.map((f) => f.name)).toEqual([n('lib'), n('app')]);
    expect(alive(pid)).toBe(true); // the same resolver process throughout
  });

  it('a resolver stopped by pid and started again misses no fragment published while it was down', async () => {
    const pid = Number(readFileSync(join(STATE, 'run', 'svc-resolver-1.pid'), 'utf8'));
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && alive(pid)) await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(false);
    await publish(n('down-lib'));
    await publish(n('down-app'), [`${n('down-lib')} ^1.0.0`]);
    execFileSync('bash', ['infra/local/stack.sh', 'up'], { cwd: REPO, stdio: 'pipe', env: process.env });
    const restarted = Number(readFileSync(join(STATE, 'run', 'svc-resolver-1.pid'), 'utf8'));
    expect(restarted).not.toBe(pid);
    const r = await synth([n('down-app'), n('app')]);
    expect(r.body).toMatchObject({ status: 'completed' });
    const log = readFileSync(join(STATE, 'logs', 'svc-resolver-1.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { pid: number; msg: string; fragments?: number });
    expect(
      log.find((l) => l.pid === restarted && l.msg.startsWith('catalog loaded'))?.fragments,
    ).toBeGreaterThanOrEqual(4);
  });

  it('keeps following the catalog across a kill -9 of nats-server: a fragment published after the restart is resolved by the same resolver', async () => {
    const resolver = Number(readFileSync(join(STATE, 'run', 'svc-resolver-1.pid'), 'utf8'));
    const natsPid = Number(readFileSync(join(STATE, 'run', 'nats.pid'), 'utf8'));
    process.kill(natsPid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    execFileSync('bash', ['infra/local/stack.sh', 'up'], { cwd: REPO, stdio: 'pipe', env: process.env });
    await publish(n('after-lib'));
    await publish(n('after-app'), [`${n('after-lib')} ^1.0.0`]);
    const r = await synth([n('after-app')]);
    expect(r.body).toMatchObject({ status: 'completed' });
    expect(alive(resolver)).toBe(true); // not restarted: its catalog followed the stream through the outage
  });
});
