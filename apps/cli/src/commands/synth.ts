import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { LseError, parseManifest, parsePlatform, readTar, type Manifest, type Platform } from '@lse/core';
import { extractEntries, writeOciLayout } from '@lse/adapter-fs';
import { InProcessBus } from '@lse/adapter-memory';
import type { SynthCompleted } from '@lse/contracts';
import { resolveManifest, runSynthesis, silentLog, startPipeline, type Log } from '@lse/engine';
import type { Ctx } from '../context';

async function loadManifest(file: string): Promise<Manifest> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new LseError('USAGE', `cannot read manifest ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { file });
  });
  return parseManifest(text, file);
}

/** Refuses an output path that exists and is not an empty directory (unless --force). */
async function checkOutput(path: string, force: boolean, flag: string): Promise<void> {
  const entries = await readdir(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    if (e.code === 'ENOTDIR') throw new LseError('OUTPUT_EXISTS', `${flag} ${path} is a file; choose a directory path`, { path });
    throw e;
  });
  if (entries && entries.length && !force) {
    throw new LseError('OUTPUT_EXISTS', `${flag} ${path} already exists and is not empty; remove it, choose another path, or pass --force to replace it`, { path });
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

export interface SynthOpts {
  out: string;
  platform?: string;
  rootfs?: string;
  force?: boolean;
}

export async function synth(ctx: Ctx, file: string, o: SynthOpts, log: Log = silentLog): Promise<void> {
  const manifest = await loadManifest(file);
  const platform: Platform | undefined = o.platform ? parsePlatform(o.platform) : undefined;
  const out = resolve(o.out);
  const rootfs = o.rootfs ? resolve(o.rootfs) : undefined;
  await checkOutput(out, Boolean(o.force), '--out');
  if (rootfs) await checkOutput(rootfs, Boolean(o.force), '--rootfs');

  const bus = new InProcessBus((err) => log.error({ err: String(err) }, 'in-process handler error'));
  const stop = await startPipeline({ bus, ports: ctx.ports, opts: { epoch: ctx.config.epoch }, log, isTransient: () => false });
  const synthesisId = `cli-${randomBytes(6).toString('hex')}`;
  const started = Date.now();
  let done: SynthCompleted;
  try {
    done = await runSynthesis(bus, { v: 1, synthesisId, manifest, ...(platform ? { platform } : {}), requestedAt: new Date().toISOString() },
      (p) => ctx.out.progress(`  ${p.stage.padEnd(9)} ${p.detail ?? ''} (${Date.now() - started} ms)`));
  } finally {
    await stop();
  }
  const { image } = done;
  const manifestBytes = await ctx.ports.layers.get(image.manifestDigest);
  const configBytes = await ctx.ports.layers.get(image.configDigest);

  await intoPlace(out, async (tmp) => {
    const blobs = async function* () {
      for (const l of image.layers) yield [l.digest, await ctx.ports.layers.get(l.digest)] as [string, Buffer];
    };
    const list: [string, Buffer][] = [];
    for await (const b of blobs()) list.push(b);
    await writeOciLayout(tmp, { manifest: manifestBytes, config: configBytes, blobs: list }, 'latest');
  });
  if (rootfs) {
    await intoPlace(rootfs, async (tmp) => {
      for (const l of image.layers) await extractEntries(tmp, readTar(await ctx.ports.layers.get(l.digest)), { whiteouts: true });
    });
  }

  const bytes = image.layers.reduce((n, l) => n + l.size, 0);
  const lockFrags = done.layerPlan.flatMap((l) => l.fragments);
  ctx.out.progress(`synthesized ${manifest.metadata.name} on ${manifest.base}: ${lockFrags.length} layer part(s) in ${done.layerPlan.length} layer(s) of ${image.layers.length}, ${(bytes / 1024).toFixed(1)} KiB compressed, ${Date.now() - started} ms`);
  for (const l of done.layerPlan) ctx.out.progress(`  ${l.digest.slice(0, 19)}…  ${l.fragments.join(', ')}`);
  ctx.out.progress(`  wrote OCI layout ${out}${rootfs ? ` and rootfs ${rootfs}` : ''}`);
  ctx.out.result(image.manifestDigest, { manifestDigest: image.manifestDigest, key: done.key, out, rootfs: rootfs ?? null, platform: image.platform, layers: image.layers, layerPlan: done.layerPlan, synthesisId });
}

export async function resolveCmd(ctx: Ctx, file: string, o: { platform?: string }): Promise<void> {
  const manifest = await loadManifest(file);
  const platform = o.platform ? parsePlatform(o.platform) : undefined;
  const { lock, key } = await resolveManifest(ctx.ports, manifest, platform);
  ctx.out.progress(`synthesis key ${key}; base ${lock.base.ref}${lock.base.digest ? ` (${lock.base.digest})` : ''}; ${lock.platform.os}/${lock.platform.arch}${lock.platform.variant ? '/' + lock.platform.variant : ''}`);
  ctx.out.result(lock.fragments.map((f) => `${f.name} ${f.version} ${f.id}`).join('\n'), { key, lock });
}
