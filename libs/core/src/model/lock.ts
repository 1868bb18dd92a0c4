import type { Platform } from './platform';
import type { InlineFile, Manifest } from './manifest';

export interface LockedFragment {
  id: string;
  name: string;
  version: string;
}

/**
 * The resolver's deterministic answer for a manifest and runtime profile. Everything that
 * determines the image is in here, so the lock's digest (the synthesis key) determines the image
 * digest: same key, same image.
 */
export interface Lock {
  lockVersion: 1;
  base: { ref: string; digest: string | null }; // digest null = scratch
  platform: Platform;
  /** Install order: dependencies (and pre-dependencies) before dependents; ties by name. */
  fragments: LockedFragment[];
  /**
   * Requirements the base satisfied: packages the base holds (its record's `packages`) that a
   * requirement or a dependency of a shipped fragment named; sorted by name. Absent when none
   * (so locks on bases without packages hash as before).
   */
  satisfiedByBase?: { name: string; version: string }[];
  files: InlineFile[];
  /** The image settings of the manifest, as it gave them. */
  config: Pick<Manifest, 'env' | 'entrypoint' | 'cmd' | 'workingDir' | 'user' | 'labels'>;
}
