/**
 * The host's apt: its package lists (as resolver input) and `apt-get download`.
 *
 * The lists are whatever `apt-get indextargets` names for `Packages` (compressed as apt keeps them;
 * `apt-helper cat-file` decompresses). They are only fetched (`apt-get update`) when there are
 * none, and the caller is told so.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { LseError, parseControlFile, type ControlParagraph } from '@lse/core';
import { run, runOk } from './run';

export interface AptIndex {
  files: string[];
  /** The bytes of each list (uncompressed), in the order of `files`. */
  bytes: Buffer[];
  /** How many of `paragraphs` (in order) came from each list. */
  counts: number[];
  paragraphs: ControlParagraph[];
  /** Base URI of the repository each paragraph came from (for fetching by Filename). */
  repoOf: Map<ControlParagraph, string>;
}

export async function hostArch(): Promise<string> {
  return (await runOk('dpkg', ['--print-architecture'], 'reading the host architecture')).toString('utf8').trim();
}

async function indexTargets(): Promise<{ file: string; repo: string }[]> {
  const out = await runOk(
    'apt-get',
    ['indextargets', '--format', '$(FILENAME)\t$(REPO_URI)', 'Identifier: Packages'],
    'listing apt index files',
  );
  return out
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [file, repo] = l.split('\t');
      return { file: file!, repo: repo ?? '' };
    })
    .filter((t) => existsSync(t.file));
}

/** Runs `apt-get update` when no Packages list exists; returns true if it did. */
export async function ensureAptLists(progress: (line: string) => void = () => {}): Promise<boolean> {
  if ((await indexTargets()).length > 0) return false;
  progress('apt has no package lists yet; running apt-get update');
  await runOk('apt-get', ['update'], 'apt-get update', { onStderr: progress });
  if ((await indexTargets()).length === 0)
    throw new LseError('USAGE', 'apt-get update left no Packages lists; check /etc/apt/sources.list(.d)', {});
  return true;
}

/**
 * Reads (decompressing) one index file: apt's helper knows every compression apt uses (lz4, gz,
 * xz, zst); without apt, plain and gzip files are read directly.
 */
export async function readIndexText(file: string): Promise<string> {
  return (await readIndexBytes(file)).toString('utf8');
}

/** {@link readIndexText} as bytes: what the Release's SHA256 of the uncompressed file covers. */
export async function readIndexBytes(file: string): Promise<Buffer> {
  if (!existsSync(file))
    throw new LseError(
      'USAGE',
      `${file} does not exist; give a Packages file (plain or compressed), e.g. one of /var/lib/apt/lists/*_Packages*`,
      { file },
    );
  if (existsSync('/usr/lib/apt/apt-helper'))
    return runOk('/usr/lib/apt/apt-helper', ['cat-file', file], `reading ${file}`);
  const raw = await readFile(file);
  return raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
}

/**
 * The signed release file apt keeps beside one of its lists: for
 * `…_dists_bookworm_main_binary-amd64_Packages.lz4` that is `…_dists_bookworm_InRelease` (or
 * `…_Release` with `…_Release.gpg`). Undefined when there is none (not an apt list).
 */
export function releaseBeside(list: string): { inRelease: string } | { release: string; gpg: string } | undefined {
  const parts = list.split('_');
  for (let n = parts.length - 1; n > 0; n--) {
    const prefix = parts.slice(0, n).join('_');
    if (existsSync(`${prefix}_InRelease`)) return { inRelease: `${prefix}_InRelease` };
    if (existsSync(`${prefix}_Release`) && existsSync(`${prefix}_Release.gpg`))
      return { release: `${prefix}_Release`, gpg: `${prefix}_Release.gpg` };
  }
  return undefined;
}

/** The archive base URI apt fetched `file` from, when it is one of apt's lists. */
export async function aptRepoOf(file: string): Promise<string | undefined> {
  if (!existsSync('/usr/bin/apt-get')) return undefined;
  const abs = resolvePath(file);
  return (
    (await indexTargets().catch(() => [])).find((t) => resolvePath(t.file) === abs)?.repo?.replace(/\/+$/, '') ||
    undefined
  );
}

export async function readAptIndex(): Promise<AptIndex> {
  const targets = await indexTargets();
  const paragraphs: ControlParagraph[] = [];
  const repoOf = new Map<ControlParagraph, string>();
  const bytes: Buffer[] = [];
  const counts: number[] = [];
  for (const t of targets) {
    const b = await readIndexBytes(t.file);
    bytes.push(b);
    const ps = parseControlFile(b.toString('utf8'), t.file);
    counts.push(ps.length);
    for (const p of ps) {
      paragraphs.push(p);
      repoOf.set(p, t.repo);
    }
  }
  return { files: targets.map((t) => t.file), bytes, counts, paragraphs, repoOf };
}

/** apt's file name for a package: `name_version_arch.deb`, ':' in the version as `%3a`. */
export function debFileName(name: string, version: string, arch: string): string {
  return `${name}_${version.replace(/:/g, '%3a')}_${arch}.deb`;
}

/**
 * `apt-get download NAME:ARCH=VERSION...` into `dir`, skipping packages already there. Returns
 * the file path of each requested package, in input order.
 */
export async function aptDownload(
  pkgs: { name: string; version: string; arch: string }[],
  dir: string,
  progress: (line: string) => void = () => {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const have = new Set(await readdir(dir));
  const missing = pkgs.filter((p) => !have.has(debFileName(p.name, p.version, p.arch)));
  if (missing.length) {
    progress(
      `downloading ${missing.length} package(s) with apt-get into ${dir} (${pkgs.length - missing.length} cached)`,
    );
    const args = [
      'download',
      '-o',
      'APT::Sandbox::User=root',
      ...missing.map((p) => `${p.name}:${p.arch}=${p.version}`),
    ];
    const r = await run('apt-get', args, { cwd: dir });
    for (const l of r.stdout.toString('utf8').split('\n')) if (/^(Get|Err)/.test(l)) progress('  ' + l.trim());
    if (r.code !== 0)
      throw new LseError(
        'INTERNAL',
        `apt-get download failed (exit ${r.code}): ${r.stderr
          .trim()
          .split('\n')
          .filter((l) => !/^W:/.test(l))
          .slice(-3)
          .join(' / ')}`,
        { code: r.code },
      );
  } else progress(`all ${pkgs.length} package(s) already in ${dir}`);
  const after = new Set(await readdir(dir));
  return pkgs.map((p) => {
    const f = debFileName(p.name, p.version, p.arch);
    if (!after.has(f)) throw new LseError('INTERNAL', `apt-get download did not produce ${f} in ${dir}`, { file: f });
    return `${dir}/${f}`;
  });
}
