/**
 * Debian work at assembly: when the lock has Debian fragments (descriptor.metadata.debian), one
 * generated layer on top of the fragments holds the dpkg database (status merged with the base's,
 * info files), update-alternatives links, /etc/passwd and /etc/group from base-passwd when the
 * image has none, and the merged-/usr compat links (`bin -> usr/bin`, ...) when the base has no
 * entry of that name (a scratch base). See core debian/dpkg-db.ts for what is generated.
 *
 * Not reproduced (listed per package in metadata.debian.notReproduced): everything else the
 * maintainer scripts do. `ldconfig` is not run: /etc/ld.so.cache is not generated, libraries are
 * found through the loader's default paths (Debian's glibc searches the multiarch directories
 * /lib/x86_64-linux-gnu and /usr/lib/x86_64-linux-gnu); libraries only reachable through
 * /etc/ld.so.conf.d entries are not found.
 */
import {
  MERGED_USR_DIRS,
  buildLayer,
  debianMetaOf,
  dpkgDatabaseEntries,
  gunzip,
  isGzip,
  readTar,
  type BaseImage,
  type Fragment,
  type InstalledPackage,
  type Layer,
  type TarEntry,
} from '@lse/core';
import type { EnginePorts } from './ports';
import { readVerifiedEntries } from './verify-stage';

export const DPKG_LAYER_LABEL = 'dpkg database';

export function hasDebianFragments(fragments: readonly Fragment[]): boolean {
  return fragments.some((f) => debianMetaOf(f.descriptor) !== undefined);
}

/** Top-level entries and a few files of a base image (later layers win; whiteouts ignored). */
export async function scanBase(
  ports: Pick<EnginePorts, 'layers'>,
  base: BaseImage | undefined,
  wanted: readonly string[],
): Promise<{ top: Map<string, TarEntry['type']>; files: Map<string, Buffer> }> {
  const top = new Map<string, TarEntry['type']>();
  const files = new Map<string, Buffer>();
  for (const l of base?.layers ?? []) {
    const blob = await ports.layers.get(l.digest);
    for (const e of readTar(isGzip(blob) ? gunzip(blob, `base layer ${l.digest}`) : blob)) {
      const p = e.path.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
      if (p !== '' && !p.includes('/')) top.set(p, e.type);
      if (wanted.includes(p)) {
        if (e.type === 'file') files.set(p, Buffer.from(e.data ?? Buffer.alloc(0)));
        else files.delete(p);
      }
    }
  }
  return { top, files };
}

export interface DebianLayerInput {
  fragments: readonly Fragment[];
  /** Entries of fragments already read (by fragment id), to avoid reading them twice. */
  entriesOf?: (f: Fragment) => Promise<TarEntry[]>;
  /**
   * One file of a fragment's verified content (undefined: no such file). Default: looked up in
   * `entriesOf`. The assembler answers from verification verdicts (verdicts.ts ASSEMBLY_READS).
   */
  fileOf?: (f: Fragment, path: string) => Promise<Buffer | undefined>;
  base?: { top: Map<string, TarEntry['type']>; files: Map<string, Buffer> };
  mtime: number;
}

/** The entries of the generated Debian layer (undefined when no fragment is a Debian package). */
export async function debianLayerEntries(ports: EnginePorts, input: DebianLayerInput): Promise<TarEntry[] | undefined> {
  const pkgs: (InstalledPackage & { f: Fragment })[] = [];
  for (const f of input.fragments) {
    const meta = debianMetaOf(f.descriptor);
    if (meta) pkgs.push({ meta, files: f.descriptor.files, f });
  }
  if (!pkgs.length) return undefined;
  const mergedUsr = pkgs.some((p) => p.meta.mergedUsr !== undefined);
  const baseFiles = input.base?.files ?? new Map<string, Buffer>();
  let passwdMasters: { passwd: Buffer; group: Buffer } | undefined;
  const bp = pkgs.find((p) => p.meta.control['Package'] === 'base-passwd');
  if (bp && !baseFiles.has('etc/passwd')) {
    const entriesOf = input.entriesOf ?? ((f: Fragment) => readVerifiedEntries(ports, f));
    const fileOf =
      input.fileOf ??
      (async (f: Fragment, path: string) => {
        const data = (await entriesOf(f)).find((e) => e.path.replace(/^\.\//, '') === path)?.data;
        return data && Buffer.from(data);
      });
    const passwd = await fileOf(bp.f, 'usr/share/base-passwd/passwd.master');
    const group = await fileOf(bp.f, 'usr/share/base-passwd/group.master');
    if (passwd && group) passwdMasters = { passwd: Buffer.from(passwd), group: Buffer.from(group) };
  }
  const status = baseFiles.get('var/lib/dpkg/status');
  const out = dpkgDatabaseEntries(pkgs, {
    mergedUsr,
    mtime: input.mtime,
    ...(status ? { baseStatus: status.toString('utf8') } : {}),
    ...(passwdMasters ? { passwdMasters } : {}),
  });
  if (mergedUsr) {
    const shipped = new Set(pkgs.flatMap((p) => p.files.map((f) => f.path)));
    for (const d of MERGED_USR_DIRS) {
      if (input.base?.top.has(d)) continue;
      if (!shipped.has(`usr/${d}`) && !['bin', 'sbin', 'lib'].includes(d)) continue;
      out.push({
        path: d,
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: input.mtime,
        size: 0,
        linkname: `usr/${d}`,
      });
    }
  }
  return out;
}

/** The generated layer for a lock's fragments over a base (undefined without Debian fragments). */
export async function debianTopLayer(
  ports: EnginePorts,
  fragments: readonly Fragment[],
  base: BaseImage | undefined,
  mtime: number,
  reads: Pick<DebianLayerInput, 'entriesOf' | 'fileOf'> = {},
): Promise<Layer | undefined> {
  if (!hasDebianFragments(fragments)) return undefined;
  const scanned = await scanBase(ports, base, ['var/lib/dpkg/status', 'etc/passwd']);
  const entries = await debianLayerEntries(ports, { fragments, base: scanned, mtime, ...reads });
  return entries ? buildLayer([{ entries, label: DPKG_LAYER_LABEL }], { mtime }) : undefined;
}
