import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  DEB_MEDIA_TYPE,
  LseError,
  compareVersions,
  parseRegion,
  debianShowLines,
  formatRelation,
  parseSecretKey,
  readTar,
  signatureCoverage,
  type Signature,
  type Fragment,
  type TarEntry,
  type VersionScheme,
} from '@lse/core';
import { walkDirectory } from '@lse/adapter-fs';
import { buildFragment, packFragment } from '@lse/engine';
import type { Ctx } from '../context';

export interface PackOpts {
  name: string;
  version: string;
  scheme: string;
  arch?: string;
  variant?: string;
  feature?: string[];
  libc?: string;
  region?: string;
  depends?: string[];
  preDepends?: string[];
  provides?: string[];
  conflicts?: string[];
  breaks?: string[];
  key: string;
  allowSetuid?: boolean;
  owner?: string;
}

export async function readSecretKeyFile(file: string): Promise<ReturnType<typeof parseSecretKey>> {
  const st = await stat(file).catch(() => {
    throw new LseError('USAGE', `key file ${file} does not exist; create one with: lse keys generate --name NAME`, {
      file,
    });
  });
  if ((st.mode & 0o077) !== 0) {
    throw new LseError(
      'KEY_INVALID',
      `secret key ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
      { file },
    );
  }
  return parseSecretKey(await readFile(file, 'utf8'));
}

/** Directory → lstat walk; file → tar or tar.gz. */
export async function readContent(path: string): Promise<{ entries: TarEntry[]; source: Record<string, unknown> }> {
  const abs = resolve(path);
  const st = await stat(abs).catch(() => {
    throw new LseError('USAGE', `${path} does not exist; give a directory or a tar file to pack`, { path });
  });
  if (st.isDirectory()) return { entries: await walkDirectory(abs), source: { type: 'dir' } };
  if (st.isFile()) return { entries: readTar(await readFile(abs)), source: { type: 'tar' } };
  throw new LseError('USAGE', `${path} is neither a directory nor a tar file`, { path });
}

export async function fragmentPack(ctx: Ctx, path: string, o: PackOpts): Promise<void> {
  if (o.scheme !== 'semver' && o.scheme !== 'debian')
    throw new LseError('USAGE', `--scheme must be semver or debian, got '${o.scheme}'`);
  const owner = /^(\d{1,10}):(\d{1,10})$/.exec(o.owner ?? '0:0');
  if (!owner) throw new LseError('USAGE', `--owner must be numeric UID:GID like 1000:1000, got '${o.owner}'`);
  const key = await readSecretKeyFile(o.key);
  const { entries, source } = await readContent(path);
  const attributes = {
    ...(o.arch ? { arch: o.arch } : {}),
    ...(o.variant ? { variant: o.variant } : {}),
    ...(o.feature?.length ? { features: [...o.feature].sort() } : {}),
    ...(o.libc ? { libc: o.libc } : {}),
    ...(o.region !== undefined ? parseRegion(o.region) : {}),
  };
  const input = {
    entries,
    name: o.name,
    version: o.version,
    scheme: o.scheme as VersionScheme,
    attributes,
    depends: o.depends,
    preDepends: o.preDepends,
    provides: o.provides,
    conflicts: o.conflicts,
    breaks: o.breaks,
    key,
    epoch: ctx.config.epoch,
    allowSetuid: o.allowSetuid ?? false,
    source,
    uid: Number(owner[1]),
    gid: Number(owner[2]),
  };
  let fragment: Fragment;
  let created: boolean;
  if (ctx.remote) {
    const built = buildFragment(input);
    fragment = built.fragment;
    ({ created } = await ctx.remote.request<{ created: boolean }>('POST', '/v1/fragments', {
      fragment,
      blob: built.blob.toString('base64'),
    }));
  } else ({ fragment, created } = await packFragment(ctx.ports, input));
  const d = fragment.descriptor;
  ctx.out.progress(
    `${created ? 'packed' : 'already in the store:'} ${d.name}@${d.version}: ${d.files.length} entries, ${d.blob.size} bytes, signed by ${key.name}`,
  );
  ctx.out.result(fragment.id, {
    id: fragment.id,
    name: d.name,
    version: d.version,
    created,
    blob: d.blob,
    signedBy: key.name,
  });
}

function summary(f: Fragment) {
  const d = f.descriptor;
  return {
    id: f.id,
    name: d.name,
    version: d.version,
    scheme: d.scheme,
    attributes: d.attributes,
    size: d.blob.size,
    files: d.files.length,
    signedBy: f.signatures.map((s) => s.keyName),
    signatureKinds: f.signatures.map((s) => signatureCoverage(s)),
  };
}

function attrText(a: Fragment['descriptor']['attributes']): string {
  return (
    [a.arch, a.variant, ...(a.features ?? []), a.libc].filter(Boolean).join('/') + (a.region ? `@${a.region}` : '') ||
    'any'
  );
}

export async function fragmentList(ctx: Ctx): Promise<void> {
  if (ctx.remote) {
    const rows = await ctx.remote.request<ReturnType<typeof summary>[]>('GET', '/v1/fragments');
    ctx.out.result(rows.map((f) => `${f.name}\t${f.version}\t${attrText(f.attributes)}\t${f.id}`).join('\n'), rows);
    return;
  }
  const all = (await ctx.ports.fragments.list()).sort(
    (a, b) =>
      a.descriptor.name.localeCompare(b.descriptor.name) ||
      compareVersions(a.descriptor.scheme, a.descriptor.version, b.descriptor.version) ||
      a.id.localeCompare(b.id),
  );
  ctx.out.result(
    all
      .map((f) => `${f.descriptor.name}\t${f.descriptor.version}\t${attrText(f.descriptor.attributes)}\t${f.id}`)
      .join('\n'),
    all.map(summary),
  );
  if (!all.length)
    ctx.out.progress(
      'the store has no fragments; pack one with: lse fragment pack DIR --name NAME --version VERSION --key KEY',
    );
}

export async function fragmentShow(ctx: Ctx, ref: string): Promise<void> {
  const at = ref.indexOf('@');
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const version = at >= 0 ? ref.slice(at + 1) : undefined;
  let found = ctx.remote
    ? await ctx.remote.request<Fragment[]>('GET', `/v1/fragments/${encodeURIComponent(name)}`).catch(() => [])
    : await ctx.ports.fragments.byName(name);
  if (version) found = found.filter((f) => f.descriptor.version === version);
  if (!found.length) {
    throw new LseError(
      'FRAGMENT_UNKNOWN',
      `no fragment ${ref} in the store${version ? `; 'lse fragment show ${name}' lists its versions` : ''}`,
      { ref },
    );
  }
  found.sort(
    (a, b) =>
      compareVersions(b.descriptor.scheme, b.descriptor.version, a.descriptor.version) || a.id.localeCompare(b.id),
  );
  const text = found.map((f) => {
    const d = f.descriptor;
    const rel = (label: string, rs: typeof d.depends) =>
      rs.length ? [`${label}: ${rs.map(formatRelation).join(', ')}`] : [];
    return [
      `${d.name} ${d.version} (${d.scheme}) ${attrText(d.attributes)}`,
      `  id: ${f.id}`,
      d.blob.mediaType === DEB_MEDIA_TYPE
        ? `  blob: ${d.blob.digest} (${d.blob.size} bytes): the .deb ${String(d.source['filename'] ?? '')} from ${String(d.source['repo'] ?? 'the configured archive')}, fetched and checked on first use; files are listed from it then`
        : `  blob: ${d.blob.digest} (${d.blob.size} bytes, ${d.files.length} entries)`,
      ...rel('  depends', d.depends),
      ...rel('  pre-depends', d.preDepends),
      ...rel('  conflicts', d.conflicts),
      ...rel('  breaks', d.breaks),
      ...(d.provides.length
        ? [`  provides: ${d.provides.map((p) => (p.version ? `${p.name} (= ${p.version})` : p.name)).join(', ')}`]
        : []),
      `  signed by: ${f.signatures.map((s) => `${s.keyName} (${signatureKindText(s)})`).join(', ')}`,
      ...debianShowLines(d),
      ...(d.blob.mediaType === DEB_MEDIA_TYPE
        ? []
        : [
            `  files: ${d.files
              .slice(0, 20)
              .map((x) => x.path)
              .join(' ')}${d.files.length > 20 ? ` … (+${d.files.length - 20})` : ''}`,
          ]),
    ].join('\n');
  });
  ctx.out.result(text.join('\n\n'), found.length === 1 && version ? found[0] : found);
}

/** What a signature covers, as `fragment show` says it. */
function signatureKindText(s: Signature): string {
  return s.covers === 'derivation'
    ? "derivation signature: the name and metadata.derive only; Debian's chain vouches for the rest"
    : `${signatureCoverage(s)} signature`;
}
