/**
 * The image signing key: ECDSA P-256 (cosign's native key type; fragment signatures stay
 * Ed25519). Keys are PEM (PKCS#8 private, SPKI public) as `cosign verify --key` reads them.
 *
 * Signatures are deterministic (RFC 6979 nonces, @noble/curves): the same key and payload give the
 * same bytes, so the signature artifact of an image has one digest however often and wherever it
 * is made. `node:crypto` parses and exports the PEM; noble signs (node's ECDSA nonces are random).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { p256 } from '@noble/curves/p256';
import { sha256Digest } from '../digest';
import { LseError } from '../errors';

export interface ImageSigningKey {
  /** SPKI PEM of the public key (what `cosign verify --key` takes). */
  publicKeyPem: string;
  /** `sha256:<hex>` of the DER public key: names the key in signatures and logs (never the key itself). */
  keyId: string;
  /** DER (ASN.1) ECDSA P-256 signature over SHA-256 of `data`, deterministic. */
  sign(data: Buffer): Buffer;
}

/** Parses a PKCS#8 (or SEC1) PEM P-256 private key. KEY_INVALID when it is not one. */
export function imageSigningKeyFromPem(pem: string, origin = 'the image signing key'): ImageSigningKey {
  let jwk: { crv?: string; d?: string };
  let spki: Buffer;
  try {
    const priv = createPrivateKey(pem);
    jwk = priv.export({ format: 'jwk' }) as { crv?: string; d?: string };
    spki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  } catch (e) {
    throw new LseError(
      'KEY_INVALID',
      `${origin} is not a PEM private key (${(e as Error).message}); make one with: openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt`,
    );
  }
  if (jwk.crv !== 'P-256' || !jwk.d)
    throw new LseError(
      'KEY_INVALID',
      `${origin} must be an ECDSA P-256 key (cosign's key type), not ${jwk.crv ?? 'a non-EC key'}`,
    );
  const d = Buffer.from(jwk.d, 'base64url');
  const publicKeyPem = createPublicKey({ key: spki, format: 'der', type: 'spki' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  return {
    publicKeyPem,
    keyId: sha256Digest(spki),
    sign: (data) =>
      Buffer.from(p256.sign(createHash('sha256').update(data).digest(), d, { lowS: true }).toDERRawBytes()),
  };
}

/** A new P-256 key as PKCS#8 PEM (the local stack's dev key). */
export function generateImageSigningKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

/** Checks a DER ECDSA signature over SHA-256 of `data` with an SPKI PEM public key. */
export function verifyImageSignature(publicKeyPem: string, data: Buffer, signature: Buffer): boolean {
  return nodeVerify('sha256', data, createPublicKey(publicKeyPem), signature);
}
