/**
 * A runtime profile (what the container runtime can run) and the attributes a fragment variant
 * declares. Matching and scoring of one against the other lives in resolve/negotiate.ts.
 */
export interface Platform {
  os: string; // 'linux'
  arch: string; // 'amd64', 'arm64', ...
  /** amd64 micro-architecture level 'v1'..'v4' (for arm: 'v7', 'v8'). */
  variant?: string;
  /** CPU features the runtime has (e.g. 'avx2'). */
  features?: string[];
  /** C library: 'glibc' | 'musl'. */
  libc?: string;
  /** Where the runtime is, e.g. 'eu-west'. Absent: no region (only region-less variants fit). */
  region?: string;
  /** Regions whose variants are acceptable when `region` has none, most preferred first. */
  regionFallback?: string[];
}

/** Attributes of one fragment variant. Absent attribute = fits any runtime. */
export interface VariantAttributes {
  os?: string;
  /** 'all' (Debian arch-independent) or absent fits any arch. */
  arch?: string;
  /** minimum amd64 level this variant needs, e.g. 'v3'. */
  variant?: string;
  /** CPU features this variant needs. */
  features?: string[];
  libc?: string;
  /** The region this variant is for (mirrors, CA bundles, residency settings); absent = any. */
  region?: string;
}
