/**
 * `lse base build --name NAME PACKAGE...`: imports the closure of the packages from the host's
 * apt (as `lse import apt` does; with `--essential`, every `Essential: yes` package of the index is
 * added, which is what a Debian system assumes is always there) and builds a one-layer base from
 * those fragments with merged-/usr links and a dpkg database (libs/engine/src/debian-base.ts).
 * Against a gateway the layer is built here and uploaded as a rootfs tarball.
 */
import { gunzip } from '@lse/core';
import { buildDebianBase, debianBaseLayer } from '@lse/engine';
import type { Ctx } from '../context';
import { importAptClosure, type AptImportOpts } from './import';

export interface BaseBuildOpts extends AptImportOpts {
  name: string;
  tag: string;
  essential?: boolean;
}

export async function baseBuild(ctx: Ctx, packages: string[], o: BaseBuildOpts): Promise<void> {
  const fragments = (await importAptClosure(ctx, packages, o, (c) => (o.essential ? c.essentialNames() : []))).map(
    (r) => r.fragment,
  );
  ctx.out.progress(`building base ${o.name}:${o.tag} from ${fragments.length} package(s)`);
  const arch = fragments.map((f) => f.descriptor.attributes.arch).find((a) => a && a !== 'all') ?? 'amd64';
  if (ctx.remote) {
    const { layer } = await debianBaseLayer(ctx.ports, fragments, ctx.config.epoch);
    const r = await ctx.remote.request<{ digest: string }>('POST', '/v1/bases', {
      name: o.name,
      tag: o.tag,
      arch,
      rootfsTar: gunzip(layer.blob, 'base layer').toString('base64'),
    });
    ctx.out.result(r.digest, { name: o.name, tag: o.tag, digest: r.digest, packages: fragments.length });
    return;
  }
  const { base, replaced } = await buildDebianBase(ctx.ports, fragments, {
    name: o.name,
    tag: o.tag,
    arch,
    epoch: ctx.config.epoch,
  });
  if (replaced.length)
    ctx.out.progress(
      `${replaced.length} path(s) shipped by two packages (the later one kept): ${replaced.slice(0, 3).join(', ')}${replaced.length > 3 ? ' …' : ''}`,
    );
  ctx.out.result(base.digest, {
    name: o.name,
    tag: o.tag,
    digest: base.digest,
    packages: fragments.map((f) => `${f.descriptor.name}=${f.descriptor.version}`),
    layers: base.layers.length,
  });
}
