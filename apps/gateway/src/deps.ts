import type { Bus, ImageSigningKey, LeaseRepository, Platform, SynthesisRepository } from '@lse/core';
import type { EnginePorts } from '@lse/engine';
import type { AuthConfig } from './auth';
import type { DebianProofSettings } from './debian-proofs';
import type { Metrics } from './metrics';
import type { RepeatCache } from './repeat-cache';
import type { SynthesisWatch } from './watch';

/** What the HTTP layer needs; main.ts wires real adapters, tests wire memory ones. */
export interface GatewayDeps {
  bus: Bus;
  ports: EnginePorts;
  syntheses: SynthesisRepository;
  leases: LeaseRepository;
  auth: AuthConfig;
  leaseTtlSeconds: number;
  waitMaxSeconds: number;
  epoch: number;
  now: () => Date;
  metrics: Metrics;
  ready: () => Promise<boolean>;
  /** What the gateway knows of syntheses from their events (waits, SSE, fresh answers). */
  watch: SynthesisWatch;
  /** Recent results of manifests this gateway saw complete (repeats answered from memory). */
  repeats: RepeatCache;
  /** How long reading an uploaded rootfs may take (worker thread) before it is refused. */
  uploadParseBudgetMs?: number;
  /** The OCI Distribution API (/v2); defaults when absent: see routes/registry.ts. */
  registry?: RegistrySettings;
  /**
   * Debian proofs (routes/debian.ts) and the chain check of published Debian fragments. Absent:
   * proofs are refused, and so is every fragment carrying one.
   */
  debian?: DebianProofSettings;
}

export interface RegistrySettings {
  /** HMAC key of registry tokens (LSE_REGISTRY_SECRET, or random per start). */
  secret: Buffer;
  anonymousPull: boolean;
  /** Base of the token realm (LSE_PUBLIC_URL); else derived from the request's Host. */
  publicUrl?: string;
  /** Base of `pkgs/...:latest` (LSE_PKGS_BASE). */
  pkgsBase: string;
  /** Platforms of `pkgs/...` images (LSE_PKGS_PLATFORMS); several → an image index. */
  pkgsPlatforms: Platform[];
  tokenTtlSeconds: number;
  /** Signs images (cosign signature, provenance): LSE_IMAGE_SIGNING_KEY; absent = SBOMs only. */
  signingKey?: ImageSigningKey;
}
