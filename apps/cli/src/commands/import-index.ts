/**
 * `lse import debian-index PACKAGES_FILE...`: every package of a Debian Packages index becomes a
 * signed, metadata-only fragment (core debian/index-catalog.ts `indexDescriptor`): relations and
 * control data from the index, blob = the .deb the index names by SHA256 and Size. Nothing is
 * downloaded now; the fetcher downloads a .deb the first time a synthesis uses it and the
 * verifier checks it against the signed digest (engine fetch-stage.ts, verify-stage.ts).
 *
 * Debian's chain of trust is checked first and kept as proof (core debian/release.ts): each
 * Packages file must be listed by SHA256 in an InRelease given with --release whose signature
 * verifies against the Debian keyring (--keyring, LSE_DEBIAN_KEYRING), that has not expired
 * (Valid-Until) and is not older than the newest release already imported for its suite. Only
 * when every file passes is anything stored: the InRelease and the Packages file as blobs, then
 * the fragments, each naming both by digest and its paragraph by offset and length
 * (`source.debian`). The importer's key then signs only the derivation (core
 * `signDerivation`: the name and `metadata.derive`); every verifier accepts such a fragment only
 * with Debian's chain checked. `--allow-unsigned` imports an index without that proof, marked
 * `source.debian.unsigned`, and signs the whole descriptor. With `--server` the gateway checks
 * instead (its keyring, its release log): the blobs are uploaded and the release registered there
 * first (debian-remote.ts).
 *
 * Fast and idempotent: a descriptor is a pure function of its paragraph and the options, so ids
 * are computed first and grouped by their first two hex digits (256 groups, stable when a few
 * packages change); the store (or gateway) says which groups it stored completely before
 * (FragmentRepository.storedSets: one lookup per group, not one per package), and only the
 * others are signed and stored. Re-running on the same index stores nothing.
 */
import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  LseError,
  checkReleaseFresh,
  fragmentId,
  fragmentSetDigest,
  indexDescriptor,
  packagesPathIn,
  paragraphAt,
  paragraphSpans,
  parseControlFile,
  releaseSuiteKey,
  sha256Digest,
  debianProofOf,
  signDerivation,
  signDescriptor,
  type ControlParagraph,
  type DebianProof,
  type DebianUnsigned,
  type Fragment,
  type FragmentDescriptor,
} from '@lse/core';
import {
  aptRepoOf,
  hostArch,
  readDebianKeyring,
  readIndexBytes,
  unverifiedRelease,
  verifyInRelease,
  type DebianKeyring,
  type SignedRelease,
} from '@lse/adapter-deb';
import type { Ctx } from '../context';
import { readSecretKeyFile } from './fragment';
import { registerReleasesOnGateway, type FileProof, type PackagesFile, type ReleaseFile } from './debian-remote';

export interface IndexImportOpts {
  key: string;
  mirror?: string;
  arch?: string;
  /** commander's --no-merged-usr gives false. */
  mergedUsr?: boolean;
  /** InRelease files (or Release files with Release.gpg beside them) the indexes are listed in. */
  release?: string[];
  /** OpenPGP keyring to check them against (default: config.debianKeyring). */
  keyring?: string;
  /** Import without a signed release; the fragments are marked unsigned. */
  allowUnsigned?: boolean;
  /** Accept a release older than the newest imported for its suite. */
  allowOlder?: boolean;
}

/** A release given with --release, its signature checked. */
export interface CheckedRelease extends SignedRelease {
  file: string;
  bytes: Buffer;
  digest: string;
  /** Release.gpg, when `bytes` is a plain Release file signed detached. */
  detached?: Buffer;
  detachedDigest?: string;
  suite: string;
}

/** A Packages file ready to import: its bytes and, when signed, its proof (all but the paragraph). */
interface CheckedIndex {
  file: string;
  bytes: Buffer;
  digest: string;
  signed?: {
    proof: FileProof;
    /** The release checked here (embedded imports), whose blobs are stored with the index. */
    release?: CheckedRelease;
  };
}

const DEFAULT_ARCHIVE = 'http://deb.debian.org/debian';
/** Progress line about every this many packages. */
const PROGRESS_EVERY = 5000;

interface Counts {
  packages: number;
  created: number;
  existing: number;
  skipped: number;
  rejected: number;
}

export async function importDebianIndex(ctx: Ctx, files: string[], o: IndexImportOpts): Promise<void> {
  if (!files.length)
    throw new LseError(
      'USAGE',
      'name at least one Packages file, e.g. lse import debian-index /var/lib/apt/lists/*_bookworm_main_binary-amd64_Packages* --key KEY',
    );
  const key = await readSecretKeyFile(o.key);
  const archs = o.arch
    ? o.arch
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean)
    : [await hostArch().catch(() => 'amd64'), 'all'];
  const mirror = o.mirror?.replace(/\/+$/, '');
  if (mirror && !/^https?:\/\/[^/]+/.test(mirror))
    throw new LseError(
      'USAGE',
      `--mirror must be an http(s) URL of a Debian archive like ${DEFAULT_ARCHIVE}, got '${o.mirror}'`,
    );
  if (o.allowUnsigned && o.release?.length)
    throw new LseError('USAGE', 'give either --release INRELEASE (verified) or --allow-unsigned, not both');
  if (!o.allowUnsigned && !o.release?.length) {
    throw new LseError(
      'DEBIAN_UNSIGNED',
      `refusing to import ${files.join(', ')} without Debian's signature: give the InRelease the index is listed in (--release /var/lib/apt/lists/…_dists_SUITE_InRelease), or --allow-unsigned to import unverified metadata, marked so`,
      { files },
    );
  }
  if (ctx.remote && o.release?.length && o.keyring) {
    throw new LseError(
      'USAGE',
      'with --server the gateway checks Debian signatures with its own keyring (LSE_DEBIAN_KEYRING where it runs); --keyring applies to embedded imports only',
    );
  }
  // Every check before anything is stored: a refused release or index leaves the store as it was.
  // Through a gateway, the gateway checks (remoteIndexes); fragments are sent only once it has.
  const releases =
    o.release?.length && !ctx.remote
      ? await checkReleases(
          ctx,
          o.release,
          await readDebianKeyring(o.keyring ?? ctx.config.debianKeyring),
          Boolean(o.allowOlder),
        )
      : [];
  const indexes: CheckedIndex[] = [];
  if (ctx.remote && o.release?.length)
    indexes.push(...(await remoteIndexes(ctx, files, o.release, Boolean(o.allowOlder))));
  else for (const file of files) indexes.push(await checkIndex(file, releases));
  const t0 = performance.now();
  const total: Counts = { packages: 0, created: 0, existing: 0, skipped: 0, rejected: 0 };
  const perFile: (Counts & { file: string; repo: string; seconds: number })[] = [];
  for (const index of indexes) {
    const file = index.file;
    const t1 = performance.now();
    const repo = mirror ?? (await aptRepoOf(file)) ?? DEFAULT_ARCHIVE;
    if (index.signed?.release) {
      // the proof's blobs before the fragments that name them
      const r = index.signed.release;
      await ctx.ports.origin.put(r.digest, r.bytes, r.bytes.length);
      if (r.detached && r.detachedDigest) await ctx.ports.origin.put(r.detachedDigest, r.detached, r.detached.length);
      await ctx.ports.origin.put(index.digest, index.bytes, index.bytes.length);
    }
    const counts = await importOneIndex(ctx, index, repo, archs, key, o.mergedUsr !== false);
    const seconds = (performance.now() - t1) / 1000;
    perFile.push({ file, repo, seconds, ...counts });
    for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += counts[k];
    ctx.out.progress(
      `${file}: ${counts.packages} packages (${archs.join(', ')}) from ${repo}: ${counts.created} new, ${counts.existing} already stored, ${counts.skipped} skipped in ${seconds.toFixed(1)} s`,
    );
  }
  for (const r of releases)
    await ctx.store.debianReleases.record({ suite: r.suite, date: r.release.date, inRelease: r.digest });
  const seconds = (performance.now() - t0) / 1000;
  if (total.rejected) {
    throw new LseError(
      'FRAGMENT_INVALID',
      `${total.rejected} package(s) were refused by the gateway (see above); check that the key is trusted for their names (lse trust add KEY.pub --scope '*')`,
      { rejected: total.rejected },
    );
  }
  ctx.out.result(
    `imported ${total.packages} packages: ${total.created} new, ${total.existing} already stored, ${total.skipped} skipped (${seconds.toFixed(1)} s)`,
    { ...total, seconds: Number(seconds.toFixed(3)), files: perFile },
  );
}

/**
 * Reads and checks the releases given with --release: signature by a key of the keyring, not
 * expired, not older than the newest imported for the suite (unless allowOlder).
 */
export async function checkReleases(
  ctx: Ctx,
  files: string[],
  keyring: DebianKeyring,
  allowOlder: boolean,
): Promise<CheckedRelease[]> {
  const out: CheckedRelease[] = [];
  for (const file of files) {
    const read = await readReleaseFile(file);
    const { bytes, detached } = read;
    const signed = await verifyInRelease(bytes, keyring, file, detached);
    const suite = releaseSuiteKey(signed.release);
    const newest = await ctx.store.debianReleases.newest(suite);
    checkReleaseFresh(
      signed.release,
      { now: new Date(), ...(newest ? { newest: newest.date } : {}), allowOlder },
      file,
    );
    out.push({ ...signed, ...read, suite });
    ctx.out.progress(`${file}: ${suite} dated ${signed.release.date}, signed by ${signed.signedBy.join(', ')}`);
  }
  return out;
}

async function checkIndex(file: string, releases: CheckedRelease[]): Promise<CheckedIndex> {
  const bytes = await readIndexBytes(file);
  const digest = sha256Digest(bytes);
  if (!releases.length) return { file, bytes, digest };
  let firstError: unknown;
  for (const release of releases) {
    try {
      const path = packagesPathIn(release.release, digest.slice(7), bytes.length, file);
      const proof: FileProof = {
        inRelease: release.digest,
        ...(release.detachedDigest ? { releaseGpg: release.detachedDigest } : {}),
        packages: digest,
        path,
        suite: release.suite,
        date: release.release.date,
      };
      return { file, bytes, digest, signed: { proof, release } };
    } catch (e) {
      firstError ??= e;
    }
  }
  throw firstError;
}

/** Reads a release file and the Release.gpg beside a plain Release (not checked here). */
export async function readReleaseFile(file: string): Promise<ReleaseFile> {
  const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new LseError(
      'USAGE',
      `cannot read the release file ${file} (${e.code ?? e.message}); give the InRelease apt fetched (/var/lib/apt/lists/…_InRelease)`,
      { file },
    );
  });
  const detached =
    !bytes.subarray(0, 40).toString('latin1').startsWith('-----BEGIN PGP SIGNED') && existsSync(`${file}.gpg`)
      ? await readFile(`${file}.gpg`)
      : undefined;
  return {
    file,
    bytes,
    digest: sha256Digest(bytes),
    ...(detached ? { detached, detachedDigest: sha256Digest(detached) } : {}),
  };
}

/**
 * Through a gateway: each Packages file goes with the release that lists it (read here without
 * checking the signature, only to pair them; a file no release lists goes with the first, for the
 * gateway to refuse), the gateway checks and registers them, and its answer is the proof.
 */
async function remoteIndexes(
  ctx: Ctx,
  files: string[],
  releaseFiles: string[],
  allowOlder: boolean,
): Promise<CheckedIndex[]> {
  const releases = await Promise.all(releaseFiles.map(readReleaseFile));
  const fields = await Promise.all(
    releases.map((r) => unverifiedRelease(r.bytes, r.file, Boolean(r.detached)).catch(() => undefined)),
  );
  const indexes: PackagesFile[] = [];
  for (const file of files) {
    const bytes = await readIndexBytes(file);
    indexes.push({ file, bytes, digest: sha256Digest(bytes) });
  }
  const groups = releases.map((release) => ({ release, packages: [] as PackagesFile[] }));
  for (const p of indexes) {
    const i = fields.findIndex((f) =>
      [...(f?.sha256.values() ?? [])].some((e) => e.sha256 === p.digest.slice(7) && e.size === p.bytes.length),
    );
    groups[Math.max(0, i)]!.packages.push(p);
  }
  const proofs = await registerReleasesOnGateway(ctx, groups, allowOlder);
  return indexes.map((p) => {
    const proof = proofs.get(p.digest);
    if (!proof)
      throw new LseError('INTERNAL', `the gateway registered no proof for ${p.file}; is it a current gateway?`, {
        file: p.file,
      });
    return { ...p, signed: { proof } };
  });
}

async function importOneIndex(
  ctx: Ctx,
  index: CheckedIndex,
  repo: string,
  archs: string[],
  key: Awaited<ReturnType<typeof readSecretKeyFile>>,
  mergedUsr: boolean,
): Promise<Counts> {
  const t = performance.now();
  const file = index.file;
  const signed = index.signed;
  const spans = signed ? paragraphSpans(index.bytes) : undefined;
  const paragraphs = spans
    ? spans.map((s) => paragraphAt(index.bytes, s, file))
    : parseControlFile(index.bytes.toString('utf8'), file);
  ctx.out.progress(
    `${file}: read ${paragraphs.length} paragraphs in ${((performance.now() - t) / 1000).toFixed(1)} s${signed ? ` (${signed.proof.path} of ${signed.proof.suite}, verified${ctx.remote ? ' by the gateway' : ''})` : ' (unsigned)'}`,
  );
  const unsigned: DebianUnsigned = { unsigned: true };
  const proofOf = (i: number): DebianProof | DebianUnsigned =>
    signed ? { ...signed.proof, paragraph: spans![i]! } : unsigned;
  const seen = new Set<string>();
  const descriptors: FragmentDescriptor[] = [];
  const problems: string[] = [];
  let skipped = 0;
  const derive = { from: 'deb' as const, mergedUsr, epoch: ctx.config.epoch };
  for (const [i, p] of paragraphs.entries()) {
    if (!archs.includes(p['Architecture'] ?? '') && !archs.includes('any')) continue;
    const k = `${p['Package']}=${p['Version']}:${p['Architecture']}`;
    if (seen.has(k)) continue;
    seen.add(k);
    try {
      descriptors.push(indexDescriptor(p, { repo, derive, proof: proofOf(i) }));
    } catch (e) {
      skipped++;
      if (problems.length < 5) problems.push(describeSkip(p, e));
    }
  }
  for (const line of problems) ctx.out.progress(`  skipped ${line}`);
  if (skipped > problems.length) ctx.out.progress(`  … and ${skipped - problems.length} more skipped`);
  if (!descriptors.length && !skipped) {
    throw new LseError(
      'USAGE',
      `${file} has no package for ${archs.join(', ')}; is it a Packages index? (--arch chooses the architectures)`,
      { file },
    );
  }

  const groups = new Map<string, { ids: string[]; descriptors: FragmentDescriptor[] }>();
  for (const d of descriptors) {
    const id = fragmentId(d);
    const g = groups.get(id.slice(7, 9)) ?? { ids: [], descriptors: [] };
    g.ids.push(id);
    g.descriptors.push(d);
    groups.set(id.slice(7, 9), g);
  }
  const list = [...groups.values()];
  const stored = await storedSets(
    ctx,
    list.map((g) => fragmentSetDigest(g.ids)),
  );
  const unstored = list.filter((_, i) => !stored[i]);
  const pending = unstored.reduce((n, g) => n + g.ids.length, 0);
  const counts: Counts = {
    packages: descriptors.length,
    created: 0,
    existing: descriptors.length - pending,
    skipped,
    rejected: 0,
  };
  if (!unstored.length) return counts;
  ctx.out.progress(
    `${file}: ${pending} of ${descriptors.length} packages (${unstored.length} of ${list.length} groups) to sign and store`,
  );
  let done = 0;
  for (const g of unstored) {
    const r = await storeBatch(
      ctx,
      // with Debian's proof the key signs only the derivation (Debian's chain vouches for the rest)
      g.descriptors.map((d) => (debianProofOf(d.source) ? signDerivation(d, key) : signDescriptor(d, key))),
    );
    counts.created += r.created;
    counts.existing += r.existing;
    counts.rejected += r.rejected;
    done += g.ids.length;
    if (done === pending || Math.floor(done / PROGRESS_EVERY) !== Math.floor((done - g.ids.length) / PROGRESS_EVERY)) {
      ctx.out.progress(
        `  [${done}/${pending}] ${counts.created} new (${((performance.now() - t) / 1000).toFixed(1)} s)`,
      );
    }
  }
  return counts;
}

function describeSkip(p: ControlParagraph, e: unknown): string {
  return `${p['Package'] ?? '?'} ${p['Version'] ?? ''}: ${(e as Error).message}`;
}

async function storedSets(ctx: Ctx, digests: string[]): Promise<boolean[]> {
  if (!ctx.remote) return ctx.ports.fragments.storedSets(digests);
  return (await ctx.remote.request<{ stored: boolean[] }>('POST', '/v1/fragments/sets', { sets: digests })).stored;
}

async function storeBatch(
  ctx: Ctx,
  batch: Fragment[],
): Promise<{ created: number; existing: number; rejected: number }> {
  if (!ctx.remote) return { ...(await ctx.ports.fragments.putMany(batch)), rejected: 0 };
  const r = await ctx.remote.request<{
    created: number;
    existing: number;
    rejected: { name: string; version: string; code: string; message: string }[];
  }>('POST', '/v1/fragments/batch', { fragments: batch });
  for (const x of r.rejected.slice(0, 5)) ctx.out.progress(`  refused ${x.name} ${x.version}: ${x.code}: ${x.message}`);
  if (r.rejected.length > 5) ctx.out.progress(`  … and ${r.rejected.length - 5} more refused`);
  return { created: r.created, existing: r.existing, rejected: r.rejected.length };
}
