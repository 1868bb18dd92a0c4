import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LseError } from '@lse/core';
import { readOciLayout } from '@lse/adapter-fs';
import { importBaseImage, importRootfsTar } from '@lse/engine';
import type { Ctx } from '../context';

/** `DIR:REF` → the layout dir and the ref name inside it (a colon followed by no slash). */
export function splitLayoutRef(arg: string): { dir: string; ref?: string } {
  const i = arg.lastIndexOf(':');
  if (i > 0 && !arg.slice(i + 1).includes('/') && arg.slice(i + 1) !== '')
    return { dir: arg.slice(0, i), ref: arg.slice(i + 1) };
  return { dir: arg };
}

export async function baseImport(
  ctx: Ctx,
  arg: string,
  opts: { name: string; tag: string; arch: string },
): Promise<void> {
  let target = splitLayoutRef(arg);
  let st = await stat(target.dir).catch(() => undefined);
  if (!st && target.ref !== undefined) {
    target = { dir: arg };
    st = await stat(arg).catch(() => undefined);
  }
  if (!st)
    throw new LseError(
      'USAGE',
      `${arg} does not exist; give an OCI image layout directory (as 'skopeo copy ... oci:DIR' writes) or a rootfs tarball`,
      { path: arg },
    );
  if (st.isFile()) {
    ctx.out.progress(`importing rootfs tarball ${target.dir} as ${opts.name}:${opts.tag}`);
    if (ctx.remote) {
      const r = await ctx.remote.request<{ digest: string; dropped: number }>('POST', '/v1/bases', {
        name: opts.name,
        tag: opts.tag,
        arch: opts.arch,
        rootfsTar: (await readFile(target.dir)).toString('base64'),
      });
      ctx.out.result(r.digest, r);
      return;
    }
    const { base, dropped } = await importRootfsTar(ctx.ports, await readFile(target.dir), {
      name: opts.name,
      tag: opts.tag,
      epoch: ctx.config.epoch,
      arch: opts.arch,
      source: { type: 'rootfs-tar', file: resolve(target.dir) },
    });
    if (dropped.length)
      ctx.out.progress(
        `dropped ${dropped.length} device node(s)/FIFO(s) (the runtime provides /dev): ${dropped.slice(0, 5).join(' ')}${dropped.length > 5 ? ' …' : ''}`,
      );
    ctx.out.result(base.digest, {
      name: opts.name,
      tag: opts.tag,
      digest: base.digest,
      layers: base.layers.length,
      platform: base.platform,
    });
    return;
  }
  ctx.out.progress(
    `importing OCI layout ${target.dir}${target.ref ? ` (ref ${target.ref})` : ''} as ${opts.name}:${opts.tag}`,
  );
  const img = await readOciLayout(target.dir, target.ref);
  if (ctx.remote) {
    const r = await ctx.remote.request<{ digest: string }>('POST', '/v1/bases', {
      name: opts.name,
      tag: opts.tag,
      image: {
        manifestDigest: img.manifestDigest,
        config: img.config,
        layers: img.layers.map((l) => ({
          digest: l.digest,
          size: l.size,
          mediaType: l.mediaType,
          data: l.data.toString('base64'),
        })),
      },
    });
    ctx.out.result(r.digest, r);
    return;
  }
  const base = await importBaseImage(
    ctx.ports,
    { manifestDigest: img.manifestDigest, config: img.config as Record<string, unknown>, layers: img.layers },
    {
      name: opts.name,
      tag: opts.tag,
      source: { type: 'oci-layout', dir: resolve(target.dir), ...(target.ref ? { ref: target.ref } : {}) },
    },
  );
  ctx.out.progress(`${base.layers.length} layer(s), ${base.platform.os}/${base.platform.arch}`);
  ctx.out.result(base.digest, {
    name: opts.name,
    tag: opts.tag,
    digest: base.digest,
    layers: base.layers.length,
    platform: base.platform,
  });
}

export async function baseList(ctx: Ctx): Promise<void> {
  const tags = ctx.remote
    ? await ctx.remote.request<{ name: string; tag: string; digest: string }[]>('GET', '/v1/bases')
    : await ctx.ports.bases.tags();
  ctx.out.result(tags.map((t) => `${t.name}:${t.tag}\t${t.digest}`).join('\n'), tags);
  if (!tags.length)
    ctx.out.progress("no bases; import one with 'lse base import OCI_LAYOUT_DIR --name NAME' (or use 'base: scratch')");
}
