/**
 * A Debian archive (mirror) as the pipeline's source of .deb blobs for fragments imported from a
 * Packages index: `download` fetches `REPO/Filename` and returns it only when it has the digest
 * and size the signed descriptor names; `read` opens a .deb with dpkg-deb.
 *
 * REPO is `LSE_DEBIAN_MIRROR` when set (a local mirror or proxy of the same archive), otherwise the
 * archive the index was imported from (`source.repo`). The mirror is not trusted: only the
 * signed digest is.
 */
import { LseError, fragmentLabel, type DebContents, type Fragment } from '@lse/core';
import { readDebBuffer } from './deb-file';
import { fetchVerified } from './fetch';

export class DebianMirror {
  /** `mirror`: overrides the archive each descriptor names (no trailing slash needed). */
  constructor(private readonly mirror?: string) {}

  /** The URL a fragment's .deb is fetched from. */
  urlOf(f: Fragment): string {
    const src = f.descriptor.source;
    const filename = typeof src['filename'] === 'string' ? src['filename'] : '';
    const repo = this.mirror || (typeof src['repo'] === 'string' ? src['repo'] : '');
    if (!filename || !repo) {
      throw new LseError(
        'BLOB_UNKNOWN',
        `${fragmentLabel(f)}: no archive to fetch its .deb from (the index entry names none); set LSE_DEBIAN_MIRROR`,
        { fragment: f.id },
      );
    }
    return `${repo.replace(/\/+$/, '')}/${filename.replace(/^\/+/, '')}`;
  }

  async download(f: Fragment): Promise<Buffer> {
    const url = this.urlOf(f);
    try {
      return await fetchVerified(url, f.descriptor.blob.digest, f.descriptor.blob.size);
    } catch (e) {
      if (e instanceof LseError)
        throw new LseError(e.code, `${fragmentLabel(f)}: ${e.message}`, { ...e.details, fragment: f.id }, { cause: e });
      throw e;
    }
  }

  read(deb: Buffer, label: string): Promise<DebContents> {
    return readDebBuffer(deb, label);
  }
}
