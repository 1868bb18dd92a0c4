import type { VariantAttributes } from './platform';

export type VersionScheme = 'semver' | 'debian';

/** One alternative of a relation: `name` optionally constrained, e.g. `libc6 (>= 2.36)`. */
export interface RelationAtom {
  name: string;
  /** Raw constraint text as the scheme of the candidate understands it: `^1.2.0`, `>= 2.36`. */
  constraint?: string;
  /** Debian multi-arch qualifier kept verbatim (`any`, `native`, an arch). */
  archQualifier?: string;
}
/** A dependency (or conflict) with alternatives: satisfied when any atom is. */
export type Relation = RelationAtom[];

/** A virtual name a fragment provides, optionally versioned (Debian `Provides: foo (= 1.0)`). */
export interface Provide {
  name: string;
  version?: string;
}

export type FileType = 'file' | 'dir' | 'symlink' | 'hardlink';

export interface FileEntry {
  /** Normalized relative path without leading './' or '/', no trailing slash: `usr/bin/curl`. */
  path: string;
  type: FileType;
  /** Permission bits including setuid/setgid/sticky (0o7777 range). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes for regular files, 0 otherwise. */
  size: number;
  /** `sha256:<hex>` of content, regular files only. */
  digest?: string;
  /** Link target for symlink and hardlink. */
  linkname?: string;
}

export interface BlobRef {
  mediaType: string;
  /** `sha256:<hex>` of the normalized, uncompressed fragment tar. */
  digest: string;
  size: number;
}

/**
 * The signed part of a fragment. Its canonical JSON (see canonical-json.ts) is what is hashed into
 * the fragment id and what Ed25519 signatures cover, so name, version, relations, files and blob
 * digest are bound together.
 */
export interface FragmentDescriptor {
  schemaVersion: 1;
  name: string;
  version: string;
  scheme: VersionScheme;
  attributes: VariantAttributes;
  depends: Relation[];
  /** Debian Pre-Depends: like depends, but must be installed (ordered) first. */
  preDepends: Relation[];
  provides: Provide[];
  conflicts: Relation[];
  breaks: Relation[];
  files: FileEntry[];
  blob: BlobRef;
  /** Where it came from: `{ type: 'dir' | 'tar' | 'deb' | ..., ... }`. */
  source: Record<string, unknown>;
  /** Free-form, signed: Debian control fields, conffiles, maintainer scripts summary. */
  metadata: Record<string, unknown>;
}

export interface Signature {
  /** Key name, as in `NAME:base64`. */
  keyName: string;
  /** base64 Ed25519 signature over the canonical descriptor bytes (or, with `covers`, over what it names). */
  sig: string;
  /**
   * What the signature covers. Absent: the whole canonical descriptor. `derivation`: only the
   * derivation statement of a fragment imported from a signed Debian index (core
   * sign/trust.ts `derivationStatement`: its name and `metadata.derive`); the rest of such a
   * descriptor is vouched for by Debian's chain of trust, which a verifier must then check.
   */
  covers?: SignatureCoverage;
}

/** The kinds of signature a fragment can carry (see {@link Signature.covers}); `descriptor` = absent. */
export type SignatureCoverage = 'derivation';

/** A stored fragment: descriptor, its id (`sha256:<hex>` of the canonical descriptor), signatures. */
export interface Fragment {
  id: string;
  descriptor: FragmentDescriptor;
  signatures: Signature[];
}

export const FRAGMENT_TAR_MEDIA_TYPE = 'application/vnd.lse.fragment.v1.tar';
