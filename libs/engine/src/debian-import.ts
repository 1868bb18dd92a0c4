import { debianPackInfo, type DebContents, type DebianProof, type DebianUnsigned, type SecretKey } from '@lse/core';
import type { PackInput } from './pack';

export interface DebianImportOptions {
  key: SecretKey;
  epoch: number;
  /** Move /bin, /sbin, /lib* under /usr (see core debian/usrmerge.ts); true for Debian 12. */
  mergedUsr: boolean;
  /** File name of the .deb and its sha256 (hex), recorded in `source`. */
  file: string;
  sha256: string;
  size: number;
  /**
   * Debian's chain for the .deb when it came from an archive (`import apt`): where its paragraph
   * is in which signed index (source.debian), or that the index was unsigned.
   */
  debian?: DebianProof | DebianUnsigned;
}

/**
 * A read .deb → the input of packFragment/buildFragment: scheme debian, relations from the
 * control file, `allowSetuid` (packages ship setuid binaries and setgid directories), the control
 * data and maintainer-script analysis in `metadata.debian`. The source names the .deb by file name
 * and sha256 (not by host path), so importing the same .deb from anywhere gives the same fragment.
 */
export function debianPackInput(deb: DebContents, o: DebianImportOptions): PackInput {
  const info = debianPackInfo(deb, { mergedUsr: o.mergedUsr, label: o.file });
  return {
    entries: info.entries,
    name: info.name,
    version: info.version,
    scheme: 'debian',
    attributes: info.attributes,
    depends: info.depends,
    preDepends: info.preDepends,
    provides: info.provides,
    conflicts: info.conflicts,
    breaks: info.breaks,
    key: o.key,
    epoch: o.epoch,
    allowSetuid: true,
    source: {
      type: 'deb',
      file: o.file.replace(/^.*\//, ''),
      sha256: o.sha256,
      size: o.size,
      ...(o.debian ? { debian: o.debian } : {}),
    },
    metadata: info.metadata as unknown as Record<string, unknown>,
  };
}
