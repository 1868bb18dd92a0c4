/**
 * A resolver catalog over a Debian Packages index (apt's lists, or a Packages file): the index is
 * read once into paragraphs; names and provided names are indexed with a cheap split of the
 * Provides field, and a paragraph becomes a (metadata-only, unsigned) fragment only when the
 * resolver asks for its name. Resolving one package against the ~63,000 paragraphs of bookworm
 * main therefore parses the relations of the few hundred packages it reaches, not all of them.
 *
 * The fragments' ids are `deb:NAME=VERSION:ARCH` (not content digests): this catalog answers
 * "which packages, which versions", and the caller then fetches and imports those as real signed
 * fragments. `indexDescriptor` builds the descriptor of a metadata-only fragment for a paragraph
 * (see docs: blob = the .deb named by the index, media type DEB_MEDIA_TYPE).
 */
import type { Catalog } from '../resolve';
import type { Fragment, FragmentDescriptor } from '../model';
import type { ControlParagraph } from './control';
import { debianAttributes, debianRelationSpecs, type DebianMeta } from './package';
import { parseProvidesField } from './relations';
import { parseRelation } from '../version';
import { LseError } from '../errors';
import type { DebianProof, DebianUnsigned } from './release';

export const DEB_MEDIA_TYPE = 'application/vnd.debian.binary-package';

export class DebianIndexCatalog implements Catalog {
  private readonly byPkg = new Map<string, ControlParagraph[]>();
  private readonly byProvide = new Map<string, ControlParagraph[]>();
  private readonly built = new Map<ControlParagraph, Fragment>();

  /** `archs`: architectures to keep (e.g. ['amd64', 'all']); others are ignored. */
  constructor(paragraphs: Iterable<ControlParagraph>, archs: readonly string[]) {
    const seen = new Set<string>();
    for (const p of paragraphs) {
      const name = p['Package'];
      const arch = p['Architecture'];
      if (!name || !p['Version'] || !arch || !archs.includes(arch)) continue;
      const key = `${name}=${p['Version']}:${arch}`;
      if (seen.has(key)) continue; // the same package in two suites/mirrors
      seen.add(key);
      push(this.byPkg, name, p);
      const prov = p['Provides'];
      if (prov) for (const part of prov.split(',')) push(this.byProvide, part.trim().split(/[\s(]/)[0]!, p);
    }
  }

  private frag(p: ControlParagraph): Fragment | undefined {
    let f = this.built.get(p);
    if (!f) {
      try {
        const d = describeParagraph(p, {}, false);
        f = { id: `deb:${d.name}=${d.version}:${p['Architecture']}`, descriptor: d, signatures: [] };
      } catch {
        return undefined; // a malformed paragraph is skipped, as apt skips it
      }
      this.built.set(p, f);
    }
    return f;
  }

  byName(name: string): readonly Fragment[] {
    return (this.byPkg.get(name) ?? []).map((p) => this.frag(p)).filter((f): f is Fragment => f !== undefined);
  }

  providersOf(name: string): readonly Fragment[] {
    return (this.byProvide.get(name) ?? []).map((p) => this.frag(p)).filter((f): f is Fragment => f !== undefined);
  }

  /**
   * Deliberately not `names()`: the resolver computes "did you mean" hints for every alternative
   * that names an unknown package (Debian relations have many, e.g. `default-mta | mail-transport-agent`
   * alternatives naming packages of other suites), and an edit-distance scan of 63,000 names per
   * such atom made one resolution take seconds. Callers check requested names with `has`.
   */
  has(name: string): boolean {
    return this.byPkg.has(name) || this.byProvide.has(name);
  }

  packageNames(): string[] {
    return [...this.byPkg.keys()].sort();
  }

  /** Paragraphs marked `Essential: yes` (newest first per name is left to the resolver). */
  essentialNames(): string[] {
    return [...this.byPkg.entries()]
      .filter(([, ps]) => ps.some((p) => p['Essential'] === 'yes'))
      .map(([n]) => n)
      .sort();
  }

  /** Names with `Priority: required` (what debootstrap's minbase installs, with Essential). */
  requiredNames(): string[] {
    return [...this.byPkg.entries()]
      .filter(([, ps]) => ps.some((p) => p['Priority'] === 'required'))
      .map(([n]) => n)
      .sort();
  }

  /** The paragraph behind a fragment this catalog produced. */
  paragraphOf(f: Fragment): ControlParagraph | undefined {
    for (const [p, g] of this.built) if (g === f || g.id === f.id) return p;
    return undefined;
  }
}

function push(m: Map<string, ControlParagraph[]>, k: string, p: ControlParagraph): void {
  const l = m.get(k);
  if (l) l.push(p);
  else m.set(k, [p]);
}

export interface IndexDescriptorOptions {
  /** Base URI of the archive the index came from (`http://deb.debian.org/debian`); the .deb is `REPO/Filename`. */
  repo?: string;
  /** How the payload is turned into a fragment tar once the .deb is fetched (see {@link DebDerivation}). */
  derive?: DebDerivation;
  /**
   * Debian's chain of trust for the paragraph (`source.debian`): where in which signed index it
   * is, or that the index was imported unsigned (`--allow-unsigned`). See release.ts.
   */
  proof?: DebianProof | DebianUnsigned;
}

/**
 * How a metadata-only fragment's content is derived from its verified .deb: the same
 * normalization `lse import deb` applies (merged-/usr or not, every mtime = `epoch`, root:root).
 * It is part of the signed descriptor, so every verifier and assembler derives the same bytes.
 */
export interface DebDerivation {
  from: 'deb';
  mergedUsr: boolean;
  epoch: number;
}

/** The derivation a descriptor names, when its blob is a .deb (metadata-only fragment). */
export function debDerivationOf(d: FragmentDescriptor): DebDerivation | undefined {
  if (d.blob.mediaType !== DEB_MEDIA_TYPE) return undefined;
  const v = d.metadata['derive'] as Partial<DebDerivation> | undefined;
  return {
    from: 'deb',
    mergedUsr: v?.mergedUsr ?? true,
    epoch: typeof v?.epoch === 'number' ? v.epoch : 0,
  };
}

/**
 * Descriptor of a metadata-only fragment for an index paragraph: relations parsed, no file index,
 * `blob` = the .deb the index names (its SHA256 and Size), `source` = the archive and Filename to
 * fetch it from. The signature thus vouches for the .deb's digest; the file index, control
 * members and maintainer-script analysis are derived from the verified .deb when it is used.
 * A pure function of the paragraph and options, so re-importing an index gives the same ids.
 */
export function indexDescriptor(p: ControlParagraph, opts: IndexDescriptorOptions = {}): FragmentDescriptor {
  return describeParagraph(p, opts, true);
}

function describeParagraph(p: ControlParagraph, opts: IndexDescriptorOptions, strict: boolean): FragmentDescriptor {
  const specs = debianRelationSpecs(p);
  const rel = (xs: string[]) => xs.map((s) => parseRelation(s));
  const sha = (p['SHA256'] ?? '').toLowerCase();
  if (strict && !/^[0-9a-f]{64}$/.test(sha))
    throw new LseError(
      'FRAGMENT_INVALID',
      `package ${p['Package'] ?? '?'} ${p['Version'] ?? ''}: the index gives no valid SHA256 for its .deb`,
      { package: p['Package'] },
    );
  const size = Number(p['Size']);
  if (strict && (!Number.isSafeInteger(size) || size <= 0))
    throw new LseError(
      'FRAGMENT_INVALID',
      `package ${p['Package'] ?? '?'} ${p['Version'] ?? ''}: the index gives no valid Size for its .deb`,
      { package: p['Package'] },
    );
  const filename = p['Filename'] ?? '';
  if (strict && (!filename || filename.startsWith('/') || filename.split('/').includes('..'))) {
    throw new LseError(
      'FRAGMENT_INVALID',
      `package ${p['Package'] ?? '?'}: Filename '${filename}' is not a relative path in the archive`,
      { package: p['Package'] },
    );
  }
  const meta: DebianMeta = {
    control: p,
    ...(p['Installed-Size'] ? { installedSize: Number(p['Installed-Size']) } : {}),
    ...(p['Source'] ? { source: p['Source'] } : {}),
    essential: p['Essential'] === 'yes',
    ...(p['Multi-Arch'] ? { multiArch: p['Multi-Arch'] } : {}),
    conffiles: [],
    scripts: {},
    alternatives: [],
    effects: [],
    notReproduced: ['metadata-only: files and maintainer scripts are read from the .deb when it is first used'],
    droppedDevices: [],
  };
  const derive = opts.derive ?? { from: 'deb', mergedUsr: true, epoch: 0 };
  return {
    schemaVersion: 1,
    name: p['Package']!,
    version: p['Version']!,
    scheme: 'debian',
    attributes: debianAttributes(p['Architecture']!),
    depends: rel(specs.depends),
    preDepends: rel(specs.preDepends),
    provides: parseProvidesField(p['Provides']),
    conflicts: rel(specs.conflicts),
    breaks: rel(specs.breaks),
    files: [],
    blob: { mediaType: DEB_MEDIA_TYPE, digest: `sha256:${sha}`, size: Number.isSafeInteger(size) ? size : 0 },
    source: {
      type: 'debian-index',
      filename,
      ...(opts.repo ? { repo: opts.repo.replace(/\/+$/, '') } : {}),
      ...(opts.proof ? { debian: opts.proof } : {}),
    },
    metadata: {
      debian: meta,
      derive: { from: 'deb', mergedUsr: derive.mergedUsr, epoch: derive.epoch },
      allowSetuid: true,
    },
  };
}
