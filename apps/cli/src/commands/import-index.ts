/**
 * `lse import debian-index PACKAGES_FILE...`: every package of a Debian Packages index becomes a
 * signed, metadata-only fragment (core debian/index-catalog.ts `indexDescriptor`): relations and
 * control data from the index, blob = the .deb the index names by SHA256 and Size. Nothing is
 * downloaded now; the fetcher downloads a .deb the first time a synthesis uses it and the
 * verifier checks it against the signed digest (engine fetch-stage.ts, verify-stage.ts).
 *
 * Fast and idempotent: a descriptor is a pure function of its paragraph and the options, so ids
 * are computed first and grouped by their first two hex digits (256 groups, stable when a few
 * packages change); the store (or gateway) says which groups it stored completely before
 * (FragmentRepository.storedSets: one lookup per group, not one per package), and only the
 * others are signed and stored. Re-running on the same index stores nothing.
 */
import { performance } from 'node:perf_hooks';
import {
  LseError, fragmentId, fragmentSetDigest, indexDescriptor, parseControlFile, signDescriptor,
  type ControlParagraph, type Fragment, type FragmentDescriptor,
} from '@lse/core';
import { aptRepoOf, hostArch, readIndexText } from '@lse/adapter-deb';
import type { Ctx } from '../context';
import { readSecretKeyFile } from './fragment';

export interface IndexImportOpts {
  key: string;
  mirror?: string;
  arch?: string;
  /** commander's --no-merged-usr gives false. */
  mergedUsr?: boolean;
}

const DEFAULT_ARCHIVE = 'http://deb.debian.org/debian';
/** Progress line about every this many packages. */
const PROGRESS_EVERY = 5000;

interface Counts { packages: number; created: number; existing: number; skipped: number; rejected: number }

export async function importDebianIndex(ctx: Ctx, files: string[], o: IndexImportOpts): Promise<void> {
  if (!files.length) throw new LseError('USAGE', 'name at least one Packages file, e.g. lse import debian-index /var/lib/apt/lists/*_bookworm_main_binary-amd64_Packages* --key KEY');
  const key = await readSecretKeyFile(o.key);
  const archs = o.arch ? o.arch.split(',').map((a) => a.trim()).filter(Boolean) : [await hostArch().catch(() => 'amd64'), 'all'];
  const mirror = o.mirror?.replace(/\/+$/, '');
  if (mirror && !/^https?:\/\/[^/]+/.test(mirror)) throw new LseError('USAGE', `--mirror must be an http(s) URL of a Debian archive like ${DEFAULT_ARCHIVE}, got '${o.mirror}'`);
  const t0 = performance.now();
  const total: Counts = { packages: 0, created: 0, existing: 0, skipped: 0, rejected: 0 };
  const perFile: (Counts & { file: string; repo: string; seconds: number })[] = [];
  for (const file of files) {
    const t1 = performance.now();
    const repo = mirror ?? (await aptRepoOf(file)) ?? DEFAULT_ARCHIVE;
    const counts = await importOneIndex(ctx, file, repo, archs, key, o.mergedUsr !== false);
    const seconds = (performance.now() - t1) / 1000;
    perFile.push({ file, repo, seconds, ...counts });
    for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += counts[k];
    ctx.out.progress(`${file}: ${counts.packages} packages (${archs.join(', ')}) from ${repo}: ${counts.created} new, ${counts.existing} already stored, ${counts.skipped} skipped in ${seconds.toFixed(1)} s`);
  }
  const seconds = (performance.now() - t0) / 1000;
  if (total.rejected) {
    throw new LseError('FRAGMENT_INVALID', `${total.rejected} package(s) were refused by the gateway (see above); check that the key is trusted for their names (lse trust add KEY.pub --scope '*')`, { rejected: total.rejected });
  }
  ctx.out.result(
    `imported ${total.packages} packages: ${total.created} new, ${total.existing} already stored, ${total.skipped} skipped (${seconds.toFixed(1)} s)`,
    { ...total, seconds: Number(seconds.toFixed(3)), files: perFile },
  );
}

async function importOneIndex(ctx: Ctx, file: string, repo: string, archs: string[], key: Awaited<ReturnType<typeof readSecretKeyFile>>, mergedUsr: boolean): Promise<Counts> {
  const t = performance.now();
  const paragraphs = parseControlFile(await readIndexText(file), file);
  ctx.out.progress(`${file}: read ${paragraphs.length} paragraphs in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const seen = new Set<string>();
  const descriptors: FragmentDescriptor[] = [];
  const problems: string[] = [];
  let skipped = 0;
  const derive = { from: 'deb' as const, mergedUsr, epoch: ctx.config.epoch };
  for (const p of paragraphs) {
    if (!archs.includes(p['Architecture'] ?? '') && !archs.includes('any')) continue;
    const k = `${p['Package']}=${p['Version']}:${p['Architecture']}`;
    if (seen.has(k)) continue;
    seen.add(k);
    try {
      descriptors.push(indexDescriptor(p, { repo, derive }));
    } catch (e) {
      skipped++;
      if (problems.length < 5) problems.push(describeSkip(p, e));
    }
  }
  for (const line of problems) ctx.out.progress(`  skipped ${line}`);
  if (skipped > problems.length) ctx.out.progress(`  … and ${skipped - problems.length} more skipped`);
  if (!descriptors.length && !skipped) {
    throw new LseError('USAGE', `${file} has no package for ${archs.join(', ')}; is it a Packages index? (--arch chooses the architectures)`, { file });
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
  const stored = await storedSets(ctx, list.map((g) => fragmentSetDigest(g.ids)));
  const unstored = list.filter((_, i) => !stored[i]);
  const pending = unstored.reduce((n, g) => n + g.ids.length, 0);
  const counts: Counts = { packages: descriptors.length, created: 0, existing: descriptors.length - pending, skipped, rejected: 0 };
  if (!unstored.length) return counts;
  ctx.out.progress(`${file}: ${pending} of ${descriptors.length} packages (${unstored.length} of ${list.length} groups) to sign and store`);
  let done = 0;
  for (const g of unstored) {
    const r = await storeBatch(ctx, g.descriptors.map((d) => signDescriptor(d, key)));
    counts.created += r.created;
    counts.existing += r.existing;
    counts.rejected += r.rejected;
    done += g.ids.length;
    if (done === pending || Math.floor(done / PROGRESS_EVERY) !== Math.floor((done - g.ids.length) / PROGRESS_EVERY)) {
      ctx.out.progress(`  [${done}/${pending}] ${counts.created} new (${((performance.now() - t) / 1000).toFixed(1)} s)`);
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

async function storeBatch(ctx: Ctx, batch: Fragment[]): Promise<{ created: number; existing: number; rejected: number }> {
  if (!ctx.remote) return { ...(await ctx.ports.fragments.putMany(batch)), rejected: 0 };
  const r = await ctx.remote.request<{ created: number; existing: number; rejected: { name: string; version: string; code: string; message: string }[] }>('POST', '/v1/fragments/batch', { fragments: batch });
  for (const x of r.rejected.slice(0, 5)) ctx.out.progress(`  refused ${x.name} ${x.version}: ${x.code}: ${x.message}`);
  if (r.rejected.length > 5) ctx.out.progress(`  … and ${r.rejected.length - 5} more refused`);
  return { created: r.created, existing: r.existing, rejected: r.rejected.length };
}
