/**
 * Variant negotiation: does a fragment variant run on a runtime profile (`fits`), and which of
 * several fitting variants is best (`rank`).
 */
import type { Platform, VariantAttributes } from '../model';

export type Fit = { ok: true } | { ok: false; attribute: string; wanted: string; have: string };

/** Soft preferences of a requirement (see `Requirement.prefer`). */
export interface VariantPreference {
  features?: string[];
  variant?: string;
  libc?: string;
}

const LEVEL_RE = /^v(\d+)$/;

/** `v3` -> 3; undefined for variants that are not a numbered level. */
function levelOf(variant: string): number | undefined {
  const m = LEVEL_RE.exec(variant);
  return m ? Number(m[1]) : undefined;
}

/**
 * Rules: os equal if set; arch equal, or 'all'/absent fits any; a numbered level (`v3`) fits a
 * runtime of that level or higher (a runtime without a variant is `v1`), any other variant must be
 * equal; every required CPU feature present; libc equal when both sides name one; a variant for a
 * region fits a runtime in that region or one that lists it among its fallbacks (a runtime without
 * a region takes only region-less variants).
 */
export function fits(attrs: VariantAttributes, p: Platform): Fit {
  if (attrs.os !== undefined && attrs.os !== p.os) return { ok: false, attribute: 'os', wanted: attrs.os, have: p.os };
  if (attrs.arch !== undefined && attrs.arch !== 'all' && attrs.arch !== p.arch) {
    return { ok: false, attribute: 'arch', wanted: attrs.arch, have: p.arch };
  }
  if (attrs.variant !== undefined) {
    const want = levelOf(attrs.variant);
    const haveText = p.variant ?? (want !== undefined ? 'v1' : 'none');
    const have = levelOf(haveText);
    const ok = want !== undefined && have !== undefined ? have >= want : attrs.variant === p.variant;
    if (!ok) return { ok: false, attribute: 'variant', wanted: attrs.variant, have: haveText };
  }
  if (attrs.features && attrs.features.length > 0) {
    const have = p.features ?? [];
    const missing = attrs.features.filter((f) => !have.includes(f));
    if (missing.length > 0) {
      return {
        ok: false,
        attribute: 'features',
        wanted: missing.join(', '),
        have: have.length ? have.join(', ') : 'none',
      };
    }
  }
  if (attrs.libc !== undefined && p.libc !== undefined && attrs.libc !== p.libc) {
    return { ok: false, attribute: 'libc', wanted: attrs.libc, have: p.libc };
  }
  if (attrs.region !== undefined && regionTier(attrs.region, p) === undefined) {
    return { ok: false, attribute: 'region', wanted: attrs.region, have: p.region ?? 'none' };
  }
  return { ok: true };
}

/** A misfit in words: "needs arch arm64, runtime is amd64", "needs CPU feature avx512f". */
export function describeMisfit(fit: Exclude<Fit, { ok: true }>, p: Platform): string {
  switch (fit.attribute) {
    case 'os':
      return `needs os ${fit.wanted}, runtime is ${fit.have}`;
    case 'arch':
      return `needs arch ${fit.wanted}, runtime is ${fit.have}`;
    case 'variant':
      return `needs ${p.arch} level ${fit.wanted}, runtime has ${fit.have}`;
    case 'features':
      return `needs CPU feature${fit.wanted.includes(',') ? 's' : ''} ${fit.wanted}`;
    case 'libc':
      return `needs libc ${fit.wanted}, runtime has ${fit.have}`;
    case 'region': {
      const fallback = p.regionFallback?.length ? `fallbacks ${p.regionFallback.join(', ')}` : 'no fallback';
      return p.region === undefined
        ? `is for region ${fit.wanted}, runtime has no region`
        : `is for region ${fit.wanted}, runtime is in ${p.region} (${fallback})`;
    }
    default:
      return `needs ${fit.attribute} ${fit.wanted}, runtime has ${fit.have}`;
  }
}

/**
 * How well a variant's region suits the runtime: 0 = the runtime's own region, 1.. = the position
 * in its fallback list plus one; undefined = not acceptable.
 */
export function regionTier(region: string, p: Platform): number | undefined {
  if (region === p.region) return 0;
  const i = p.regionFallback?.indexOf(region) ?? -1;
  return i < 0 ? undefined : i + 1;
}

/** Region tiers outrank every other preference; at most MAX_REGION_FALLBACKS (16) + 1 of them. */
const REGION_WEIGHT = 1e10;
const REGION_TIERS = 64;

/**
 * Score of a fitting variant; higher is better, equal scores are broken by fragment id elsewhere.
 * Tiers, most important first: the region (the runtime's own, then its fallbacks in order, then a
 * region-less variant); the variant the requirement explicitly prefers; the higher level;
 * more of the preferred CPU features; exact libc match (preferred libc, else the runtime's);
 * a specific arch over 'all'/absent.
 */
export function rank(attrs: VariantAttributes, p: Platform, prefer?: VariantPreference): number {
  let score = 0;
  if (attrs.region !== undefined)
    score += (REGION_TIERS - Math.min(regionTier(attrs.region, p) ?? REGION_TIERS, REGION_TIERS - 1)) * REGION_WEIGHT;
  if (prefer?.variant !== undefined && (attrs.variant ?? 'v1') === prefer.variant) score += 1e9; // no variant = baseline v1
  const level = attrs.variant !== undefined ? (levelOf(attrs.variant) ?? 0) : 0;
  score += Math.min(level, 99) * 1e6;
  const preferred = prefer?.features ?? [];
  const matched = (attrs.features ?? []).filter((f) => preferred.includes(f)).length;
  score += Math.min(matched, 999) * 1e3;
  const libc = prefer?.libc ?? p.libc;
  if (attrs.libc !== undefined && libc !== undefined && attrs.libc === libc) score += 100;
  if (attrs.arch !== undefined && attrs.arch !== 'all') score += 10;
  return score;
}
