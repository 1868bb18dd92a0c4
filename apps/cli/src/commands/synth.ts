import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  LseError,
  checkBlob,
  lseErrorFrom,
  parseManifest,
  parsePlatform,
  parseRegion,
  readTar,
  type Lock,
  type Manifest,
  type Platform,
} from '@lse/core';
import { extractEntries, writeOciLayout } from '@lse/adapter-fs';
import { InProcessBus } from '@lse/adapter-memory';
import type { ImageRef, SynthCompleted, SynthProgress } from '@lse/contracts';
import { resolveManifest, runSynthesis, silentLog, startPipeline, type Log } from '@lse/engine';
import type { Ctx } from '../context';
import type { GatewayClient } from '../remote';

/** `--region R` / `--region-fallback a,b`: the runtime's region, folded into the manifest's platform. */
export interface RegionOpts {
  region?: string;
  regionFallback?: string;
}

async function loadManifest(file: string, o: RegionOpts = {}): Promise<Manifest> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new LseError('USAGE', `cannot read manifest ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, {
      file,
    });
  });
  const manifest = parseManifest(text, file);
  if (o.region === undefined && o.regionFallback === undefined) return manifest;
  return { ...manifest, platform: { ...manifest.platform, ...parseRegion(o.region, o.regionFallback) } };
}

/** Refuses an output path that exists and is not an empty directory (unless --force). */
async function checkOutput(path: string, force: boolean, flag: string): Promise<void> {
  const entries = await readdir(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    if (e.code === 'ENOTDIR')
      throw new LseError('OUTPUT_EXISTS', `${flag} ${path} is a file; choose a directory path`, { path });
    throw e;
  });
  if (entries && entries.length && !force) {
    throw new LseError(
      'OUTPUT_EXISTS',
      `${flag} ${path} already exists and is not empty; remove it, choose another path, or pass --force to replace it`,
      { path },
    );
  }
}

/** Builds into a sibling temp dir and renames it into place, so a failure leaves nothing at `path`. */
async function intoPlace(path: string, build: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.partial-${randomBytes(4).toString('hex')}`);
  try {
    await build(tmp);
    await rm(path, { recursive: true, force: true });
    await rename(tmp, path);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export interface SynthOpts extends RegionOpts {
  out: string;
  platform?: string;
  rootfs?: string;
  force?: boolean;
}

export async function synth(ctx: Ctx, file: string, o: SynthOpts, log: Log = silentLog): Promise<void> {
  const manifest = await loadManifest(file, o);
  const platform: Platform | undefined = o.platform ? parsePlatform(o.platform) : undefined;
  const out = resolve(o.out);
  const rootfs = o.rootfs ? resolve(o.rootfs) : undefined;
  await checkOutput(out, Boolean(o.force), '--out');
  if (rootfs) await checkOutput(rootfs, Boolean(o.force), '--rootfs');

  const started = Date.now();
  const onProgress = (p: SynthProgress) =>
    ctx.out.progress(`  ${p.stage.padEnd(9)} ${p.detail ?? ''} (${Date.now() - started} ms)`);
  let done: Pick<SynthCompleted, 'image' | 'key' | 'layerPlan' | 'synthesisId'>;
  let getBlob: (digest: string) => Promise<Buffer>;
  if (ctx.remote) {
    const remote = ctx.remote;
    done = await synthRemote(remote, manifest, platform, onProgress);
    getBlob = async (digest) => {
      const data = await remote.bytes(`/v1/blobs/${digest}`);
      checkBlob(digest, data);
      return data;
    };
  } else {
    const bus = new InProcessBus((err) => log.error({ err: String(err) }, 'in-process handler error'));
    const stop = await startPipeline({
      bus,
      ports: ctx.ports,
      opts: { epoch: ctx.config.epoch },
      log,
      isTransient: () => false,
    });
    const synthesisId = `cli-${randomBytes(6).toString('hex')}`;
    try {
      done = await runSynthesis(
        bus,
        { v: 1, synthesisId, manifest, ...(platform ? { platform } : {}), requestedAt: new Date().toISOString() },
        onProgress,
      );
    } finally {
      await stop();
    }
    getBlob = (digest) => ctx.ports.layers.get(digest);
  }
  const { image, synthesisId } = done;
  const manifestBytes = await getBlob(image.manifestDigest);
  const configBytes = await getBlob(image.configDigest);

  await intoPlace(out, async (tmp) => {
    const blobs = async function* () {
      for (const l of image.layers) yield [l.digest, await getBlob(l.digest)] as [string, Buffer];
    };
    const list: [string, Buffer][] = [];
    for await (const b of blobs()) list.push(b);
    await writeOciLayout(tmp, { manifest: manifestBytes, config: configBytes, blobs: list }, 'latest');
  });
  if (rootfs) {
    await intoPlace(rootfs, async (tmp) => {
      for (const l of image.layers) await extractEntries(tmp, readTar(await getBlob(l.digest)), { whiteouts: true });
    });
  }

  const bytes = image.layers.reduce((n, l) => n + l.size, 0);
  const lockFrags = done.layerPlan.flatMap((l) => l.fragments);
  ctx.out.progress(
    `synthesized ${manifest.metadata.name} on ${manifest.base}: ${lockFrags.length} layer part(s) in ${done.layerPlan.length} layer(s) of ${image.layers.length}, ${(bytes / 1024).toFixed(1)} KiB compressed, ${Date.now() - started} ms`,
  );
  for (const l of done.layerPlan) ctx.out.progress(`  ${l.digest.slice(0, 19)}…  ${l.fragments.join(', ')}`);
  ctx.out.progress(`  wrote OCI layout ${out}${rootfs ? ` and rootfs ${rootfs}` : ''}`);
  ctx.out.result(image.manifestDigest, {
    manifestDigest: image.manifestDigest,
    key: done.key,
    out,
    rootfs: rootfs ?? null,
    platform: image.platform,
    layers: image.layers,
    layerPlan: done.layerPlan,
    synthesisId,
  });
}

/** Requests a synthesis from the gateway and follows its events to the end. */
async function synthRemote(
  remote: GatewayClient,
  manifest: Manifest,
  platform: Platform | undefined,
  onProgress: (p: SynthProgress) => void,
) {
  const created = await remote.request<{ id: string }>('POST', '/v1/syntheses', {
    manifest,
    ...(platform ? { platform } : {}),
  });
  for await (const ev of remote.events(`/v1/syntheses/${created.id}/events`)) {
    if (ev.event === 'progress') onProgress(ev.data as SynthProgress);
    if (ev.event === 'failed') {
      const f = ev.data as { code?: string; message?: string; stage?: string; details?: Record<string, unknown> };
      const e = lseErrorFrom({ code: f.code, message: f.message ?? 'synthesis failed', details: f.details });
      throw new LseError(e.code, e.message, { ...e.details, stage: f.stage, synthesisId: created.id });
    }
    if (ev.event === 'completed') break;
  }
  const rec = await remote.request<{
    status: string;
    key: string;
    result: ImageRef & { layerPlan?: SynthCompleted['layerPlan'] };
  }>('GET', `/v1/syntheses/${created.id}`);
  if (rec.status !== 'completed')
    throw new LseError('INTERNAL', `synthesis ${created.id} ended as '${rec.status}'`, { synthesisId: created.id });
  return { synthesisId: created.id, key: rec.key, image: rec.result, layerPlan: rec.result.layerPlan ?? [] };
}

export async function resolveCmd(ctx: Ctx, file: string, o: { platform?: string } & RegionOpts): Promise<void> {
  const manifest = await loadManifest(file, o);
  const platform = o.platform ? parsePlatform(o.platform) : undefined;
  const { lock, key } = ctx.remote
    ? await ctx.remote
        .request<{ key: string; platform: Platform; base: Lock['base']; fragments: Lock['fragments'] }>(
          'POST',
          '/v1/negotiate',
          { manifest, ...(platform ? { platform } : {}) },
        )
        .then((r) => ({
          key: r.key,
          lock: { ...r, lockVersion: 1 as const, files: [], config: { env: {}, labels: {} } } as Lock,
        }))
    : await resolveManifest(ctx.ports, manifest, platform);
  ctx.out.progress(
    `synthesis key ${key}; base ${lock.base.ref}${lock.base.digest ? ` (${lock.base.digest})` : ''}; ${lock.platform.os}/${lock.platform.arch}${lock.platform.variant ? '/' + lock.platform.variant : ''}${lock.platform.region ? ` in region ${lock.platform.region}` : ''}`,
  );
  ctx.out.result(lock.fragments.map((f) => `${f.name} ${f.version} ${f.id}`).join('\n'), { key, lock });
}
