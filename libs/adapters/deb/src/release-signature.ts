/**
 * The cryptographic links of Debian's chain of trust (openpgp.js): an `InRelease` (cleartext
 * signed) or `Release` + detached `Release.gpg` checked against a binary OpenPGP keyring such as
 * `/usr/share/keyrings/debian-archive-keyring.gpg`, and the whole chain of a fragment imported
 * from a signed index (core debian/release.ts describes the chain and the proof it carries).
 *
 * Deterministic: a signature is judged at its own creation time (not "now"), so a proof that
 * verified once verifies on any machine later with the same keyring, offline.
 */
import { readFile } from 'node:fs/promises';
import type * as OpenPgp from 'openpgp' with { 'resolution-mode': 'import' };
import {
  LseError,
  isLseError,
  debDerivationOf,
  debianProofOf,
  fragmentId,
  fragmentLabel,
  indexDescriptor,
  paragraphAt,
  parseRelease,
  sha256Digest,
  type BlobStore,
  type ControlParagraph,
  type DebianProof,
  type DebianRelease,
  type Fragment,
} from '@lse/core';

// openpgp ships ESM types with a CommonJS build; this package compiles to CommonJS
// eslint-disable-next-line @typescript-eslint/no-require-imports
const openpgp = require('openpgp') as typeof OpenPgp;

export const DEFAULT_DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** An OpenPGP keyring, read once. */
export interface DebianKeyring {
  file: string;
  keys: OpenPgp.PublicKey[];
}

export async function readDebianKeyring(file: string): Promise<DebianKeyring> {
  const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new LseError(
      'CONFIG_INVALID',
      `cannot read the Debian archive keyring ${file} (${e.code ?? e.message}); install debian-archive-keyring or point LSE_DEBIAN_KEYRING / --keyring at a keyring file`,
      { file },
    );
  });
  const keys = await (
    isArmored(bytes)
      ? openpgp.readKeys({ armoredKeys: bytes.toString('utf8') })
      : openpgp.readKeys({ binaryKeys: new Uint8Array(bytes) })
  ).catch((e: Error) => {
    throw new LseError(
      'CONFIG_INVALID',
      `${file} is not an OpenPGP keyring (${e.message}); give a .gpg (binary) or .asc (armored) keyring`,
      { file },
    );
  });
  return { file, keys };
}

function isArmored(b: Buffer): boolean {
  return b.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP');
}

export interface SignedRelease {
  release: DebianRelease;
  /** Fingerprints (hex) of the keyring's primary keys whose (sub)keys made a valid signature. */
  signedBy: string[];
}

/**
 * Checks an InRelease's signature against the keyring and returns the fields of what was signed.
 * DEBIAN_SIGNATURE_INVALID when it is not signed or a signature does not verify (altered text);
 * DEBIAN_KEY_UNKNOWN when it is signed only by keys the keyring does not hold.
 * With `detached` (the bytes of Release.gpg), `bytes` is a plain Release file.
 */
export async function verifyInRelease(
  bytes: Buffer,
  keyring: DebianKeyring,
  label = 'InRelease',
  detached?: Buffer,
): Promise<SignedRelease> {
  let verified: OpenPgp.VerifyMessageResult<string>;
  try {
    if (detached) {
      const message = await openpgp.createMessage({ text: bytes.toString('utf8') });
      const signature = isArmored(detached)
        ? await openpgp.readSignature({ armoredSignature: detached.toString('utf8') })
        : await openpgp.readSignature({ binarySignature: new Uint8Array(detached) });
      verified = await openpgp.verify({
        message,
        signature,
        verificationKeys: keyring.keys,
        date: judgedAt(signature.packets),
      });
    } else {
      const message = await openpgp.readCleartextMessage({ cleartextMessage: bytes.toString('utf8') });
      // openpgp.js keeps the parsed signature on the message (not in its typings)
      const signature = (message as unknown as { signature?: OpenPgp.Signature }).signature;
      verified = await openpgp.verify({
        message,
        verificationKeys: keyring.keys,
        date: judgedAt(signature?.packets ?? []),
      });
    }
  } catch (e) {
    throw new LseError(
      'DEBIAN_SIGNATURE_INVALID',
      `${label} is not an OpenPGP-signed Release (${(e as Error).message}); give the InRelease file (or Release with its Release.gpg), not the plain Release`,
      { label },
    );
  }
  const result = verified;
  const signedBy: string[] = [];
  const unknown: string[] = [];
  const invalid: string[] = [];
  for (const s of result.signatures) {
    const id = s.keyID.toHex();
    const primary = keyring.keys.find((k) => k.getKeys(s.keyID).length > 0);
    if (!primary) {
      unknown.push(id);
      continue;
    }
    try {
      await s.verified;
      signedBy.push(primary.getFingerprint());
    } catch (e) {
      invalid.push(`${id}: ${(e as Error).message}`);
    }
  }
  if (invalid.length) {
    throw new LseError(
      'DEBIAN_SIGNATURE_INVALID',
      `${label}: signature by key ${invalid[0]} (the signed text was altered, or the signature is damaged); use the file exactly as the archive published it`,
      { label, invalid },
    );
  }
  if (!signedBy.length) {
    throw new LseError(
      'DEBIAN_KEY_UNKNOWN',
      `${label} is signed by key(s) ${unknown.join(', ') || '(none)'}, none of which is in the keyring ${keyring.file}; give the keyring of this archive (--keyring / LSE_DEBIAN_KEYRING)`,
      { label, keys: unknown, keyring: keyring.file },
    );
  }
  return { release: parseRelease(result.data, label), signedBy };
}

/**
 * The fields of a release WITHOUT checking its signature: only to tell which release lists a
 * Packages file before the party that does check it (the gateway) is asked. With `detached`,
 * `bytes` is a plain Release file. DEBIAN_SIGNATURE_INVALID when an InRelease is not cleartext-signed.
 */
export async function unverifiedRelease(bytes: Buffer, label = 'InRelease', detached = false): Promise<DebianRelease> {
  if (detached) return parseRelease(bytes.toString('utf8'), label);
  let text: string;
  try {
    text = (await openpgp.readCleartextMessage({ cleartextMessage: bytes.toString('utf8') })).getText();
  } catch (e) {
    throw new LseError(
      'DEBIAN_SIGNATURE_INVALID',
      `${label} is not an OpenPGP-signed Release (${(e as Error).message}); give the InRelease file (or Release with its Release.gpg), not the plain Release`,
      { label },
    );
  }
  return parseRelease(text, label);
}

/** A signature is judged at its own creation time: deterministic, and a key that expired later still counts. */
function judgedAt(packets: Iterable<{ created: Date | null }>): Date {
  const created = [...packets].map((p) => p.created?.getTime() ?? 0);
  return new Date(Math.max(0, ...created) + 1000);
}

/** One link of a checked chain, for `lse verify` to show. */
export interface ChainLink {
  link: 'archive-key' | 'in-release' | 'packages' | 'paragraph' | 'descriptor' | 'deb';
  detail: string;
}

/** Bounds of a DebianChainVerifier's per-process caches. */
export interface ChainCacheLimits {
  /** Verified InRelease files kept (small; one per suite and import). Default 64. */
  releases?: number;
  /** Packages files kept in memory (a whole bookworm main list is ~50 MB). Default 4. */
  packages?: number;
  /** Fragments whose chain verified, kept with their links. Default 20,000. */
  fragments?: number;
}

/** A Map that forgets its oldest entry beyond `max` (insertion order; a hit moves an entry to the end). */
class Bounded<V> {
  private readonly m = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    while (this.m.size > this.max) this.m.delete(this.m.keys().next().value!);
  }
  delete(k: string): void {
    this.m.delete(k);
  }
}

/** A verified chain: its links, and whether the LSE key must still vouch for the whole descriptor. */
export interface ChainVerdict {
  links: ChainLink[];
  lseKeyNeeded: boolean;
}

/**
 * Caches what many fragments of one import share (the InRelease's verdict, the Packages bytes),
 * so checking a whole index reads and verifies each once, and the verdict of every fragment
 * whose chain verified (a fragment id, its content-addressed proof blobs and the keyring decide
 * it), so a service checks each fragment's chain once per process. All caches are bounded
 * ({@link ChainCacheLimits}); failures are not kept (a proof blob stored later is found).
 *
 * `keyring` is a keyring already read, or a keyring file read on first use (the services:
 * LSE_DEBIAN_KEYRING); a file that cannot be read refuses each chain with
 * DEBIAN_CHAIN_UNVERIFIED naming it, and is tried again for the next fragment.
 */
export class DebianChainVerifier {
  private readonly releases: Bounded<Promise<SignedRelease>>;
  private readonly packages: Bounded<Promise<Buffer>>;
  private readonly verdicts: Bounded<Promise<ChainVerdict>>;
  private readonly hashed = new WeakSet<object>();
  private keyringP: Promise<DebianKeyring> | undefined;
  constructor(
    private readonly blobs: BlobStore,
    private readonly keyring: DebianKeyring | string,
    limits: ChainCacheLimits = {},
  ) {
    this.releases = new Bounded(limits.releases ?? 64);
    this.packages = new Bounded(limits.packages ?? 4);
    this.verdicts = new Bounded(limits.fragments ?? 20_000);
    if (typeof keyring !== 'string') this.keyringP = Promise.resolve(keyring);
  }

  /** The keyring file (or the file a given keyring was read from). */
  get keyringFile(): string {
    return typeof this.keyring === 'string' ? this.keyring : this.keyring.file;
  }

  private keys(): Promise<DebianKeyring> {
    if (!this.keyringP) {
      const file = this.keyringFile;
      const p = readDebianKeyring(file).catch((e: Error) => {
        this.keyringP = undefined;
        throw new LseError(
          'DEBIAN_CHAIN_UNVERIFIED',
          `Debian's chain of trust cannot be checked: ${e.message}`,
          { keyring: file },
          { cause: e },
        );
      });
      this.keyringP = p;
    }
    return this.keyringP;
  }

  /** {@link verifyChain}, once per fragment id while the verdict is cached. */
  verify(f: Fragment): Promise<ChainVerdict> {
    const kept = this.verdicts.get(f.id);
    // a kept verdict holds for this descriptor only if it hashes to the id (known for the very
    // objects verified: the services' record memo hands out the same object every time)
    if (kept && (this.hashed.has(f.descriptor) || fragmentId(f.descriptor) === f.id)) {
      this.hashed.add(f.descriptor);
      return kept;
    }
    const r = this.verifyChain(f);
    if (!kept) this.verdicts.set(f.id, r);
    r.then(
      () => this.hashed.add(f.descriptor),
      () => (kept ? undefined : this.verdicts.delete(f.id)),
    );
    return r;
  }

  /**
   * Verifies a fragment's chain: archive key → InRelease signature → Packages SHA256 in it → the
   * paragraph at the proof's offset → then
   *  - a fragment imported from an index (`source.type` debian-index, blob = the .deb): the
   *    descriptor recomputed from that paragraph (so its .deb SHA256, relations and derivation)
   *    hashes to the fragment id. No LSE key is involved (`lseKeyNeeded` false). The .deb and the
   *    derivation are checked where the .deb is read (readVerifiedEntries / the verifier stage).
   *  - a fragment imported from a .deb (`import apt`, `source.type` deb): the paragraph names
   *    this package and the SHA256 and size of the .deb it was made from. Its content (the tar
   *    LSE derived) is vouched for by the LSE signature, still required (`lseKeyNeeded` true).
   * Throws the first broken link.
   */
  async verifyChain(f: Fragment): Promise<ChainVerdict> {
    const d = f.descriptor;
    const proof = debianProofOf(d.source);
    if (!proof)
      throw new LseError(
        'DEBIAN_UNSIGNED',
        `${fragmentLabel(f)} carries no Debian proof (source.debian): it was not imported from a signed index`,
        { fragment: f.id },
      );
    const keyring = await this.keys();
    const signed = await this.release(proof, keyring);
    const entry = signed.release.sha256.get(proof.path);
    const packages = await this.packagesOf(proof);
    const hex = proof.packages.slice('sha256:'.length);
    if (!entry || entry.sha256 !== hex || entry.size !== packages.length) {
      throw new LseError(
        'DEBIAN_INDEX_MISMATCH',
        `${fragmentLabel(f)}: the InRelease does not list ${proof.path} with sha256 ${hex.slice(0, 12)}… and ${packages.length} bytes; the proof or the stored Packages file was altered`,
        { fragment: f.id, path: proof.path },
      );
    }
    const links: ChainLink[] = [
      { link: 'archive-key', detail: `${signed.signedBy.join(', ')} (keyring ${keyring.file})` },
      {
        link: 'in-release',
        detail: `${proof.inRelease} ${proof.suite} dated ${signed.release.date}${signed.release.validUntil ? `, valid until ${signed.release.validUntil}` : ''}`,
      },
      { link: 'packages', detail: `${proof.packages} ${proof.path} (${packages.length} bytes)` },
    ];
    const derive = debDerivationOf(d);
    const repo = typeof d.source['repo'] === 'string' ? d.source['repo'] : undefined;
    let p: ControlParagraph;
    let id: string | undefined;
    try {
      p = paragraphAt(packages, proof.paragraph, `${proof.path} of ${proof.suite}`);
      if (d.source['type'] === 'debian-index')
        id = fragmentId(indexDescriptor(p, { ...(repo ? { repo } : {}), ...(derive ? { derive } : {}), proof }));
    } catch (e) {
      throw new LseError(
        'DEBIAN_INDEX_MISMATCH',
        `${fragmentLabel(f)}: bytes ${proof.paragraph.offset}+${proof.paragraph.length} of ${proof.path} are not a package paragraph (${(e as Error).message}); the proof was altered`,
        { fragment: f.id },
        { cause: e },
      );
    }
    links.push({
      link: 'paragraph',
      detail: `bytes ${proof.paragraph.offset}+${proof.paragraph.length}: ${p['Package']} ${p['Version']} ${p['Architecture']}`,
    });
    if (d.source['type'] === 'debian-index') {
      if (id !== f.id || fragmentId(d) !== f.id) {
        throw new LseError(
          'DEBIAN_INDEX_MISMATCH',
          `${fragmentLabel(f)}: the descriptor is not the one Debian's paragraph for ${p['Package'] ?? '?'} ${p['Version'] ?? ''} gives (it hashes to ${String(id).slice(0, 19)}…); the descriptor or its proof was altered`,
          { fragment: f.id, expected: id },
        );
      }
      links.push({
        link: 'descriptor',
        detail: `${f.id}: .deb ${d.blob.digest} (${d.blob.size} bytes), derivation merged-/usr ${derive?.mergedUsr ?? true}, epoch ${derive?.epoch ?? 0}`,
      });
      return { links, lseKeyNeeded: false };
    }
    const same =
      p['Package'] === d.name &&
      p['Version'] === d.version &&
      (p['SHA256'] ?? '').toLowerCase() === d.source['sha256'] &&
      Number(p['Size']) === d.source['size'] &&
      (p['Architecture'] === 'all' || p['Architecture'] === d.attributes.arch || d.attributes.arch === undefined);
    if (!same || fragmentId(d) !== f.id) {
      throw new LseError(
        'DEBIAN_INDEX_MISMATCH',
        `${fragmentLabel(f)}: Debian's paragraph (${p['Package'] ?? '?'} ${p['Version'] ?? ''}, .deb sha256 ${(p['SHA256'] ?? '?').slice(0, 12)}…) does not name the .deb this fragment was made from; the proof or the descriptor was altered`,
        { fragment: f.id },
      );
    }
    links.push({
      link: 'deb',
      detail: `${String(d.source['file'])} sha256:${String(d.source['sha256'])} (${String(d.source['size'])} bytes); its derived content is signed by the importer`,
    });
    return { links, lseKeyNeeded: true };
  }

  private release(proof: DebianProof, keyring: DebianKeyring): Promise<SignedRelease> {
    const key = `${proof.inRelease} ${proof.releaseGpg ?? ''}`;
    let r = this.releases.get(key);
    if (!r) {
      r = (async () => {
        const b = await this.verifiedBlob(proof.inRelease, 'InRelease');
        const gpg = proof.releaseGpg ? await this.verifiedBlob(proof.releaseGpg, 'Release.gpg') : undefined;
        return verifyInRelease(
          b,
          keyring,
          `${gpg ? 'Release' : 'InRelease'} ${proof.suite} (${proof.inRelease.slice(0, 19)}…)`,
          gpg,
        );
      })();
      this.releases.set(key, r);
      r.catch(() => this.releases.delete(key));
    }
    return r;
  }

  private packagesOf(proof: DebianProof): Promise<Buffer> {
    let r = this.packages.get(proof.packages);
    if (!r) {
      r = this.verifiedBlob(proof.packages, 'Packages file');
      this.packages.set(proof.packages, r);
      r.catch(() => this.packages.delete(proof.packages));
    }
    return r;
  }

  /** The blob, re-hashed here too (the chain does not rely on the store's own check). */
  private async verifiedBlob(digest: string, what: string): Promise<Buffer> {
    const b = await this.blobs.get(digest).catch((e: unknown) => {
      if (!isLseError(e, 'BLOB_UNKNOWN')) throw e;
      throw new LseError(
        'DEBIAN_CHAIN_UNVERIFIED',
        `Debian's chain of trust cannot be checked: the ${what} ${digest} named by the fragment's proof (source.debian) is not in the fragment blob store; import the index again with --release, which stores it`,
        { digest },
        { cause: e },
      );
    });
    if (sha256Digest(b) !== digest)
      throw new LseError('DIGEST_MISMATCH', `the stored ${what} ${digest} was altered`, { digest });
    return b;
  }
}
