/**
 * Content of a metadata-only fragment (one imported from a Packages index), derived from its
 * verified .deb. The signed descriptor vouches for the .deb's digest and names the derivation
 * (merged-/usr or not, epoch); this function applies exactly the normalization `lse import deb`
 * applies, so the file index, the tar and the Debian metadata are a deterministic function of
 * bytes whose digest is signed. It must only be called with bytes already checked against
 * `descriptor.blob` (the stages do: see engine verify-stage.ts).
 *
 * The package inside must be the one the index described (name, version, architecture): a
 * mirror serving another package under the right digest is impossible, but an index whose
 * paragraph disagrees with its own .deb is refused rather than assembled under a wrong name.
 */
import { LseError } from '../errors';
import type { FileEntry, Fragment } from '../model';
import { fragmentLabel } from '../sign/trust';
import { normalizeEntries, readTar, type TarEntry } from '../tar';
import { debDerivationOf } from './index-catalog';
import { debianPackInfo, type DebContents } from './package';

export interface DerivedFragment {
  /**
   * The fragment as assembly uses it: same id and signatures; the descriptor carries the derived
   * file index and the Debian metadata read from the package (control, conffiles, md5sums,
   * maintainer scripts and their analysis). Its descriptor no longer hashes to the id: it is a
   * view for assembly, never stored or re-signed.
   */
  fragment: Fragment;
  /** Normalized entries (sorted, root:root, mtime = the derivation's epoch). */
  entries: TarEntry[];
  files: FileEntry[];
  /** The normalized tar (what `lse import deb` of the same .deb would store as the blob). */
  tar: Buffer;
}

export function deriveFromDeb(f: Fragment, deb: DebContents): DerivedFragment {
  const label = fragmentLabel(f);
  const d = f.descriptor;
  const how = debDerivationOf(d);
  if (!how)
    throw new LseError(
      'FRAGMENT_INVALID',
      `${label}: its blob is not a Debian package (${d.blob.mediaType}); nothing to derive`,
      { fragment: f.id },
    );
  const info = debianPackInfo(deb, { mergedUsr: how.mergedUsr, label });
  const arch = info.attributes.arch;
  if (info.name !== d.name || info.version !== d.version || arch !== d.attributes.arch) {
    throw new LseError(
      'FRAGMENT_INVALID',
      `${label}: the .deb is ${info.name} ${info.version} (${arch}), but the signed index entry says ${d.name} ${d.version} (${d.attributes.arch}); re-import the index`,
      { fragment: f.id },
    );
  }
  const { tar, files } = normalizeEntries(info.entries, { mtime: how.epoch, allowSetuid: true, uid: 0, gid: 0, label });
  const fragment: Fragment = {
    id: f.id,
    signatures: f.signatures,
    descriptor: { ...d, files, metadata: { ...d.metadata, debian: info.metadata.debian, allowSetuid: true } },
  };
  return { fragment, entries: readTar(tar), files, tar };
}
