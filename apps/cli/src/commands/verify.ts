import {
  DEB_MEDIA_TYPE,
  LseError,
  type ErrorCode,
  debianProofOf,
  fragmentLabel,
  gunzip,
  isGzip,
  isLseError,
  sha256Digest,
  acceptFragment,
  type TrustedKey,
} from '@lse/core';
import { DebianChainVerifier, type ChainLink } from '@lse/adapter-deb';
import { readVerifiedEntries } from '@lse/engine';
import type { Ctx } from '../context';

interface Problem {
  what: string;
  code: ErrorCode;
  message: string;
}

interface Chain {
  fragment: string;
  name: string;
  version: string;
  links: ChainLink[];
  /** What the LSE signature says: not needed for `lse verify` of a fragment Debian's chain vouches for. */
  lseSignature: string;
  /** Which signature kind a synthesis accepts it by (`descriptor`, `derivation`), or `none`. */
  accepted: 'descriptor' | 'derivation' | 'none';
}

export interface VerifyOpts {
  /** Print the chain of trust of every fragment imported from a signed Debian index. */
  chain?: boolean;
  /** OpenPGP keyring for Debian releases (default: config.debianKeyring). */
  keyring?: string;
}

/**
 * `lse verify`: every fragment (id, signature, trust, blob digest and size, tar policy, file
 * index) and every base layer (digest, diff id) in the store. Exit 4 when anything fails.
 * Packages imported from a Debian index whose .deb has not been fetched yet are checked as far as
 * they exist (id, signature, trust): verifying them would mean downloading the whole archive.
 *
 * A fragment imported from a signed Debian index (`source.debian`) is checked along Debian's
 * chain instead of by the importer's key: archive keyring → InRelease signature → Packages
 * SHA256 → its paragraph → the descriptor recomputed from it (DebianChainVerifier), offline,
 * with only the Debian keyring trusted; the LSE signature is reported, not required. Its .deb
 * and the derivation are checked as for any indexed package once the .deb is in the cache.
 * For every fragment the report says which signature kind a synthesis accepts it by
 * (core acceptFragment): a whole-descriptor signature, or a derivation signature with Debian's
 * chain; a Debian fragment whose derivation no trusted key signed verifies here (Debian vouches
 * for it) but is counted as accepted by no signature, since a synthesis refuses it.
 */
export async function verifyStore(ctx: Ctx, o: VerifyOpts = {}): Promise<void> {
  if (ctx.remote) {
    throw new LseError(
      'USAGE',
      "'lse verify' checks the embedded store; a gateway verifies every fragment when it is published and again at every synthesis. Drop --server / LSE_SERVER.",
    );
  }
  const keys = new Map<string, TrustedKey>((await ctx.ports.trust.list()).map((k) => [k.name, k]));
  const problems: Problem[] = [];
  const fragments = await ctx.ports.fragments.list();
  let n = 0;
  let unfetched = 0;
  let chained = 0;
  let unsigned = 0;
  const chains: Chain[] = [];
  // which signature kind accepted each fragment, as a synthesis would (core acceptFragment)
  const accepted = { descriptor: 0, derivation: 0, none: 0 };
  const chain = new DebianChainVerifier(ctx.ports.origin, o.keyring ?? ctx.config.debianKeyring);
  for (const f of fragments) {
    try {
      if (debianProofOf(f.descriptor.source)) {
        const { links, lseKeyNeeded } = await chain.verify(f);
        chained++;
        let lseSignature: string;
        let kind: Chain['accepted'];
        if (lseKeyNeeded) {
          const a = await acceptFragment(f, keys);
          kind = a.covers;
          lseSignature = `content derived from the .deb signed by trusted key '${a.keyName}' (${a.covers} signature)`;
        } else {
          try {
            const a = await acceptFragment(f, keys, chain);
            kind = a.covers;
            lseSignature =
              a.covers === 'derivation'
                ? `derivation signed by trusted key '${a.keyName}' (derivation signature; Debian's chain vouches for the rest)`
                : `whole descriptor signed by trusted key '${a.keyName}' (descriptor signature)`;
          } catch (e) {
            kind = 'none';
            lseSignature = `not relied on: ${(e as Error).message.replace(`${fragmentLabel(f)}: `, '')} (a synthesis refuses this fragment until a trusted key signs its derivation)`;
          }
        }
        accepted[kind]++;
        if (o.chain)
          chains.push({
            fragment: f.id,
            name: f.descriptor.name,
            version: f.descriptor.version,
            links,
            lseSignature,
            accepted: kind,
          });
      } else {
        accepted[(await acceptFragment(f, keys, chain)).covers]++;
        if ((f.descriptor.source['debian'] as { unsigned?: boolean } | undefined)?.unsigned) unsigned++;
      }
      if (f.descriptor.blob.mediaType === DEB_MEDIA_TYPE && !(await ctx.ports.cache.has(f.descriptor.blob.digest)))
        unfetched++;
      else await readVerifiedEntries(ctx.ports, f);
    } catch (e) {
      problems.push({
        what: fragmentLabel(f),
        code: isLseError(e) ? e.code : 'INTERNAL',
        message: (e as Error).message,
      });
    }
    if (++n % 2000 === 0) ctx.out.progress(`  ${n}/${fragments.length} fragments checked`);
  }
  const tags = await ctx.ports.bases.tags();
  const digests = [...new Set(tags.map((t) => t.digest))];
  for (const d of digests) {
    const base = await ctx.ports.bases.get(d);
    if (!base) {
      problems.push({
        what: `base ${d}`,
        code: 'BASE_UNKNOWN',
        message: `a tag points at base ${d}, which is not in the store`,
      });
      continue;
    }
    for (const l of base.layers) {
      try {
        const data = await ctx.ports.layers.get(l.digest);
        const diffId = sha256Digest(isGzip(data) ? gunzip(data) : data);
        if (diffId !== l.diffId)
          throw new LseError('DIGEST_MISMATCH', `layer ${l.digest} uncompresses to ${diffId}, expected ${l.diffId}`);
      } catch (e) {
        problems.push({
          what: `base ${d} layer ${l.digest}`,
          code: isLseError(e) ? e.code : 'INTERNAL',
          message: (e as Error).message,
        });
      }
    }
  }
  const pending = unfetched
    ? ` (${unfetched} package(s) from a Debian index not fetched yet: signatures checked, their .deb is checked when first used)`
    : '';
  const debian =
    chained || unsigned
      ? `; ${chained} by Debian's chain of trust${unsigned ? `, ${unsigned} from unsigned Debian indexes (importer's signature only)` : ''}`
      : '';
  const kinds = `; accepted by descriptor signatures ${accepted.descriptor}, by derivation signatures with Debian's chain ${accepted.derivation}${accepted.none ? `, by Debian's chain only (no trusted derivation signature: a synthesis refuses them) ${accepted.none}` : ''}`;
  const summary = `${fragments.length} fragment(s), ${digests.length} base(s) checked: ${problems.length ? `${problems.length} problem(s)` : 'all verified'}${debian}${kinds}${pending}`;
  ctx.out.progress(summary);
  const chainLines = chains.flatMap((c) => [
    `${c.name} ${c.version} ${c.fragment}`,
    ...c.links.map((l) => `  ${l.link}\t${l.detail}`),
    `  lse-key\t${c.lseSignature}`,
    `  accepted\t${c.accepted === 'none' ? 'by no signature a synthesis accepts' : `by a ${c.accepted} signature`}`,
  ]);
  ctx.out.result([...chainLines, ...problems.map((p) => `${p.code}\t${p.message}`)].join('\n'), {
    ok: problems.length === 0,
    fragments: fragments.length,
    unfetched,
    chained,
    unsigned,
    accepted,
    bases: digests.length,
    problems,
    ...(o.chain ? { chains } : {}),
  });
  if (problems.length) {
    throw new LseError(
      problems[0]!.code,
      `verification found ${problems.length} problem(s); the first: ${problems[0]!.message}`,
      { problems: problems.length, reported: true },
    );
  }
}
