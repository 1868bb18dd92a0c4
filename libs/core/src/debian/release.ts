/**
 * Debian's own chain of trust, the parts that need no cryptography: the `Release` fields of a
 * (signature-checked) `InRelease`, the freshness rules, the `Packages` file's entry in it, and the
 * byte spans of the paragraphs of a `Packages` file.
 *
 * The chain a fragment imported from an index carries (`source.debian`, {@link DebianProof}):
 *
 *   archive key ─signs→ InRelease ─SHA256→ Packages ─offset/length→ paragraph
 *     ─indexDescriptor→ descriptor (its id) ─SHA256 in the paragraph→ .deb ─derive→ fragment tar
 *
 * The InRelease and the Packages file are stored once per import as content-addressed blobs; each
 * fragment names them by digest and its paragraph by byte offset and length, so a verifier that
 * trusts only Debian's keyring recomputes the descriptor from Debian's bytes (the signature check
 * itself is in libs/adapters/deb, release-signature.ts).
 */
import { LseError } from '../errors';
import { parseControlFile, type ControlParagraph } from './control';

/** The fields of a Release file LSE uses. Dates are ISO 8601 (UTC). */
export interface DebianRelease {
  origin?: string;
  label?: string;
  suite?: string;
  codename?: string;
  /** `Date`: when the archive generated this release. */
  date: string;
  /** `Valid-Until`, when the archive sets one (security and updates suites do). */
  validUntil?: string;
  /** The `SHA256` list: path in `dists/SUITE/` → hex digest and size. */
  sha256: Map<string, { sha256: string; size: number }>;
}

/**
 * What a fragment imported from a signed Debian index carries in `descriptor.source.debian`.
 * Part of the descriptor, so of the fragment id.
 */
export interface DebianProof {
  /**
   * `sha256:` of the InRelease exactly as the archive published it (signature included), or of
   * the plain Release file when the archive signed it detached (`releaseGpg`).
   */
  inRelease: string;
  /** `sha256:` of the detached `Release.gpg`, when `inRelease` is a plain Release file. */
  releaseGpg?: string;
  /** `sha256:` of the uncompressed Packages file the InRelease lists. */
  packages: string;
  /** The Packages file's path in the Release's SHA256 list, e.g. `main/binary-amd64/Packages`. */
  path: string;
  /** The package's paragraph: byte offset and length in the Packages file. */
  paragraph: { offset: number; length: number };
  /** {@link releaseSuiteKey} of the release, e.g. `Debian/Debian/bookworm`. */
  suite: string;
  /** The release's `Date` (ISO 8601). */
  date: string;
}

/** Marks a fragment imported from an index nobody signed (`--allow-unsigned`). */
export interface DebianUnsigned {
  unsigned: true;
}

/** The signed content of an InRelease (the text after the signature is checked) → its fields. */
export function parseRelease(text: string, label = 'Release'): DebianRelease {
  const ps = parseControlFile(text, label);
  const p: ControlParagraph | undefined = ps[0];
  if (!p)
    throw new LseError('DEBIAN_INDEX_MISMATCH', `${label} has no fields; is it a Debian Release/InRelease file?`, {
      label,
    });
  const date = releaseDate(p['Date'], 'Date', label);
  if (!date)
    throw new LseError('DEBIAN_INDEX_MISMATCH', `${label} has no Date field; a Debian Release file always has one`, {
      label,
    });
  const sha256 = new Map<string, { sha256: string; size: number }>();
  for (const line of (p['SHA256'] ?? '').split('\n')) {
    const m = /^\s*([0-9a-fA-F]{64})\s+(\d+)\s+(\S+)\s*$/.exec(line);
    if (m) sha256.set(m[3]!, { sha256: m[1]!.toLowerCase(), size: Number(m[2]) });
  }
  if (!sha256.size)
    throw new LseError(
      'DEBIAN_INDEX_MISMATCH',
      `${label} lists no SHA256 checksums; LSE checks index files by SHA256 only`,
      { label },
    );
  const validUntil = releaseDate(p['Valid-Until'], 'Valid-Until', label);
  return {
    ...(p['Origin'] ? { origin: p['Origin'] } : {}),
    ...(p['Label'] ? { label: p['Label'] } : {}),
    ...(p['Suite'] ? { suite: p['Suite'] } : {}),
    ...(p['Codename'] ? { codename: p['Codename'] } : {}),
    date,
    ...(validUntil ? { validUntil } : {}),
    sha256,
  };
}

function releaseDate(v: string | undefined, field: string, label: string): string | undefined {
  if (!v) return undefined;
  const t = Date.parse(v);
  if (!Number.isFinite(t))
    throw new LseError(
      'DEBIAN_INDEX_MISMATCH',
      `${label}: ${field} '${v}' is not a date (RFC 2822, as Debian writes it)`,
      { label, field },
    );
  return new Date(t).toISOString();
}

/**
 * Which suite a release is, for the rollback rule: Origin/Label/Codename (the codename stays when
 * the suite is renamed, e.g. bookworm from stable to oldstable).
 */
export function releaseSuiteKey(r: DebianRelease): string {
  return `${r.origin ?? '?'}/${r.label ?? '?'}/${r.codename ?? r.suite ?? '?'}`;
}

export interface FreshnessOptions {
  /** The time to judge `Valid-Until` at. */
  now: Date;
  /** The newest `Date` already imported for this suite (ISO), if any. */
  newest?: string;
  /** Accept a release older than `newest` (an explicit downgrade). */
  allowOlder?: boolean;
}

/** Refuses expired metadata (`Valid-Until` passed) and rolled-back metadata (older `Date`). */
export function checkReleaseFresh(r: DebianRelease, o: FreshnessOptions, label = 'InRelease'): void {
  const suite = releaseSuiteKey(r);
  if (r.validUntil && o.now.getTime() > Date.parse(r.validUntil)) {
    throw new LseError(
      'DEBIAN_RELEASE_EXPIRED',
      `${label} (${suite}) expired at ${r.validUntil} (Valid-Until); fetch current metadata (apt-get update) and import again`,
      { suite, validUntil: r.validUntil, now: o.now.toISOString() },
    );
  }
  if (o.newest && Date.parse(r.date) < Date.parse(o.newest) && !o.allowOlder) {
    throw new LseError(
      'DEBIAN_RELEASE_ROLLBACK',
      `${label} (${suite}) is dated ${r.date}, older than ${o.newest} already imported for this suite (a rollback?); import current metadata, or pass --allow-older to import it anyway`,
      { suite, date: r.date, newest: o.newest },
    );
  }
}

/**
 * The path under which the Release lists a Packages file with this SHA256 and size (preferring
 * an uncompressed `.../Packages` entry). DEBIAN_INDEX_MISMATCH when none does: the file was
 * altered, or belongs to another release.
 */
export function packagesPathIn(r: DebianRelease, sha256Hex: string, size: number, label = 'Packages file'): string {
  const hits = [...r.sha256.entries()].filter(([, e]) => e.sha256 === sha256Hex && e.size === size).map(([p]) => p);
  const path = hits.find((p) => p.endsWith('/Packages')) ?? hits[0];
  if (!path) {
    throw new LseError(
      'DEBIAN_INDEX_MISMATCH',
      `${label} (sha256:${sha256Hex.slice(0, 12)}…, ${size} bytes) is not listed in the InRelease of ${releaseSuiteKey(r)} dated ${r.date}: it was altered or belongs to another release; give the InRelease apt fetched with it`,
      { sha256: sha256Hex, size },
    );
  }
  return path;
}

/**
 * Byte spans of the paragraphs of a Packages file (separated by blank lines), in order. A span
 * excludes the separating blank line; `buf.subarray(offset, offset + length)` is the paragraph.
 */
export function paragraphSpans(buf: Buffer): { offset: number; length: number }[] {
  const out: { offset: number; length: number }[] = [];
  let start = 0;
  const n = buf.length;
  while (start < n) {
    while (start < n && (buf[start] === 0x0a || buf[start] === 0x0d)) start++;
    if (start >= n) break;
    let end = buf.indexOf('\n\n', start);
    if (end < 0) end = n;
    else end += 1; // keep the paragraph's last newline
    out.push({ offset: start, length: end - start });
    start = end;
  }
  return out;
}

/** The paragraph at `span` of a Packages file, parsed. */
export function paragraphAt(
  buf: Buffer,
  span: { offset: number; length: number },
  label = 'Packages file',
): ControlParagraph {
  if (
    !Number.isSafeInteger(span.offset) ||
    !Number.isSafeInteger(span.length) ||
    span.offset < 0 ||
    span.length <= 0 ||
    span.offset + span.length > buf.length
  ) {
    throw new LseError(
      'DEBIAN_INDEX_MISMATCH',
      `${label}: no paragraph at offset ${span.offset} (length ${span.length}); the file has ${buf.length} bytes`,
      { ...span },
    );
  }
  const ps = parseControlFile(buf.subarray(span.offset, span.offset + span.length).toString('utf8'), label);
  if (ps.length !== 1)
    throw new LseError(
      'DEBIAN_INDEX_MISMATCH',
      `${label}: bytes ${span.offset}+${span.length} hold ${ps.length} paragraphs, not one`,
      { ...span },
    );
  return ps[0]!;
}

/** The proof a descriptor carries, if it was imported from a signed index. */
export function debianProofOf(source: Record<string, unknown>): DebianProof | undefined {
  const d = source['debian'] as Partial<DebianProof> | undefined;
  if (!d || typeof d !== 'object' || typeof d.inRelease !== 'string' || typeof d.packages !== 'string')
    return undefined;
  return d as DebianProof;
}
