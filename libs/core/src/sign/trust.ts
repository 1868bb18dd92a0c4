import type { Fragment, FragmentDescriptor, Signature } from '../model';
import { LseError } from '../errors';
import { debianProofOf } from '../debian/release';
import { canonicalBytes } from '../canonical-json';
import { digestOfValue, sha256Digest, shortDigest } from '../digest';
import { signBytes, verifyBytes, type SecretKey } from './keys';

/**
 * The trust store's view of one publisher key. `scopes` are name patterns (`*` matches any run of
 * characters, e.g. `lib*`, `acme-*`); a key signs only fragments whose name one of them matches.
 * Revocation keeps the key listed (so old signatures are recognized and refused by name).
 */
export interface TrustedKey {
  name: string;
  /** base64 of the 32-byte Ed25519 public key. */
  publicKey: string;
  scopes: string[];
  revoked: boolean;
  addedAt?: string;
  revokedAt?: string;
}

/** The fragment id: `sha256:` of the canonical descriptor (signatures are not part of it). */
export function fragmentId(d: FragmentDescriptor): string {
  return sha256Digest(canonicalBytes(d));
}

/**
 * Digest of a set of fragment ids (sorted, de-duplicated, one per line): names "these fragments"
 * for FragmentRepository.storedSets, so a bulk import can skip the batches already stored.
 */
export function fragmentSetDigest(ids: readonly string[]): string {
  return sha256Digest(Buffer.from([...new Set(ids)].sort().join('\n'), 'utf8'));
}

/**
 * The trust generation: a digest of everything in the trust store that decides a verdict (every
 * key's name, public key, scopes and whether it is revoked). Adding a key, changing its scopes or
 * revoking it changes the generation, with no counter to keep; verification verdicts are recorded
 * per fragment and generation (FragmentVerdict), so a change makes every fragment be verified
 * again against the new state.
 */
export function trustGeneration(keys: readonly TrustedKey[]): string {
  const state = [...keys]
    .map((k) => ({ name: k.name, publicKey: k.publicKey, scopes: [...new Set(k.scopes)].sort(), revoked: k.revoked }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return digestOfValue({ trustGeneration: 1, keys: state });
}

export function signDescriptor(d: FragmentDescriptor, sk: SecretKey): Fragment {
  const bytes = canonicalBytes(d);
  return {
    id: sha256Digest(bytes),
    descriptor: d,
    signatures: [{ keyName: sk.name, sig: signBytes(bytes, sk).toString('base64') }],
  };
}

export function scopeMatches(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
  );
  return re.test(name);
}

export function fragmentLabel(f: { id: string; descriptor: { name: string; version: string } }): string {
  return `fragment ${f.descriptor.name}@${f.descriptor.version} (${shortDigest(f.id)}…)`;
}

/**
 * The bytes a derivation signature (`covers: 'derivation'`) signs: a canonical statement of only
 * what Debian cannot vouch for in a fragment imported from a signed index, namely how its content
 * is derived from the .deb (`metadata.derive`: merged-/usr, epoch; core debian/derive.ts depends
 * on nothing else) and the fragment's name (so key scopes keep applying). The relations, control
 * fields and the .deb's digest are Debian's, checked along its chain (adapters/deb
 * DebianChainVerifier), so they are not in it. The `lseDerivation` tag keeps these bytes apart
 * from any canonical descriptor (which always has `schemaVersion`).
 */
export function derivationStatement(d: FragmentDescriptor): Buffer {
  const derive = d.metadata['derive'];
  return canonicalBytes({
    lseDerivation: 1,
    name: d.name,
    derive: derive && typeof derive === 'object' ? derive : {},
  });
}

/**
 * Signs a fragment imported from a signed Debian index over its derivation only (see
 * {@link derivationStatement}): it is then accepted only where Debian's chain verifies
 * ({@link acceptFragment}). The id is the hash of the whole descriptor, as for any fragment.
 */
export function signDerivation(d: FragmentDescriptor, sk: SecretKey): Fragment {
  if (d.source['type'] !== 'debian-index' || !debianProofOf(d.source))
    throw new LseError(
      'USAGE',
      `${d.name} ${d.version}: only a fragment imported from a signed Debian index (source.type debian-index with source.debian) can be signed over its derivation; sign the whole descriptor`,
      { name: d.name },
    );
  return {
    id: fragmentId(d),
    descriptor: d,
    signatures: [
      { keyName: sk.name, sig: signBytes(derivationStatement(d), sk).toString('base64'), covers: 'derivation' },
    ],
  };
}

/** What a signature covers, for display: `descriptor` (the whole descriptor) or `derivation`. */
export function signatureCoverage(s: Signature): string {
  return s.covers ?? 'descriptor';
}

/**
 * Debian's chain of trust for a fragment (adapters/deb DebianChainVerifier): throws the first
 * broken link; `lseKeyNeeded` is false when the chain vouches for the whole descriptor but its
 * derivation (a fragment from a Packages index).
 */
export interface FragmentChainCheck {
  verify(f: Fragment): Promise<{ lseKeyNeeded: boolean }>;
}

/** Why a fragment was accepted: the key, and what its signature covers. */
export interface Acceptance {
  keyName: string;
  covers: 'descriptor' | 'derivation';
}

type Verdict =
  | { ok: true; keyName: string }
  | { ok: false; code: 'KEY_UNTRUSTED' | 'KEY_REVOKED' | 'KEY_OUT_OF_SCOPE' | 'SIGNATURE_INVALID'; reason: string };

// Which refusal to report when every signature fails: the most specific one first.
const PRIORITY = ['KEY_REVOKED', 'SIGNATURE_INVALID', 'KEY_OUT_OF_SCOPE', 'KEY_UNTRUSTED'] as const;

function checkId(f: Fragment): Buffer {
  const bytes = canonicalBytes(f.descriptor);
  const actual = sha256Digest(bytes);
  if (actual !== f.id) {
    throw new LseError(
      'FRAGMENT_INVALID',
      `${fragmentLabel(f)}: descriptor does not match its id (it was altered after signing; it hashes to ${shortDigest(actual)}…); re-import the fragment from its publisher`,
      { fragment: f.id, actual },
    );
  }
  return bytes;
}

/**
 * Checks that a fragment is what its publisher signed: the id is the hash of the descriptor, and
 * at least one whole-descriptor signature verifies under a trusted, unrevoked key whose scope
 * covers the name. Throws an LseError naming the fragment and the reason otherwise; returns the
 * accepting key. A fragment signed only over its derivation is refused here
 * (DEBIAN_CHAIN_UNVERIFIED): it needs Debian's chain, see {@link acceptFragment}.
 */
export function verifyFragment(f: Fragment, keys: ReadonlyMap<string, TrustedKey>): string {
  const bytes = checkId(f);
  const others = f.signatures.filter((s) => s.covers !== 'derivation');
  if (!others.some((s) => s.covers === undefined) && others.length < f.signatures.length) throw chainNeeded(f);
  return judgeAll(f, keys, bytes, others, 'descriptor');
}

/**
 * The one check every verifier of a fragment makes (engine verify stage, gateway publish routes,
 * node cache, CLI). Accepts the fragment when either
 *  (a) a whole-descriptor signature verifies under the trust store ({@link verifyFragment}), or
 *  (b) it was imported from a signed Debian index, a derivation signature verifies under a
 *      trusted, unrevoked key whose scope covers the name, and Debian's chain of trust for the
 *      rest of the descriptor verifies (`chain`: the Debian keyring and the proof blobs).
 * A derivation signature is never enough by itself: without `chain` (no keyring configured), or
 * on a fragment without a Debian proof, it is refused with DEBIAN_CHAIN_UNVERIFIED; a broken link
 * of the chain throws the chain's own error. Signatures are checked before the chain, so an
 * untrusted fragment costs no read of Debian's metadata.
 */
export async function acceptFragment(
  f: Fragment,
  keys: ReadonlyMap<string, TrustedKey>,
  chain?: FragmentChainCheck,
): Promise<Acceptance> {
  const bytes = checkId(f);
  const derivation = f.signatures.filter((s) => s.covers === 'derivation');
  const others = f.signatures.filter((s) => s.covers !== 'derivation');
  if (!derivation.length || others.some((s) => s.covers === undefined)) {
    try {
      return { keyName: judgeAll(f, keys, bytes, others, 'descriptor'), covers: 'descriptor' };
    } catch (e) {
      if (!derivation.length) throw e;
    }
  }
  const d = f.descriptor;
  if (d.source['type'] !== 'debian-index' || !debianProofOf(d.source)) {
    throw new LseError(
      'DEBIAN_CHAIN_UNVERIFIED',
      `${fragmentLabel(f)}: signed over its derivation only, but it was not imported from a signed Debian index (no source.debian proof), so nothing vouches for the rest of it; sign the whole descriptor`,
      { fragment: f.id },
    );
  }
  const keyName = judgeAll(f, keys, derivationStatement(d), derivation, 'derivation');
  if (!chain) throw chainNeeded(f);
  const { lseKeyNeeded } = await chain.verify(f);
  if (lseKeyNeeded)
    throw new LseError(
      'DEBIAN_CHAIN_UNVERIFIED',
      `${fragmentLabel(f)}: Debian's chain does not vouch for this descriptor beyond its derivation; it needs a whole-descriptor signature`,
      { fragment: f.id },
    );
  return { keyName, covers: 'derivation' };
}

function chainNeeded(f: Fragment): LseError {
  return new LseError(
    'DEBIAN_CHAIN_UNVERIFIED',
    `${fragmentLabel(f)}: signed over its derivation only (what Debian cannot vouch for), so it is accepted only with Debian's chain of trust checked, and no Debian archive keyring is configured here; set LSE_DEBIAN_KEYRING (default /usr/share/keyrings/debian-archive-keyring.gpg)`,
    { fragment: f.id },
  );
}

function judgeAll(
  f: Fragment,
  keys: ReadonlyMap<string, TrustedKey>,
  bytes: Buffer,
  sigs: readonly Signature[],
  what: 'descriptor' | 'derivation',
): string {
  if (sigs.length === 0) {
    throw new LseError(
      'KEY_UNTRUSTED',
      `${fragmentLabel(f)}: carries no signature; sign it with 'lse fragment pack --key'`,
      { fragment: f.id },
    );
  }
  const verdicts = sigs.map((s) => judge(bytes, s, f.descriptor.name, keys, what));
  const good = verdicts.find((v) => v.ok);
  if (good && good.ok) return good.keyName;
  const bad = verdicts.filter((v): v is Extract<Verdict, { ok: false }> => !v.ok);
  bad.sort((a, b) => PRIORITY.indexOf(a.code) - PRIORITY.indexOf(b.code));
  const first = bad[0]!;
  throw new LseError(first.code, `${fragmentLabel(f)}: ${first.reason}`, {
    fragment: f.id,
    name: f.descriptor.name,
    version: f.descriptor.version,
    reasons: bad.map((b) => b.reason),
  });
}

function judge(
  bytes: Buffer,
  s: Signature,
  name: string,
  keys: ReadonlyMap<string, TrustedKey>,
  what: 'descriptor' | 'derivation',
): Verdict {
  if (s.covers !== undefined && s.covers !== what)
    return {
      ok: false,
      code: 'SIGNATURE_INVALID',
      reason: `signature by key '${s.keyName}' covers '${String(s.covers)}', which is not a signature kind this check accepts`,
    };
  const k = keys.get(s.keyName);
  if (!k)
    return {
      ok: false,
      code: 'KEY_UNTRUSTED',
      reason: `signed by key '${s.keyName}', which is not in the trust store (add it with 'lse trust add ${s.keyName}.pub')`,
    };
  if (k.revoked) return { ok: false, code: 'KEY_REVOKED', reason: `signature by key '${s.keyName}' is revoked` };
  if (!verifyBytes(bytes, Buffer.from(s.sig, 'base64'), Buffer.from(k.publicKey, 'base64'))) {
    return {
      ok: false,
      code: 'SIGNATURE_INVALID',
      reason:
        what === 'descriptor'
          ? `signature by key '${s.keyName}' does not verify (descriptor or signature altered)`
          : `derivation signature by key '${s.keyName}' does not verify (metadata.derive or the name altered, or the signature is another fragment's)`,
    };
  }
  if (!k.scopes.some((p) => scopeMatches(p, name))) {
    return {
      ok: false,
      code: 'KEY_OUT_OF_SCOPE',
      reason: `key '${s.keyName}' may only sign ${k.scopes.map((p) => `'${p}'`).join(', ')}, not '${name}'`,
    };
  }
  return { ok: true, keyName: s.keyName };
}
