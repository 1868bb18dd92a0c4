/**
 * The OCI distribution-spec conformance suite (pull, tag listing, referrers; read-only) against the
 * stack's gateway, through scripts/conformance.sh: a fragment published for this run, its image
 * `pkgs/<name>:scratch` synthesized on first pull, then the suite reads it, its blobs and referrers.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { formatKey, generateKeyPair, publicKeyOf } from '@lse/core';
import { buildFragment } from '@lse/engine';

jest.setTimeout(120_000);

const env = process.env;
const SERVER = env['LSE_SERVER'] ?? '';
const TOKEN = env['LSE_TOKEN'] ?? '';
const repo = join(__dirname, '../../..');
const run = Date.now().toString(36);

async function api(method: string, path: string, body: unknown): Promise<number> {
  const res = await fetch(new URL(path, SERVER), {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('OCI distribution-spec conformance (pull, content discovery)', () => {
  it('passes the suite with referrers enabled', async () => {
    if (!SERVER || !TOKEN)
      throw new Error(
        'the conformance int test needs the stack: bash infra/local/stack.sh up && eval "$(bash infra/local/stack.sh env)"',
      );
    const name = `conf${run}`;
    const key = generateKeyPair(`conf-${run}`).secretKey;
    expect(await api('POST', '/v1/keys', { publicKey: formatKey(publicKeyOf(key)), scopes: [`${name}*`] })).toBe(201);
    const content = `conformance ${run}\n`;
    const { fragment, blob } = buildFragment({
      entries: [
        {
          path: `usr/share/${name}/data`,
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 0,
          size: content.length,
          data: Buffer.from(content),
        },
      ],
      name,
      version: '1.0.0',
      scheme: 'semver',
      key,
      epoch: 0,
      source: { type: 'test' },
    });
    expect(await api('POST', '/v1/fragments', { fragment, blob: blob.toString('base64') })).toBe(201);
    const r = spawnSync('bash', [join(repo, 'scripts/conformance.sh'), `pkgs/${name}:scratch`], {
      encoding: 'utf8',
      timeout: 100_000,
      env,
    });
    expect([r.status, r.status === 0 ? '' : r.stderr]).toEqual([0, '']);
    expect(r.stderr).toMatch(/Referrers\.+: +Pass/);
    expect(r.stderr).toMatch(/Manifest get by tag\.+: +Pass/);
  });
});
