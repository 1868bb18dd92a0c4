import {
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import nacl from 'tweetnacl';
import { LseError } from '../errors';

/**
 * Ed25519 keys written Nix-style: `NAME:base64`. A public key is the 32-byte key; a secret key is
 * tweetnacl's 64-byte form (seed followed by public key).
 *
 * tweetnacl is the reference implementation (key generation, cross-checks in tests). Signing and
 * verification on the hot path use node:crypto with KeyObjects cached per key, which is about two
 * orders of magnitude faster (see bench/); both produce and accept identical signatures, since
 * Ed25519 signing is deterministic.
 */
export interface PublicKey {
  name: string;
  key: Buffer; // 32 bytes
}
export interface SecretKey {
  name: string;
  key: Buffer; // 64 bytes: seed || public
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function assertKeyName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new LseError(
      'KEY_INVALID',
      `key name '${name}' is not valid: use letters, digits, '.', '_' or '-' (at most 128)`,
      { name },
    );
  }
}

export function generateKeyPair(name: string): { publicKey: PublicKey; secretKey: SecretKey } {
  assertKeyName(name);
  const kp = nacl.sign.keyPair();
  return {
    publicKey: { name, key: Buffer.from(kp.publicKey) },
    secretKey: { name, key: Buffer.from(kp.secretKey) },
  };
}

export function formatKey(k: PublicKey | SecretKey): string {
  return `${k.name}:${k.key.toString('base64')}`;
}

function parseNamed(text: string, bytes: number, what: string): { name: string; key: Buffer } {
  const t = text.trim();
  const i = t.lastIndexOf(':');
  if (i <= 0) throw new LseError('KEY_INVALID', `${what} must look like NAME:base64, got '${t.slice(0, 40)}'`);
  const name = t.slice(0, i);
  assertKeyName(name);
  const b64 = t.slice(i + 1);
  const key = Buffer.from(b64, 'base64');
  if (key.length !== bytes || key.toString('base64') !== b64) {
    throw new LseError('KEY_INVALID', `${what} '${name}' must hold ${bytes} bytes of base64, got ${key.length}`, {
      name,
    });
  }
  return { name, key };
}

export function parsePublicKey(text: string): PublicKey {
  return parseNamed(text, 32, 'public key');
}

export function parseSecretKey(text: string): SecretKey {
  const k = parseNamed(text, 64, 'secret key');
  const derived = Buffer.from(nacl.sign.keyPair.fromSeed(k.key.subarray(0, 32)).publicKey);
  if (!derived.equals(k.key.subarray(32))) {
    throw new LseError('KEY_INVALID', `secret key '${k.name}' is corrupt: its public half does not match its seed`, {
      name: k.name,
    });
  }
  return k;
}

export function publicKeyOf(sk: SecretKey): PublicKey {
  return { name: sk.name, key: Buffer.from(sk.key.subarray(32)) };
}

// DER prefixes that wrap a raw Ed25519 key as PKCS#8 (private) and SPKI (public), RFC 8410.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const publicCache = new Map<string, KeyObject>();
const privateCache = new Map<string, KeyObject>();

function publicKeyObject(raw: Buffer): KeyObject {
  const k = raw.toString('base64');
  let ko = publicCache.get(k);
  if (!ko) {
    ko = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    if (publicCache.size > 10_000) publicCache.clear();
    publicCache.set(k, ko);
  }
  return ko;
}

function privateKeyObject(sk: SecretKey): KeyObject {
  const k = sk.key.toString('base64');
  let ko = privateCache.get(k);
  if (!ko) {
    ko = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, sk.key.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
    privateCache.set(k, ko);
  }
  return ko;
}

/** Ed25519 signature (64 bytes) with node:crypto. */
export function signBytes(data: Buffer, sk: SecretKey): Buffer {
  return cryptoSign(null, data, privateKeyObject(sk));
}

/** Ed25519 verification with node:crypto and a cached KeyObject. */
export function verifyBytes(data: Buffer, signature: Buffer, publicKey: Buffer): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  return cryptoVerify(null, data, publicKeyObject(publicKey), signature);
}

/** Reference implementation (tweetnacl), used by tests and the benchmark's baseline. */
export const reference = {
  sign(data: Buffer, sk: SecretKey): Buffer {
    return Buffer.from(nacl.sign.detached(data, sk.key));
  },
  verify(data: Buffer, signature: Buffer, publicKey: Buffer): boolean {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    return nacl.sign.detached.verify(data, signature, publicKey);
  },
};
