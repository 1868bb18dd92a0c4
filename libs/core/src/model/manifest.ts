import type { Platform } from './platform';

/** One requirement of a manifest. */
export interface Requirement {
  name: string;
  /** semver range or Debian relation, interpreted by the candidate's scheme. */
  version?: string;
  /** Soft variant preferences: candidates matching more of them win. */
  prefer?: { features?: string[]; variant?: string; libc?: string };
}

export interface InlineFile {
  /** Absolute path inside the image, e.g. `/etc/motd`. */
  path: string;
  content: string;
  /** Octal string, default '0644'. */
  mode: string;
}

/** A validated dependency manifest (apiVersion lse.dev/v1, kind DependencyManifest). */
export interface Manifest {
  apiVersion: 'lse.dev/v1';
  kind: 'DependencyManifest';
  metadata: { name: string; labels?: Record<string, string> };
  /** `name[:tag]`, `name@sha256:<hex>`, or `scratch`. */
  base: string;
  platform?: Partial<Platform>;
  require: Requirement[];
  files: InlineFile[];
  env: Record<string, string>;
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  user?: string;
  labels: Record<string, string>;
}
