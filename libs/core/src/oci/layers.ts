/**
 * Layer assembly: the entries of one or more normalized fragment tars (or the inline files of a
 * manifest) become one deterministic layer.
 *
 * Entries are keyed by canonical path. A directory shipped by several parts is written once (the
 * last part's metadata wins, as it would if the parts were stacked as layers); an identical
 * non-directory is written once; anything else at the same path is a PATH_CONFLICT (conflicts.ts
 * should have refused it earlier from the file indexes). Missing parent directories are added
 * (0755, root). Entries are sorted by the UTF-8 bytes of their path, a hardlink is moved after
 * its target if sorting put it first, and every mtime is set to the caller's fixed time; then the
 * tar is written (writeTar is deterministic) and gzipped with fixed parameters (gzip.ts).
 */
import { LseError } from '../errors';
import type { FileEntry, InlineFile } from '../model';
import { sha256Digest } from '../digest';
import { canonicalPath, comparePaths, writeTar, type TarEntry } from '../tar';
import { gzipDeterministic } from './gzip';

export interface Layer {
  /** Uncompressed tar. */
  tar: Buffer;
  /** gzip of `tar`: what is stored and pushed. */
  blob: Buffer;
  /** sha256 of `tar` (goes into the config's rootfs.diff_ids). */
  diffId: string;
  /** sha256 of `blob` (goes into the manifest). */
  digest: string;
  /** Bytes of `blob`. */
  size: number;
}

export interface LayerPart {
  entries: TarEntry[];
  /** Names the part in messages, e.g. `libpng@1.6.43`. */
  label?: string;
}

const DIR_MODE = 0o755;

export function buildLayer(parts: LayerPart[], opts: { mtime: number }): Layer {
  const merged = new Map<string, { entry: TarEntry; label: string }>();
  parts.forEach((part, i) => {
    const label = part.label ?? `part ${i + 1}`;
    for (const raw of part.entries) {
      const path = canonicalPath(raw.path);
      if (path === '') continue; // the root itself
      const entry: TarEntry = { ...raw, path, mtime: opts.mtime };
      if (entry.type === 'hardlink' && entry.linkname !== undefined) entry.linkname = canonicalPath(entry.linkname);
      const prev = merged.get(path);
      if (prev === undefined || (prev.entry.type === 'dir' && entry.type === 'dir')) {
        merged.set(path, { entry, label });
      } else if (!sameEntry(prev.entry, entry)) {
        throw new LseError(
          'PATH_CONFLICT',
          `'${path}' is shipped by both ${prev.label} and ${label} with different ${prev.entry.type === entry.type ? 'content or mode' : 'types'}; remove one of them`,
          { path, owners: [prev.label, label] },
        );
      }
    }
  });
  for (const [path, { label }] of [...merged.entries()]) {
    for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
      const parent = path.slice(0, i);
      const existing = merged.get(parent);
      if (existing !== undefined) {
        if (existing.entry.type !== 'dir') {
          throw new LseError(
            'PATH_CONFLICT',
            `'${parent}' is a ${existing.entry.type} in ${existing.label}, but ${label} puts '${path}' under it; remove one of them`,
            { path: parent, owners: [existing.label, label] },
          );
        }
        break; // its own parents were (or will be) added when it was visited
      }
      merged.set(parent, { entry: dirEntry(parent, opts.mtime), label: 'parent directory' });
    }
  }
  const entries = orderEntries([...merged.values()].map((m) => m.entry));
  return finishLayer(writeTar(entries));
}

/** The top layer: inline files from the manifest (parents 0755, file mode from its octal string). */
export function buildFilesLayer(files: InlineFile[], mtime: number): Layer {
  const entries: TarEntry[] = inlineFiles(files).map(({ path, mode, data }) => ({
    path,
    type: 'file',
    mode,
    uid: 0,
    gid: 0,
    mtime,
    size: data.length,
    data,
  }));
  return buildLayer([{ entries, label: 'inline files' }], { mtime });
}

/**
 * File index of the inline files (with their parent directories), for conflict checks against
 * the fragments' indexes before the layer is built.
 */
export function inlineFileEntries(files: InlineFile[]): FileEntry[] {
  const out = new Map<string, FileEntry>();
  for (const { path, mode, data } of inlineFiles(files)) {
    out.set(path, { path, type: 'file', mode, uid: 0, gid: 0, size: data.length, digest: sha256Digest(data) });
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
      const parent = path.slice(0, i);
      if (!out.has(parent)) out.set(parent, { path: parent, type: 'dir', mode: DIR_MODE, uid: 0, gid: 0, size: 0 });
    }
  }
  return [...out.values()].sort((a, b) => comparePaths(a.path, b.path));
}

function inlineFiles(files: InlineFile[]): { path: string; mode: number; data: Buffer }[] {
  const seen = new Set<string>();
  return files.map((f) => {
    const path = canonicalPath(f.path);
    if (path === '' || path.split('/').includes('..')) {
      throw new LseError(
        'MANIFEST_INVALID',
        `inline file '${f.path}' must name a file inside the image, without '..'`,
        { path: f.path },
      );
    }
    if (seen.has(path))
      throw new LseError('MANIFEST_INVALID', `inline file '${f.path}' is listed twice; keep one`, { path: f.path });
    seen.add(path);
    const modeText = f.mode === undefined || f.mode === '' ? '0644' : f.mode;
    if (!/^[0-7]{3,4}$/.test(modeText)) {
      throw new LseError(
        'MANIFEST_INVALID',
        `inline file '${f.path}': mode '${f.mode}' is not an octal mode like '0644'`,
        { path: f.path, mode: f.mode },
      );
    }
    return { path, mode: parseInt(modeText, 8), data: Buffer.from(f.content, 'utf8') };
  });
}

function finishLayer(tar: Buffer): Layer {
  const blob = gzipDeterministic(tar);
  return { tar, blob, diffId: sha256Digest(tar), digest: sha256Digest(blob), size: blob.length };
}

function dirEntry(path: string, mtime: number): TarEntry {
  return { path, type: 'dir', mode: DIR_MODE, uid: 0, gid: 0, mtime, size: 0 };
}

function sameEntry(a: TarEntry, b: TarEntry): boolean {
  if (a.type !== b.type || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return false;
  if (a.linkname !== b.linkname || a.size !== b.size) return false;
  if (a.devmajor !== b.devmajor || a.devminor !== b.devminor) return false;
  return (a.data ?? Buffer.alloc(0)).equals(b.data ?? Buffer.alloc(0));
}

/** Sorted by path; a hardlink that would precede its target is emitted right after it. */
function orderEntries(entries: TarEntry[]): TarEntry[] {
  entries.sort((a, b) => comparePaths(a.path, b.path));
  const out: TarEntry[] = [];
  const emitted = new Set<string>();
  const waiting = new Map<string, TarEntry[]>();
  const emit = (e: TarEntry): void => {
    out.push(e);
    emitted.add(e.path);
    for (const w of waiting.get(e.path) ?? []) emit(w);
    waiting.delete(e.path);
  };
  for (const e of entries) {
    if (e.type === 'hardlink' && e.linkname !== undefined && !emitted.has(e.linkname)) {
      const list = waiting.get(e.linkname) ?? [];
      list.push(e);
      waiting.set(e.linkname, list);
    } else {
      emit(e);
    }
  }
  for (const list of waiting.values()) {
    for (const e of list) {
      throw new LseError(
        'TAR_INVALID',
        `hardlink '${e.path}' points to '${e.linkname}', which is not in the layer; the fragment is malformed`,
        {
          path: e.path,
          linkname: e.linkname,
        },
      );
    }
  }
  return out;
}
