import { LseError } from '../errors';
import { excerpt } from '../util/excerpt';
import type { Platform } from '../model';

/** Operating systems LSE builds for. */
export const OSES = ['linux'] as const;
export const ARCHES = ['amd64', 'arm64', 'arm', '386', 'ppc64le', 's390x', 'riscv64'] as const;
export const LIBCS = ['glibc', 'musl'] as const;
/** Variants each architecture accepts (amd64 micro-architecture levels, arm versions). */
export const VARIANTS: Readonly<Record<string, readonly string[]>> = {
  amd64: ['v1', 'v2', 'v3', 'v4'],
  arm: ['v6', 'v7', 'v8'],
  arm64: ['v8'],
};
export const DEFAULT_PLATFORM: Platform = { os: 'linux', arch: 'amd64' };

/** A CPU feature name as the kernel spells it: `avx2`, `sse4_2`, `avx512f`. */
export const FEATURE_RE = /^[a-z0-9][a-z0-9_.-]*$/;

/** A region name: lowercase letters, digits and '-', starting with a letter, e.g. `eu-west`. */
export const REGION_RE = /^[a-z][a-z0-9-]{0,62}$/;
/** Longest `regionFallback` list a profile may carry. */
export const MAX_REGION_FALLBACKS = 16;

/** Why `region` is not a region name, or undefined when it is. */
export function regionProblem(region: string): string | undefined {
  return REGION_RE.test(region)
    ? undefined
    : `region '${excerpt(region)}' must be lowercase letters, digits and '-', starting with a letter, like eu-west`;
}

/**
 * `--region R` / `--region-fallback a,b` values checked (USAGE naming what is wrong); the
 * fallback list is normalized like `mergePlatform` does.
 */
export function parseRegion(
  region: string | undefined,
  fallback?: string,
): Pick<Platform, 'region' | 'regionFallback'> {
  const out: Pick<Platform, 'region' | 'regionFallback'> = {};
  const check = (r: string): string => {
    const problem = regionProblem(r);
    if (problem) throw new LseError('USAGE', problem, { region: r });
    return r;
  };
  if (region !== undefined) out.region = check(region.trim());
  if (fallback !== undefined) {
    const list = fallback
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean)
      .map(check);
    if (list.length > MAX_REGION_FALLBACKS)
      throw new LseError('USAGE', `at most ${MAX_REGION_FALLBACKS} fallback regions, got ${list.length}`, {
        regionFallback: list,
      });
    out.regionFallback = list;
  }
  return out;
}

/** Why `variant` does not fit `arch`, or undefined when it does. */
export function variantProblem(arch: string, variant: string): string | undefined {
  const allowed = VARIANTS[arch];
  if (!allowed) return `architecture ${arch} takes no variant; remove '${excerpt(variant)}'`;
  if (!allowed.includes(variant))
    return `variant '${excerpt(variant)}' is not valid for ${arch}; use one of ${allowed.join(', ')}`;
  return undefined;
}

/**
 * Parses a `--platform` value: `os/arch` or `os/arch/variant`, e.g. `linux/amd64/v3`.
 * Throws `USAGE` naming the part that is wrong and an example.
 */
export function parsePlatform(s: string): Platform {
  const fail = (why: string): never => {
    throw new LseError(
      'USAGE',
      `platform '${s}': ${why}; write os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`,
      { platform: s },
    );
  };
  const parts = s.trim().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) fail('expected 2 or 3 parts separated by /');
  const [os, arch, variant] = parts as [string, string, string?];
  if (!(OSES as readonly string[]).includes(os)) fail(`os '${os}' is not supported (only ${OSES.join(', ')})`);
  if (!(ARCHES as readonly string[]).includes(arch))
    fail(`arch '${arch}' is not supported; use one of ${ARCHES.join(', ')}`);
  if (variant === undefined) return { os, arch };
  const problem = variantProblem(arch, variant);
  if (problem) fail(problem);
  return { os, arch, variant };
}

/**
 * The platform to build for: the `--platform` override, if given, replaces os, arch and variant
 * together (they name one target; a manifest's `v3` must not leak onto an arm64 override), and
 * its features/libc win over the manifest's when set. Defaults: linux/amd64, no variant.
 * Features come out sorted and deduplicated, so equal requests give equal locks. The region and
 * its fallbacks (an ordered list: order matters, so it is not sorted) work like features: the
 * override's win when set; fallbacks lose duplicates and the region itself, and an empty list is
 * left out, so a profile without a region locks (and keys) exactly as before regions existed.
 */
export function mergePlatform(manifestPlatform: Partial<Platform> | undefined, override?: Platform): Platform {
  const m = manifestPlatform ?? {};
  const target = override ?? m;
  const out: Platform = { os: target.os ?? DEFAULT_PLATFORM.os, arch: target.arch ?? DEFAULT_PLATFORM.arch };
  if (target.variant !== undefined) out.variant = target.variant;
  const features = override?.features ?? m.features;
  if (features !== undefined) out.features = [...new Set(features)].sort();
  const libc = override?.libc ?? m.libc;
  if (libc !== undefined) out.libc = libc;
  const region = override?.region ?? m.region;
  if (region !== undefined) out.region = region;
  const fallback = (override?.regionFallback ?? m.regionFallback ?? []).filter(
    (r, i, all) => r !== region && all.indexOf(r) === i,
  );
  if (fallback.length > 0) out.regionFallback = fallback;
  return out;
}
