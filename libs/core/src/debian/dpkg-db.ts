/**
 * The dpkg database an image built from Debian fragments carries, generated at assembly (pure):
 *
 *  - `var/lib/dpkg/status`: one paragraph per installed package, `Status: install ok installed`,
 *    the package's control fields (Packages-only fields such as Filename, Size, SHA256 dropped) and
 *    `Conffiles` with their md5. Packages of the base's status file are kept unless a fragment
 *    installs the same package (name and architecture); paragraphs are sorted by name, as dpkg
 *    writes them.
 *  - `var/lib/dpkg/info/format` (`1`: the multiarch layout dpkg ≥ 1.16 uses) and
 *    `var/lib/dpkg/info/<pkg>.list` (every path of the package, with `/.` first), `.md5sums`,
 *    `.conffiles`, and the maintainer scripts; Multi-Arch: same packages use `<pkg>:<arch>.*`.
 *  - update-alternatives: for each alternative name, the installed candidate with the highest
 *    priority (ties: the package that sorts first) whose path is shipped; `LINK ->
 *    /etc/alternatives/NAME -> PATH`, slaves likewise, and dpkg's admin file
 *    `var/lib/dpkg/alternatives/NAME` (mode auto) listing every candidate.
 *  - base-passwd: `etc/passwd` and `etc/group` from its master files when the image has none.
 */
import type { FileEntry } from '../model';
import type { TarEntry } from '../tar';
import { formatParagraph, parseControlFile, type ControlParagraph } from './control';
import type { DebianMeta } from './package';
import type { AlternativeInstall } from './scripts';
import { mergedUsrPath } from './usrmerge';

export interface InstalledPackage {
  meta: DebianMeta;
  files: readonly FileEntry[];
}

export interface DpkgDatabaseOptions {
  /** The base image's `var/lib/dpkg/status`, if it has one. */
  baseStatus?: string;
  /** Whether link paths under /bin, /lib... are written under /usr (merged-/usr images). */
  mergedUsr: boolean;
  mtime: number;
  /** Content of base-passwd's master files when base-passwd is installed and the image has no /etc/passwd. */
  passwdMasters?: { passwd: Buffer; group: Buffer };
}

/** Fields that describe an archive entry, not an installed package. */
const INDEX_ONLY = new Set([
  'Filename',
  'Size',
  'MD5sum',
  'SHA1',
  'SHA256',
  'SHA512',
  'Description-md5',
  'Tag',
  'Task',
  'Status',
]);

export function statusParagraph(meta: DebianMeta): ControlParagraph {
  const c = meta.control;
  const out: ControlParagraph = { Package: c['Package'] ?? '', Status: 'install ok installed' };
  const md5 = md5Map(meta.md5sums);
  for (const [k, v] of Object.entries(c)) {
    if (k === 'Package' || INDEX_ONLY.has(k)) continue;
    if (k === 'Description' && meta.conffiles.length) out['Conffiles'] = conffilesValue(meta, md5);
    out[k] = v;
  }
  if (meta.conffiles.length && out['Conffiles'] === undefined) out['Conffiles'] = conffilesValue(meta, md5);
  return out;
}

function conffilesValue(meta: DebianMeta, md5: Map<string, string>): string {
  return meta.conffiles
    .map((p) => `\n ${p} ${meta.conffileMd5s?.[p] ?? md5.get(p.slice(1)) ?? 'newconffile'}`)
    .join('');
}

function md5Map(text: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of (text ?? '').split('\n')) {
    const x = /^([0-9a-f]{32})\s+(.+)$/.exec(line.trim());
    if (x) m.set(x[2]!, x[1]!);
  }
  return m;
}

const keyOf = (c: ControlParagraph) =>
  `${c['Package']}\u0000${c['Architecture'] === 'all' ? '' : c['Multi-Arch'] === 'same' ? c['Architecture'] : ''}`;

/** The merged status file text. */
export function dpkgStatus(pkgs: readonly InstalledPackage[], baseStatus?: string): string {
  const byKey = new Map<string, ControlParagraph>();
  for (const p of baseStatus ? parseControlFile(baseStatus, 'base var/lib/dpkg/status') : []) byKey.set(keyOf(p), p);
  for (const p of pkgs) byKey.set(keyOf(p.meta.control), statusParagraph(p.meta));
  const all = [...byKey.values()].sort(
    (a, b) => cmp(a['Package'] ?? '', b['Package'] ?? '') || cmp(a['Architecture'] ?? '', b['Architecture'] ?? ''),
  );
  return all.map(formatParagraph).join('\n');
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function infoName(meta: DebianMeta): string {
  const c = meta.control;
  return meta.multiArch === 'same' && c['Architecture'] !== 'all'
    ? `${c['Package']}:${c['Architecture']}`
    : c['Package']!;
}

/** Every entry of the generated dpkg-database layer (files only; buildLayer adds parents). */
export function dpkgDatabaseEntries(pkgs: readonly InstalledPackage[], opts: DpkgDatabaseOptions): TarEntry[] {
  const out: TarEntry[] = [];
  const file = (path: string, content: string | Buffer, mode = 0o644) => {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    out.push({ path, type: 'file', mode, uid: 0, gid: 0, mtime: opts.mtime, size: data.length, data });
  };
  const link = (path: string, target: string) =>
    out.push({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: opts.mtime, size: 0, linkname: target });

  file('var/lib/dpkg/status', dpkgStatus(pkgs, opts.baseStatus));
  file('var/lib/dpkg/info/format', '1\n'); // multiarch info layout: `<pkg>:<arch>.list` for Multi-Arch: same
  for (const p of pkgs) {
    const n = infoName(p.meta);
    file(`var/lib/dpkg/info/${n}.list`, ['/.', ...p.files.map((f) => '/' + f.path)].join('\n') + '\n');
    if (p.meta.md5sums) file(`var/lib/dpkg/info/${n}.md5sums`, p.meta.md5sums);
    if (p.meta.conffiles.length) file(`var/lib/dpkg/info/${n}.conffiles`, p.meta.conffiles.join('\n') + '\n');
    for (const [s, text] of Object.entries(p.meta.scripts))
      file(`var/lib/dpkg/info/${n}.${s}`, text, s === 'triggers' ? 0o644 : 0o755);
  }
  out.push(...alternativesEntries(pkgs, opts));
  if (opts.passwdMasters) {
    file('etc/passwd', opts.passwdMasters.passwd);
    file('etc/group', opts.passwdMasters.group);
  }
  return out;

  function alternativesEntries(ps: readonly InstalledPackage[], o: DpkgDatabaseOptions): TarEntry[] {
    const before = out.length;
    const shipped = new Set(ps.flatMap((p) => p.files.filter((f) => f.type !== 'dir').map((f) => f.path)));
    const canon = (abs: string) => {
      const rel = abs.replace(/^\/+/, '');
      return o.mergedUsr ? mergedUsrPath(rel) : rel;
    };
    const byName = new Map<string, { alt: AlternativeInstall; pkg: string }[]>();
    for (const p of [...ps].sort((a, b) => cmp(a.meta.control['Package'] ?? '', b.meta.control['Package'] ?? ''))) {
      for (const alt of p.meta.alternatives) {
        if (!shipped.has(canon(alt.path))) continue;
        byName.set(alt.name, [...(byName.get(alt.name) ?? []), { alt, pkg: p.meta.control['Package'] ?? '' }]);
      }
    }
    for (const name of [...byName.keys()].sort()) {
      const cands = byName.get(name)!;
      const best = cands.reduce((a, b) => (b.alt.priority > a.alt.priority ? b : a));
      link(canon(best.alt.link), `/etc/alternatives/${name}`);
      link(`etc/alternatives/${name}`, best.alt.path);
      for (const s of best.alt.slaves) {
        if (!shipped.has(canon(s.path))) continue;
        link(canon(s.link), `/etc/alternatives/${s.name}`);
        link(`etc/alternatives/${s.name}`, s.path);
      }
      const slaveNames = best.alt.slaves.map((s) => s);
      const admin = ['auto', best.alt.link, ...slaveNames.flatMap((s) => [s.name, s.link]), ''];
      for (const { alt } of cands)
        admin.push(
          alt.path,
          String(alt.priority),
          ...slaveNames.map((s) => alt.slaves.find((x) => x.name === s.name)?.path ?? ''),
        );
      admin.push('');
      file(`var/lib/dpkg/alternatives/${name}`, admin.join('\n') + '\n');
    }
    return out.splice(before);
  }
}
