/**
 * `lse node pull IMAGE` and `lse node run MANIFEST [-- CMD...]` (docs/NODE.md): images go to the
 * node through the lse-node agent (control socket), never through a pull and unpack.
 *  - pull: the gateway names the image's manifest (synthesizing `pkgs/...` on first use); the agent
 *    reads it from the layer cache, materializes the missing fragments (verified), creates the
 *    snapshots from its cache under a containerd lease and registers the image in containerd.
 *  - run: the manifest is synthesized through the gateway, the image seeded as above holding the
 *    synthesis' lease, then `ctr run --rm --snapshotter lse` runs the command with runc and waits;
 *    its exit code is this command's. At the end the image is removed through the agent, which
 *    releases the lease once no image of that synthesis is left on the node; the container and its
 *    writable snapshot go with `--rm`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { LseError, lseErrorFrom, parseManifest, parsePlatform, sha256Digest } from '@lse/core';
import type { Ctx } from '../context';
import type { GatewayClient } from '../remote';

/** Set by `node run`: the container's exit code, which main() returns. */
import { nodeExit } from '../exit';

export { nodeExit };

interface SeedResult {
  ref: string;
  manifestDigest: string;
  chainId: string;
  layers: number;
  fromCache: number;
  materialized: number;
}

function needRemote(ctx: Ctx): GatewayClient {
  if (!ctx.remote)
    throw new LseError('USAGE', 'lse node needs the gateway: pass --server or set LSE_SERVER (and LSE_TOKEN)');
  return ctx.remote;
}

/** JSON request to the agent's control socket. */
export function agentCall<T>(socket: string, method: string, path: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: socket, agent: false, method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let data: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } & Record<
            string,
            unknown
          >;
          try {
            data = JSON.parse(text);
          } catch {
            return reject(
              new LseError('INTERNAL', `lse-node answered ${res.statusCode} with something that is not JSON`, {
                status: res.statusCode,
              }),
            );
          }
          if ((res.statusCode ?? 500) < 300) return resolve(data as T);
          const e = lseErrorFrom({ code: 'INTERNAL', ...data.error });
          reject(new LseError(e.code, `lse-node: ${data.error?.message ?? `HTTP ${res.statusCode}`}`, e.details));
        });
      },
    );
    req.on('error', (e) =>
      reject(
        new LseError(
          'INTERNAL',
          `cannot reach lse-node at ${socket}: ${e.message}; is the agent running (infra/local/node.sh up, LSE_NODE_CONTROL_SOCKET)?`,
          { socket, retryable: true },
        ),
      ),
    );
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** `pkgs/curl`, `pkgs/curl:minimal`, `synth/<id>`, `NAME@sha256:...` → name and reference. */
function parseImage(image: string): { name: string; reference: string } {
  const at = image.indexOf('@');
  if (at > 0) return { name: image.slice(0, at), reference: image.slice(at + 1) };
  const m = /^(.+?)(?::([A-Za-z0-9_][A-Za-z0-9._-]{0,127}))?$/.exec(image);
  if (!m || !/^(pkgs|synth)\//.test(m[1]!))
    throw new LseError(
      'USAGE',
      `'${image}' is not an LSE image: use pkgs/<package>[/<package>...][:tag], synth/<synthesis id>, or NAME@sha256:<digest>`,
      { image },
    );
  return { name: m[1]!, reference: m[2] ?? 'latest' };
}

/** The image manifest's digest for linux/amd64 (the first manifest of an index for the platform). */
async function manifestDigestOf(remote: GatewayClient, name: string, reference: string): Promise<string> {
  const bytes = await remote.bytes(`/v2/${name}/manifests/${reference}`);
  const doc = JSON.parse(bytes.toString('utf8')) as {
    mediaType?: string;
    manifests?: { digest: string; platform?: { os?: string; architecture?: string } }[];
  };
  if (doc.manifests) {
    const one =
      doc.manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === 'amd64') ?? doc.manifests[0];
    if (!one) throw new LseError('IMAGE_INVALID', `${name}:${reference} is an empty image index`, { name });
    return one.digest;
  }
  return sha256Digest(bytes);
}

function refFor(ctx: Ctx, name: string, reference: string): string {
  const host = new URL(ctx.config.server ?? 'http://lse.local').host;
  return reference.startsWith('sha256:') ? `${host}/${name}@${reference}` : `${host}/${name}:${reference}`;
}

export async function nodePull(ctx: Ctx, image: string): Promise<void> {
  const remote = needRemote(ctx);
  const { name, reference } = parseImage(image);
  const digest = await manifestDigestOf(remote, name, reference);
  const started = Date.now();
  const r = await agentCall<SeedResult>(ctx.config.nodeControlSocket, 'POST', '/images', {
    ref: refFor(ctx, name, reference),
    manifestDigest: digest,
  });
  ctx.out.progress(
    `  ${r.layers} layers, ${r.fromCache} snapshots made from the fragment cache, ${r.materialized} fragments materialized (${Date.now() - started} ms)`,
  );
  ctx.out.result(r.ref, r);
}

export interface NodeRunOpts {
  platform?: string;
  keep?: boolean;
}

export async function nodeRun(ctx: Ctx, manifestFile: string, cmd: string[], o: NodeRunOpts): Promise<void> {
  const remote = needRemote(ctx);
  const manifest = parseManifest(await readFile(manifestFile, 'utf8'), manifestFile);
  const platform = o.platform ? parsePlatform(o.platform) : undefined;
  const t0 = Date.now();
  const rec = await remote.request<{
    id: string;
    status: string;
    error?: { message?: string };
    result?: { manifestDigest: string; configDigest?: string };
  }>('POST', '/v1/syntheses', { manifest, ...(platform ? { platform } : {}) }, { prefer: 'wait=600' });
  if (rec.status !== 'completed' || !rec.result)
    throw new LseError('INTERNAL', `synthesis ${rec.id} ${rec.status}: ${rec.error?.message ?? 'no result'}`, {
      synthesisId: rec.id,
    });
  const ref = refFor(ctx, `synth/${rec.id.toLowerCase()}`, 'latest');
  const t1 = Date.now();
  const seeded = await agentCall<SeedResult>(ctx.config.nodeControlSocket, 'POST', '/images', {
    ref,
    manifestDigest: rec.result.manifestDigest,
    configDigest: rec.result.configDigest,
    synthesisId: rec.id,
  });
  ctx.out.progress(
    `  synthesized ${rec.id} (${t1 - t0} ms); ${seeded.layers} layers on the node, ${seeded.materialized} fragments materialized (${Date.now() - t1} ms)`,
  );
  const id = `lse-run-${randomBytes(5).toString('hex')}`;
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const args = [
        '--address',
        ctx.config.containerdAddress,
        '--namespace',
        ctx.config.containerdNamespace,
        'run',
        '--rm',
        '--snapshotter',
        ctx.config.snapshotter,
        ref,
        id,
        ...cmd,
      ];
      const child = spawn('ctr', args, { stdio: 'inherit' });
      child.on('error', (e) =>
        reject(new LseError('INTERNAL', `cannot run ctr: ${e.message} (install containerd: infra/local/node.sh)`, {})),
      );
      child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 + 9 : 1)));
    });
    nodeExit.code = code;
  } finally {
    if (!o.keep) await agentCall(ctx.config.nodeControlSocket, 'POST', '/images/remove', { ref });
  }
}
