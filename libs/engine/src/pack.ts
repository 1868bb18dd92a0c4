import {
  FRAGMENT_TAR_MEDIA_TYPE,
  LseError,
  assertValidVersion,
  normalizeEntries,
  parseRelation,
  sha256Digest,
  signDescriptor,
  type Fragment,
  type FragmentDescriptor,
  type Provide,
  type Relation,
  type SecretKey,
  type TarEntry,
  type VariantAttributes,
  type VersionScheme,
} from '@lse/core';
import type { EnginePorts } from './ports';

export interface PackInput {
  entries: TarEntry[];
  name: string;
  version: string;
  scheme: VersionScheme;
  attributes?: VariantAttributes;
  /** Relation specs: `NAME`, `NAME CONSTRAINT`, alternatives joined by ` | `. */
  depends?: string[];
  preDepends?: string[];
  /** `NAME` or `NAME (= VERSION)`. */
  provides?: string[];
  conflicts?: string[];
  breaks?: string[];
  key: SecretKey;
  /** mtime for every entry (SOURCE_DATE_EPOCH or 0). */
  epoch: number;
  allowSetuid?: boolean;
  /** Owner of every entry (default 0:0, root). */
  uid?: number;
  gid?: number;
  source: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

const NAME_RE = /^[a-z0-9][a-z0-9+._-]*$/;

/**
 * Packs content into a signed fragment: normalizes the entries into a deterministic tar (refusing
 * unsafe input before anything is written), records the file index, builds and signs the
 * descriptor, then stores the blob and, last, the record (the commit point). The same input and
 * key always give the same fragment id.
 */
export function buildFragment(input: PackInput): { fragment: Fragment; blob: Buffer } {
  const { name, version, scheme } = input;
  if (!NAME_RE.test(name)) {
    throw new LseError(
      'FRAGMENT_INVALID',
      `fragment name '${name}' is not valid: use lowercase letters, digits and + . _ - (starting with a letter or digit)`,
      { name },
    );
  }
  assertValidVersion(scheme, version);
  const rel = (specs: string[] | undefined): Relation[] => (specs ?? []).map((s) => parseRelation(s));
  const provides: Provide[] = (input.provides ?? []).map((spec) => {
    const m = /^\s*([a-z0-9][a-z0-9+._-]*)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?\s*$/.exec(spec);
    if (!m) throw new LseError('CONSTRAINT_INVALID', `provides '${spec}' must be NAME or NAME (= VERSION)`, { spec });
    return m[2] ? { name: m[1]!, version: m[2] } : { name: m[1]! };
  });
  const { tar, files } = normalizeEntries(input.entries, {
    mtime: input.epoch,
    allowSetuid: input.allowSetuid ?? false,
    uid: input.uid ?? 0,
    gid: input.gid ?? 0,
  });
  const descriptor: FragmentDescriptor = {
    schemaVersion: 1,
    name,
    version,
    scheme,
    attributes: input.attributes ?? {},
    depends: rel(input.depends),
    preDepends: rel(input.preDepends),
    provides,
    conflicts: rel(input.conflicts),
    breaks: rel(input.breaks),
    files,
    blob: { mediaType: FRAGMENT_TAR_MEDIA_TYPE, digest: sha256Digest(tar), size: tar.length },
    source: input.source,
    metadata: { ...(input.metadata ?? {}), ...(input.allowSetuid ? { allowSetuid: true } : {}) },
  };
  return { fragment: signDescriptor(descriptor, input.key), blob: tar };
}

export async function packFragment(
  ports: Pick<EnginePorts, 'origin' | 'fragments'>,
  input: PackInput,
): Promise<{ fragment: Fragment; created: boolean }> {
  const { fragment, blob } = buildFragment(input);
  await ports.origin.put(fragment.descriptor.blob.digest, blob, blob.length);
  const r = await ports.fragments.put(fragment);
  return { fragment, created: r === 'created' };
}
