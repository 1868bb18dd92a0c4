/**
 * `lse import deb FILE.deb...` and `lse import apt PACKAGE...`: Debian binary packages become
 * signed fragments (see libs/core/src/debian and libs/engine/src/debian-import.ts).
 *
 * `import apt` resolves the closure of the requested packages with LSE's own resolver over the
 * host's apt lists (Depends and Pre-Depends, first satisfiable alternative, virtual packages,
 * newest version; Recommends are not followed, as with --no-install-recommends; Essential
 * packages are not added: Debian packages do not declare them, the base provides them). Then
 * `apt-get download` fetches the exact versions into a cache directory that survives runs, and
 * each is imported. A package already in the store with the same name, version, architecture and
 * .deb digest is not re-imported, so re-running is cheap.
 *
 * Debian's chain of trust is checked before anything is imported: each apt list must be listed by
 * SHA256 in the InRelease (or Release + Release.gpg) apt keeps beside it, signed by a key of the
 * Debian keyring (--keyring, LSE_DEBIAN_KEYRING), not expired and not older than the newest
 * imported for its suite; each downloaded .deb must have the SHA256 and size its paragraph names.
 * The fragments carry the proof (`source.debian`, as `import debian-index` does) and the store
 * keeps the InRelease and Packages blobs. `--allow-unsigned` skips this and marks the fragments.
 * With `--server` the gateway does these checks with its keyring and release log: the releases
 * and lists are uploaded and registered there (debian-remote.ts) before the fragments are sent.
 */
import { join } from 'node:path';
import {
  DebianIndexCatalog,
  LseError,
  debianMetaOf,
  packagesPathIn,
  paragraphSpans,
  parseRelation,
  releaseSuiteKey,
  resolve as resolveClosure,
  sha256Digest,
  type ControlParagraph,
  type DebianProof,
  type DebianUnsigned,
  type Fragment,
  type Requirement,
  type SecretKey,
} from '@lse/core';
import {
  aptDownload,
  ensureAptLists,
  hostArch,
  readAptIndex,
  readDebFile,
  readDebianKeyring,
  releaseBeside,
  unverifiedRelease,
  type AptIndex,
} from '@lse/adapter-deb';
import { buildFragment, debianPackInput, packFragment } from '@lse/engine';
import type { Ctx } from '../context';
import { readSecretKeyFile } from './fragment';
import { checkReleases, readReleaseFile, type CheckedRelease } from './import-index';
import { registerReleasesOnGateway, type PackagesFile } from './debian-remote';

export interface DebImportOpts {
  key: string;
  /** commander's --no-merged-usr gives mergedUsr false. */
  mergedUsr?: boolean;
}

export interface AptImportOpts extends DebImportOpts {
  cache?: string;
  /** OpenPGP keyring the apt lists' InRelease files must be signed with (default: config.debianKeyring). */
  keyring?: string;
  /** Import from apt lists without checking their signature; the fragments are marked unsigned. */
  allowUnsigned?: boolean;
  /** Accept a release older than the newest imported for its suite. */
  allowOlder?: boolean;
}

/** The chain of one apt list: its checked release, where the release lists it, its blob. */
interface ListChain {
  release: CheckedRelease;
  path: string;
  digest: string;
  bytes: Buffer;
}

/**
 * Checks Debian's chain for every apt list (before anything is stored) and returns the proof of
 * each paragraph, by paragraph, with the blobs to store.
 */
async function aptChain(
  ctx: Ctx,
  index: AptIndex,
  o: AptImportOpts,
): Promise<{ proofOf: Map<ControlParagraph, DebianProof | DebianUnsigned>; lists: ListChain[] }> {
  const proofOf = new Map<ControlParagraph, DebianProof | DebianUnsigned>();
  if (o.allowUnsigned) {
    for (const p of index.paragraphs) proofOf.set(p, { unsigned: true });
    return { proofOf, lists: [] };
  }
  if (ctx.remote && o.keyring)
    throw new LseError(
      'USAGE',
      'with --server the gateway checks Debian signatures with its own keyring (LSE_DEBIAN_KEYRING where it runs); --keyring applies to embedded imports only',
    );
  // Through a gateway the releases are read here only to name the proofs; the gateway checks
  // them (registerOnGateway) before any fragment is sent.
  const keyring = ctx.remote ? undefined : await readDebianKeyring(o.keyring ?? ctx.config.debianKeyring);
  const releases = new Map<string, CheckedRelease>();
  const lists: ListChain[] = [];
  let first = 0;
  for (const [i, file] of index.files.entries()) {
    const beside = releaseBeside(file);
    if (!beside) {
      throw new LseError(
        'DEBIAN_UNSIGNED',
        `apt list ${file} has no InRelease (or Release and Release.gpg) beside it, so nothing vouches for it; run apt-get update, or pass --allow-unsigned to import unverified packages, marked so`,
        { file },
      );
    }
    const releaseFile = 'inRelease' in beside ? beside.inRelease : beside.release;
    let release = releases.get(releaseFile);
    if (!release) {
      release = ctx.remote
        ? await unverifiedReleaseFile(releaseFile)
        : (await checkReleases(ctx, [releaseFile], keyring!, Boolean(o.allowOlder)))[0]!;
      releases.set(releaseFile, release);
    }
    const bytes = index.bytes[i]!;
    const digest = sha256Digest(bytes);
    const path = packagesPathIn(release.release, digest.slice(7), bytes.length, file);
    const spans = paragraphSpans(bytes);
    const count = index.counts[i]!;
    if (spans.length !== count)
      throw new LseError(
        'DEBIAN_INDEX_MISMATCH',
        `apt list ${file}: ${count} paragraphs parsed but ${spans.length} blank-line separated spans; is it a Packages file?`,
        { file },
      );
    for (let k = 0; k < count; k++) {
      proofOf.set(index.paragraphs[first + k]!, {
        inRelease: release.digest,
        ...(release.detachedDigest ? { releaseGpg: release.detachedDigest } : {}),
        packages: digest,
        path,
        paragraph: spans[k]!,
        suite: release.suite,
        date: release.release.date,
      });
    }
    first += count;
    lists.push({ release, path, digest, bytes });
  }
  return { proofOf, lists };
}

/** A release beside an apt list, read without checking its signature (the gateway checks it). */
async function unverifiedReleaseFile(file: string): Promise<CheckedRelease> {
  const read = await readReleaseFile(file);
  const release = await unverifiedRelease(read.bytes, file, Boolean(read.detached));
  return { ...read, release, signedBy: [], suite: releaseSuiteKey(release) };
}

/**
 * Uploads the proof blobs of the apt lists and registers their releases on the gateway, which
 * checks them with its keyring and release log; the proofs named locally must be the ones the
 * gateway answers.
 */
async function registerOnGateway(ctx: Ctx, lists: ListChain[], allowOlder: boolean): Promise<void> {
  const groups = new Map<CheckedRelease, PackagesFile[]>();
  for (const l of lists)
    groups.set(l.release, [
      ...(groups.get(l.release) ?? []),
      { file: `${l.path} of ${l.release.suite}`, bytes: l.bytes, digest: l.digest },
    ]);
  const proofs = await registerReleasesOnGateway(
    ctx,
    [...groups].map(([release, packages]) => ({ release, packages })),
    allowOlder,
  );
  for (const l of lists) {
    const p = proofs.get(l.digest);
    if (!p || p.path !== l.path || p.suite !== l.release.suite || p.date !== l.release.release.date)
      throw new LseError(
        'DEBIAN_INDEX_MISMATCH',
        `the gateway registered ${l.path} of ${l.release.suite} as ${p ? `${p.path} of ${p.suite} dated ${p.date}` : 'nothing'}, not as read here; run apt-get update and import again`,
        { path: l.path },
      );
  }
}

/** Imports one read .deb; returns the fragment and whether it was new. */
async function importOne(
  ctx: Ctx,
  file: string,
  key: SecretKey,
  mergedUsr: boolean,
  from?: { paragraph: ControlParagraph; proof: DebianProof | DebianUnsigned },
): Promise<{ fragment: Fragment; created: boolean }> {
  const deb = await readDebFile(file);
  if (
    from &&
    !('unsigned' in from.proof) &&
    ((from.paragraph['SHA256'] ?? '').toLowerCase() !== deb.sha256 || Number(from.paragraph['Size']) !== deb.size)
  ) {
    throw new LseError(
      'DEBIAN_INDEX_MISMATCH',
      `${file} (sha256 ${deb.sha256.slice(0, 12)}…, ${deb.size} bytes) is not the .deb the signed index names for ${from.paragraph['Package']} ${from.paragraph['Version']} (sha256 ${(from.paragraph['SHA256'] ?? '?').slice(0, 12)}…); delete it from the cache and import again`,
      { file },
    );
  }
  const input = debianPackInput(deb, {
    key,
    epoch: ctx.config.epoch,
    mergedUsr,
    file,
    sha256: deb.sha256,
    size: deb.size,
    ...(from ? { debian: from.proof } : {}),
  });
  if (!from && !ctx.remote) {
    // the same .deb imported before (perhaps by import apt, with Debian's proof): that fragment
    const had = (await ctx.ports.fragments.byName(input.name)).find(
      (g) =>
        g.descriptor.version === input.version &&
        g.descriptor.source['type'] === 'deb' &&
        g.descriptor.source['sha256'] === deb.sha256 &&
        g.descriptor.attributes.arch === input.attributes?.arch &&
        (debianMetaOf(g.descriptor)?.mergedUsr !== undefined) === mergedUsr,
    );
    if (had) return { fragment: had, created: false };
  }
  if (ctx.remote) {
    // also kept in the local store, which `base build` reads the blobs from
    const built = buildFragment(input);
    await ctx.ports.origin.put(built.fragment.descriptor.blob.digest, built.blob, built.blob.length);
    await ctx.ports.fragments.put(built.fragment);
    const r = await ctx.remote.request<{ created: boolean }>('POST', '/v1/fragments', {
      fragment: built.fragment,
      blob: built.blob.toString('base64'),
    });
    return { fragment: built.fragment, created: r.created };
  }
  return packFragment(ctx.ports, input);
}

function describe(f: Fragment, created: boolean): string {
  const d = f.descriptor;
  const m = debianMetaOf(d);
  const missing = m?.notReproduced.length ? `, ${m.notReproduced.length} script effect(s) not reproduced` : '';
  return `${created ? 'imported' : 'already in the store:'} ${d.name} ${d.version} ${d.attributes.arch ?? ''}: ${d.files.length} entries, ${d.blob.size} bytes${missing}`;
}

function result(ctx: Ctx, rows: { fragment: Fragment; created: boolean }[]): void {
  ctx.out.result(
    rows.map((r) => `${r.fragment.descriptor.name}\t${r.fragment.descriptor.version}\t${r.fragment.id}`).join('\n'),
    rows.map((r) => ({
      id: r.fragment.id,
      name: r.fragment.descriptor.name,
      version: r.fragment.descriptor.version,
      arch: r.fragment.descriptor.attributes.arch,
      created: r.created,
    })),
  );
}

export async function importDeb(ctx: Ctx, files: string[], o: DebImportOpts): Promise<void> {
  const key = await readSecretKeyFile(o.key);
  const rows: { fragment: Fragment; created: boolean }[] = [];
  for (const [i, file] of files.entries()) {
    const r = await importOne(ctx, file, key, o.mergedUsr !== false);
    ctx.out.progress(`[${i + 1}/${files.length}] ${describe(r.fragment, r.created)}`);
    rows.push(r);
  }
  result(ctx, rows);
}

/** The closest name by edit distance (at most 2), for "did you mean". */
function nearest(name: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    if (Math.abs(n.length - name.length) >= bestD) continue;
    let prev = Array.from({ length: n.length + 1 }, (_, j) => j);
    for (let i = 1; i <= name.length; i++) {
      const cur = [i];
      for (let j = 1; j <= n.length; j++)
        cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (name[i - 1] === n[j - 1] ? 0 : 1));
      prev = cur;
    }
    if (prev[n.length]! < bestD) [best, bestD] = [n, prev[n.length]!];
  }
  return best;
}

/** `NAME` or `NAME=VERSION` (apt's syntax) → a requirement. */
function requirementOf(spec: string): Requirement {
  const eq = spec.indexOf('=');
  const name = eq >= 0 ? spec.slice(0, eq) : spec;
  parseRelation(name); // validates the name
  return eq >= 0 ? { name, version: `= ${spec.slice(eq + 1)}` } : { name };
}

/** The stored fragment made from the same .deb with the same merged-/usr choice, if any. */
async function existing(ctx: Ctx, d: Fragment['descriptor'], mergedUsr: boolean): Promise<Fragment | undefined> {
  if (ctx.remote) return undefined; // always (idempotently) re-imported: the local copy is needed for base build
  const sha = (d.metadata['debian'] as { control: Record<string, string> }).control['SHA256'];
  return (await ctx.ports.fragments.byName(d.name)).find((g) => {
    const meta = debianMetaOf(g.descriptor);
    return (
      g.descriptor.version === d.version &&
      g.descriptor.source['type'] === 'deb' &&
      meta !== undefined &&
      (sha === undefined || g.descriptor.source['sha256'] === sha) &&
      (meta.mergedUsr !== undefined) === mergedUsr &&
      g.descriptor.attributes.arch === d.attributes.arch
    );
  });
}

/**
 * Resolves, downloads and imports the closure of `packages`; returns the fragments in install
 * order. Shared by `import apt` and `base build`.
 */
export async function importAptClosure(
  ctx: Ctx,
  packages: string[],
  o: AptImportOpts,
  extraNames: (c: DebianIndexCatalog) => string[] = () => [],
): Promise<{ fragment: Fragment; created: boolean }[]> {
  const key = await readSecretKeyFile(o.key);
  const mergedUsr = o.mergedUsr !== false;
  if (await ensureAptLists((l) => ctx.out.progress(l))) ctx.out.progress('apt-get update done');
  const t0 = Date.now();
  const arch = await hostArch();
  const index = await readAptIndex();
  const catalog = new DebianIndexCatalog(index.paragraphs, [arch, 'all']);
  const names = [...new Set([...packages, ...extraNames(catalog)])];
  for (const n of names) {
    const name = requirementOf(n).name;
    if (!catalog.has(name)) {
      const near = nearest(name, catalog.packageNames());
      throw new LseError(
        'UNSATISFIABLE',
        `no package '${name}' in the apt lists (${index.files.length} list(s) for ${arch})${near ? `; did you mean '${near}'?` : '; run apt-get update if it is new'}`,
        { package: name },
      );
    }
  }
  ctx.out.progress(
    `read ${index.paragraphs.length} package entries from ${index.files.length} apt list(s) in ${Date.now() - t0} ms`,
  );
  const chain = await aptChain(ctx, index, o);
  const t1 = Date.now();
  const { fragments: closure } = resolveClosure({
    requirements: names.map(requirementOf),
    platform: { os: 'linux', arch },
    catalog,
    rootLabel: 'the requested packages',
  });
  ctx.out.progress(`resolved ${names.length} package(s) to a closure of ${closure.length} in ${Date.now() - t1} ms`);

  const cacheDir = o.cache ?? join(ctx.store.root, 'apt-cache');
  const have = await Promise.all(closure.map((f) => existing(ctx, f.descriptor, mergedUsr)));
  const missing = closure.filter((_, i) => !have[i]);
  const pkgs = missing.map((f) => ({
    name: f.descriptor.name,
    version: f.descriptor.version,
    arch: f.descriptor.attributes.arch ?? arch,
  }));
  const files = pkgs.length ? await aptDownload(pkgs, cacheDir, (l) => ctx.out.progress(l)) : [];
  const fileOf = new Map(missing.map((f, i) => [f, files[i]!]));
  if (missing.length && ctx.remote) await registerOnGateway(ctx, chain.lists, Boolean(o.allowOlder));
  if (missing.length) {
    // the proof's blobs before the fragments that name them
    for (const l of chain.lists) {
      await ctx.ports.origin.put(l.release.digest, l.release.bytes, l.release.bytes.length);
      if (l.release.detached && l.release.detachedDigest)
        await ctx.ports.origin.put(l.release.detachedDigest, l.release.detached, l.release.detached.length);
      await ctx.ports.origin.put(l.digest, l.bytes, l.bytes.length);
    }
  }

  const out: { fragment: Fragment; created: boolean }[] = [];
  for (const [i, f] of closure.entries()) {
    const d = f.descriptor;
    const had = have[i];
    if (had) {
      ctx.out.progress(`[${i + 1}/${closure.length}] already in the store: ${d.name} ${d.version}`);
      out.push({ fragment: had, created: false });
      continue;
    }
    const paragraph = catalog.paragraphOf(f)!;
    const r = await importOne(ctx, fileOf.get(f)!, key, mergedUsr, { paragraph, proof: chain.proofOf.get(paragraph)! });
    ctx.out.progress(`[${i + 1}/${closure.length}] ${describe(r.fragment, r.created)}`);
    out.push(r);
  }
  for (const r of new Set(chain.lists.map((l) => l.release)))
    await ctx.store.debianReleases.record({ suite: r.suite, date: r.release.date, inRelease: r.digest });
  return out;
}

export async function importApt(ctx: Ctx, packages: string[], o: AptImportOpts): Promise<void> {
  if (!packages.length) throw new LseError('USAGE', 'name at least one package: lse import apt curl --key KEY');
  result(ctx, await importAptClosure(ctx, packages, o));
}
