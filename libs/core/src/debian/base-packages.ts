/**
 * What a base holds, for base-aware resolution (resolve/base.ts): the installed packages of a
 * dpkg status file, or the fragments a base was built from. Sorted by name, then architecture,
 * so the base record (and every lock that names its packages) is deterministic.
 */
import type { Fragment } from '../model';
import type { BasePackage } from '../resolve/base';
import { parseControlFile } from './control';
import { formatRelationField, parseProvidesField } from './relations';

const byName = (a: BasePackage, b: BasePackage) =>
  a.name < b.name
    ? -1
    : a.name > b.name
      ? 1
      : (a.arch ?? '') < (b.arch ?? '')
        ? -1
        : (a.arch ?? '') > (b.arch ?? '')
          ? 1
          : 0;

/** Paragraphs whose Status is `install ok installed` (half-installed or removed ones are not there). */
export function basePackagesFromStatus(status: string, label = 'var/lib/dpkg/status'): BasePackage[] {
  const out: BasePackage[] = [];
  for (const p of parseControlFile(status, label)) {
    const name = p['Package'];
    const version = p['Version'];
    if (!name || !version || (p['Status'] ?? '').trim().split(/\s+/)[2] !== 'installed') continue;
    const provides = parseProvidesField(p['Provides']);
    const depends = [p['Pre-Depends'], p['Depends']]
      .filter((x) => x && x.trim())
      .map((x) => x!.replace(/\s+/g, ' ').trim())
      .join(', ');
    out.push({
      name,
      version,
      ...(p['Architecture'] ? { arch: p['Architecture'] } : {}),
      ...(provides.length ? { provides } : {}),
      ...(depends ? { depends } : {}),
    });
  }
  return out.sort(byName);
}

/** The packages of a base built from these fragments (name, version, provides of each). */
export function basePackagesFromFragments(fragments: readonly Fragment[]): BasePackage[] {
  return fragments
    .map((f) => {
      const d = f.descriptor;
      const depends = formatRelationField([...d.preDepends, ...d.depends]);
      return {
        name: d.name,
        version: d.version,
        ...(d.scheme !== 'debian' ? { scheme: d.scheme } : {}),
        ...(d.attributes.arch ? { arch: d.attributes.arch } : {}),
        ...(d.provides.length ? { provides: d.provides } : {}),
        ...(depends ? { depends } : {}),
      };
    })
    .sort(byName);
}
