import type { Fragment, FragmentDescriptor, Signature } from '../model';
import { LseError } from '../errors';
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

type Verdict =
  | { ok: true; keyName: string }
  | { ok: false; code: 'KEY_UNTRUSTED' | 'KEY_REVOKED' | 'KEY_OUT_OF_SCOPE' | 'SIGNATURE_INVALID'; reason: string };

// Which refusal to report when every signature fails: the most specific one first.
const PRIORITY = ['KEY_REVOKED', 'SIGNATURE_INVALID', 'KEY_OUT_OF_SCOPE', 'KEY_UNTRUSTED'] as const;

/**
 * Checks that a fragment is what its publisher signed: the id is the hash of the descriptor, and
 * at least one signature verifies under a trusted, unrevoked key whose scope covers the name.
 * Throws an LseError naming the fragment and the reason otherwise; returns the accepting key.
 */
export function verifyFragment(f: Fragment, keys: ReadonlyMap<string, TrustedKey>): string {
  const bytes = canonicalBytes(f.descriptor);
  const actual = sha256Digest(bytes);
  if (actual !== f.id) {
    throw new LseError(
      'FRAGMENT_INVALID',
      `${fragmentLabel(f)}: descriptor does not match its id (it was altered after signing; it hashes to ${shortDigest(actual)}…); re-import the fragment from its publisher`,
      { fragment: f.id, actual },
    );
  }
  if (f.signatures.length === 0) {
    throw new LseError(
      'KEY_UNTRUSTED',
      `${fragmentLabel(f)}: carries no signature; sign it with 'lse fragment pack --key'`,
      { fragment: f.id },
    );
  }
  const verdicts = f.signatures.map((s) => judge(bytes, s, f.descriptor.name, keys));
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

function judge(bytes: Buffer, s: Signature, name: string, keys: ReadonlyMap<string, TrustedKey>): Verdict {
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
      reason: `signature by key '${s.keyName}' does not verify (descriptor or signature altered)`,
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
