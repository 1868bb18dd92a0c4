/**
 * A Debian binary package (its control file, control-archive members and data entries, as the deb
 * adapter reads them) → the inputs of a signed fragment: name, Debian version, architecture,
 * relations, the payload entries, and `metadata.debian` (see {@link DebianMeta}) with everything
 * assembly needs to write a correct dpkg database and to reproduce the common maintainer-script
 * effects.
 *
 * Payload policy: dpkg installs files, directories, symlinks, hardlinks and (rarely) device nodes
 * or FIFOs. Devices and FIFOs cannot be in a fragment (the runtime provides /dev), so they are
 * dropped and listed in `droppedDevices`; setuid/setgid bits are kept (imported packages are
 * packed with `allowSetuid`); owners are normalized to root:root and entries owned by someone else
 * are listed as not reproduced. With `mergedUsr` paths under /bin, /sbin, /lib* move under /usr
 * (see usrmerge.ts).
 */
import { createHash } from 'node:crypto';
import { LseError } from '../errors';
import type { VariantAttributes } from '../model';
import { canonicalPath, type TarEntry } from '../tar';
import { parseControl, type ControlParagraph } from './control';
import { parseProvidesField, relationSpecs } from './relations';
import { analyzeMaintainerScripts, type AlternativeInstall, type ScriptEffect } from './scripts';
import { canonicalizeMergedUsr, mergedUsrPath } from './usrmerge';

export const DEBIAN_SCRIPTS = ['preinst', 'postinst', 'prerm', 'postrm', 'config', 'triggers'] as const;

export interface DebContents {
  /** Text of the `control` member. */
  control: string;
  /** Other control-archive members by name (`md5sums`, `conffiles`, `postinst`, ...). */
  controlFiles: Record<string, Buffer>;
  /** Members of data.tar (paths as stored, e.g. `./usr/bin/jq`). */
  entries: TarEntry[];
}

/** What `descriptor.metadata.debian` holds (signed with the descriptor). */
export interface DebianMeta {
  /** The control paragraph as shipped (for index fragments: the Packages paragraph). */
  control: ControlParagraph;
  installedSize?: number;
  /** Source package name (and version when it differs). */
  source?: string;
  essential: boolean;
  multiArch?: string;
  /** Absolute conffile paths. */
  conffiles: string[];
  /** md5 (hex) of each conffile as shipped (dpkg's md5sums file leaves conffiles out). */
  conffileMd5s?: Record<string, string>;
  /** dpkg's md5sums text (`<md5>  <path>` per line), paths as installed. */
  md5sums?: string;
  /** Maintainer scripts and the triggers file, as text. */
  scripts: Record<string, string>;
  alternatives: AlternativeInstall[];
  effects: ScriptEffect[];
  /** One line per effect of installing with dpkg that assembly does not reproduce. */
  notReproduced: string[];
  mergedUsr?: { moved: number; aliased: string[] };
  droppedDevices: string[];
}

export interface DebianPackInfo {
  name: string;
  version: string;
  attributes: VariantAttributes;
  depends: string[];
  preDepends: string[];
  provides: string[];
  conflicts: string[];
  breaks: string[];
  entries: TarEntry[];
  metadata: { debian: DebianMeta };
}

function required(c: ControlParagraph, f: string, label: string): string {
  const v = c[f];
  if (v === undefined || v === '')
    throw new LseError(
      'FRAGMENT_INVALID',
      `${label}: the control file has no ${f} field; is this a Debian binary package?`,
      { field: f },
    );
  return v;
}

/** Package → fragment attributes: `all` stays `all` (fits any runtime), others name the arch. */
export function debianAttributes(arch: string): VariantAttributes {
  return arch === 'all' ? { os: 'linux', arch: 'all' } : { os: 'linux', arch };
}

/** Relation fields of a control paragraph as relation specs (`libc6 (>= 2.36) | libc6.1`). */
export function debianRelationSpecs(c: ControlParagraph) {
  return {
    depends: relationSpecs(c['Depends']),
    preDepends: relationSpecs(c['Pre-Depends']),
    provides: parseProvidesField(c['Provides']).map((p) => (p.version ? `${p.name} (= ${p.version})` : p.name)),
    conflicts: relationSpecs(c['Conflicts']),
    breaks: relationSpecs(c['Breaks']),
  };
}

export function debianPackInfo(deb: DebContents, opts: { mergedUsr: boolean; label?: string }): DebianPackInfo {
  const label = opts.label ?? 'package';
  const control = parseControl(deb.control, `${label}: control`);
  const name = required(control, 'Package', label);
  const version = required(control, 'Version', label);
  const arch = required(control, 'Architecture', label);
  const text = (k: string) => (deb.controlFiles[k] ? deb.controlFiles[k]!.toString('utf8') : undefined);

  const droppedDevices: string[] = [];
  let entries: TarEntry[] = [];
  const owners = new Map<string, number>();
  for (const e of deb.entries) {
    if (e.type === 'chardev' || e.type === 'blockdev' || e.type === 'fifo' || e.type === 'other') {
      droppedDevices.push('/' + canonicalPath(e.path));
      continue;
    }
    if (e.uid !== 0 || e.gid !== 0) {
      const k = `${e.uname || e.uid}:${e.gname || e.gid}`;
      owners.set(k, (owners.get(k) ?? 0) + 1);
    }
    entries.push(e);
  }
  let mergedUsr: DebianMeta['mergedUsr'];
  const mapPath = (p: string) => (opts.mergedUsr ? mergedUsrPath(canonicalPath(p)) : canonicalPath(p));
  if (opts.mergedUsr) {
    const r = canonicalizeMergedUsr(entries);
    entries = r.entries;
    mergedUsr = { moved: r.moved, aliased: r.aliased };
  }

  const scripts: Record<string, string> = {};
  for (const s of DEBIAN_SCRIPTS) {
    const t = text(s);
    if (t !== undefined) scripts[s] = t;
  }
  const { alternatives, effects } = analyzeMaintainerScripts(scripts);
  const md5raw = text('md5sums');
  const md5sums = md5raw
    ?.split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const m = /^([0-9a-f]{32})\s+\*?(.+)$/.exec(l.trim());
      return m ? `${m[1]}  ${mapPath(m[2]!)}` : l;
    })
    .join('\n')
    .concat('\n');
  const conffiles = (text('conffiles') ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('/'))
    .map((l) => '/' + mapPath(l.split(/\s+/)[0]!));

  const conffileMd5s: Record<string, string> = {};
  for (const e of entries) {
    const p = '/' + canonicalPath(e.path);
    if (e.type === 'file' && conffiles.includes(p))
      conffileMd5s[p] = createHash('md5')
        .update(e.data ?? Buffer.alloc(0))
        .digest('hex');
  }
  const notReproduced = effects.filter((e) => !e.reproduced).map((e) => `${e.script}: ${e.detail}`);
  for (const [who, n] of owners)
    notReproduced.push(
      `data: ${n} entr${n === 1 ? 'y is' : 'ies are'} owned by ${who} in the package; fragments are root:root`,
    );
  if (droppedDevices.length) notReproduced.push(`data: device nodes/FIFOs dropped: ${droppedDevices.join(' ')}`);

  const installed = Number(control['Installed-Size']);
  const src = control['Source'];
  const meta: DebianMeta = {
    control,
    ...(Number.isFinite(installed) && control['Installed-Size'] ? { installedSize: installed } : {}),
    ...(src ? { source: src } : {}),
    essential: control['Essential'] === 'yes',
    ...(control['Multi-Arch'] ? { multiArch: control['Multi-Arch'] } : {}),
    conffiles,
    ...(conffiles.length ? { conffileMd5s } : {}),
    ...(md5sums !== undefined ? { md5sums } : {}),
    scripts,
    alternatives,
    effects,
    notReproduced,
    ...(mergedUsr ? { mergedUsr } : {}),
    droppedDevices,
  };
  return {
    name,
    version,
    attributes: debianAttributes(arch),
    ...debianRelationSpecs(control),
    entries,
    metadata: { debian: meta },
  };
}

/** The `metadata.debian` of a descriptor, or undefined for non-Debian fragments. */
export function debianMetaOf(d: { metadata: Record<string, unknown> }): DebianMeta | undefined {
  const m = d.metadata['debian'];
  return m && typeof m === 'object' && 'control' in (m as object) ? (m as DebianMeta) : undefined;
}

/** Lines for `lse fragment show`: Debian facts and the maintainer-script effects not reproduced. */
export function debianShowLines(d: { metadata: Record<string, unknown> }): string[] {
  const m = debianMetaOf(d);
  if (!m) return [];
  const out: string[] = [];
  const facts = [
    m.source ? `source ${m.source}` : '',
    m.installedSize !== undefined ? `installed size ${m.installedSize} KiB` : '',
    m.essential ? 'essential' : '',
    m.multiArch ? `multi-arch ${m.multiArch}` : '',
  ].filter(Boolean);
  if (facts.length) out.push(`  debian: ${facts.join(', ')}`);
  if (m.conffiles.length) out.push(`  conffiles: ${m.conffiles.join(' ')}`);
  const done = m.effects.filter((e) => e.reproduced).map((e) => `${e.script}: ${e.detail}`);
  if (done.length) out.push('  reproduced at assembly:', ...done.map((l) => `    ${l}`));
  if (m.notReproduced.length) out.push('  not reproduced:', ...m.notReproduced.map((l) => `    ${l}`));
  return out;
}
