/**
 * Verification once per fragment and trust state. The verifier records a FragmentVerdict under
 * `<fragment id>@<trust generation>` after checking a fragment's blob (digest, size, tar policy,
 * file index); later syntheses under the same generation find it and read no blob. For a package
 * from a Debian index the verdict also keeps what assembly needs from the content derived from the
 * verified .deb (its file index and Debian metadata), and for any fragment the few files the
 * generated Debian layer reads (base-passwd's masters), so assembly need not derive or read again.
 */
import { DEB_MEDIA_TYPE, verdictId, type Fragment, type FragmentVerdict, type TarEntry } from '@lse/core';

/** Files of a fragment's content the generated Debian layer reads (debian-assembly.ts). */
export const ASSEMBLY_READS = ['usr/share/base-passwd/passwd.master', 'usr/share/base-passwd/group.master'];

const bare = (p: string) => p.replace(/^(\.\/|\/)+/, '');

/** The verdict for a fragment whose content was just verified (`view` is what assembly sees). */
export function verdictFor(
  f: Fragment,
  content: { fragment: Fragment; entries: TarEntry[] },
  generation: string,
  keyName: string,
  at: string,
): FragmentVerdict {
  const files: Record<string, string> = {};
  for (const e of content.entries) {
    const p = bare(e.path);
    if (e.type === 'file' && ASSEMBLY_READS.includes(p))
      files[p] = Buffer.from(e.data ?? Buffer.alloc(0)).toString('base64');
  }
  const derived =
    f.descriptor.blob.mediaType === DEB_MEDIA_TYPE
      ? { files: content.fragment.descriptor.files, metadata: content.fragment.descriptor.metadata }
      : undefined;
  return {
    id: verdictId(f.id, generation),
    fragment: f.id,
    trustGeneration: generation,
    keyName,
    verifiedAt: at,
    ...(derived ? { derived } : {}),
    ...(Object.keys(files).length ? { files } : {}),
  };
}

/** The fragment as assembly sees it: the stored record, or the derived view a verdict kept. */
export function viewOf(f: Fragment, v: FragmentVerdict | undefined): Fragment | undefined {
  if (f.descriptor.blob.mediaType !== DEB_MEDIA_TYPE) return f;
  if (!v?.derived) return undefined;
  return {
    id: f.id,
    signatures: f.signatures,
    descriptor: { ...f.descriptor, files: v.derived.files, metadata: v.derived.metadata },
  };
}

/** One of ASSEMBLY_READS from a verdict: the bytes, null when the content has no such file, undefined when unknown. */
export function verdictFile(v: FragmentVerdict | undefined, path: string): Buffer | null | undefined {
  if (!v) return undefined;
  const b64 = v.files?.[bare(path)];
  return b64 === undefined ? (ASSEMBLY_READS.includes(bare(path)) ? null : undefined) : Buffer.from(b64, 'base64');
}
