/**
 * Every error LSE raises on purpose is an {@link LseError}: a stable `code` that scripts and the
 * gateway map to exit codes and HTTP/OCI bodies in one place, a message a person can act on, and
 * structured `details` with the context (fragment, digest, field path, ...).
 */
export type ErrorCode =
  | 'MANIFEST_INVALID'
  | 'CONSTRAINT_INVALID'
  | 'VERSION_INVALID'
  | 'UNSATISFIABLE'
  | 'NO_VARIANT'
  | 'FRAGMENT_UNKNOWN'
  | 'FRAGMENT_INVALID'
  | 'TAR_UNSAFE'
  | 'TAR_INVALID'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'BLOB_UNKNOWN'
  | 'SIGNATURE_INVALID'
  | 'KEY_UNTRUSTED'
  | 'KEY_REVOKED'
  | 'KEY_OUT_OF_SCOPE'
  | 'KEY_INVALID'
  | 'PATH_CONFLICT'
  | 'BASE_UNKNOWN'
  | 'BASE_INVALID'
  | 'LAYOUT_INVALID'
  | 'USAGE'
  | 'CONFIG_INVALID'
  | 'OUTPUT_EXISTS'
  | 'DIGEST_INVALID'
  | 'SYNTHESIS_UNKNOWN'
  | 'LEASE_GONE'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'TOO_LARGE'
  | 'NOT_FOUND'
  | 'UNAVAILABLE'
  | 'SNAPSHOT_NOT_FOUND'
  | 'SNAPSHOT_EXISTS'
  | 'SNAPSHOT_IN_USE'
  | 'SNAPSHOT_INVALID'
  | 'IMAGE_INVALID'
  | 'LAYER_MISMATCH'
  | 'DEBIAN_UNSIGNED'
  | 'DEBIAN_SIGNATURE_INVALID'
  | 'DEBIAN_KEY_UNKNOWN'
  | 'DEBIAN_RELEASE_EXPIRED'
  | 'DEBIAN_RELEASE_ROLLBACK'
  | 'DEBIAN_INDEX_MISMATCH'
  | 'DEBIAN_CHAIN_UNVERIFIED'
  | 'DEBIAN_PROOF_UNKNOWN'
  | 'INTERNAL';

/**
 * What kind of failure an error is (containerd's errdefs idea): every interface maps *kinds*, in
 * one place each (HTTP and OCI bodies in the gateway, exit codes in the CLI, redelivery in the
 * pipeline), so a new code needs only its row in {@link KIND_OF}.
 *  - invalid: the request or input is malformed (fix it and ask again)
 *  - unresolvable: the manifest cannot be satisfied by the catalog
 *  - not_acceptable: nothing fits the runtime profile
 *  - not_found: a named thing (base, fragment, blob, synthesis) does not exist
 *  - untrusted: content failed verification (signature, trust, digest, tar policy, conflicts)
 *  - conflict: the target already exists
 *  - gone: it existed, but not any more (a released lease)
 *  - unauthenticated / denied: no valid credentials / not allowed with them
 *  - too_large: the input is over a limit
 *  - unavailable: a server or network did not answer; worth retrying (the only retryable kind)
 *  - internal: a bug or an unexpected state
 */
export type ErrorKind =
  | 'invalid'
  | 'unresolvable'
  | 'not_acceptable'
  | 'not_found'
  | 'untrusted'
  | 'conflict'
  | 'gone'
  | 'unauthenticated'
  | 'denied'
  | 'too_large'
  | 'unavailable'
  | 'internal';

export const KIND_OF: Readonly<Record<ErrorCode, ErrorKind>> = {
  MANIFEST_INVALID: 'invalid',
  CONSTRAINT_INVALID: 'invalid',
  VERSION_INVALID: 'invalid',
  KEY_INVALID: 'invalid',
  BASE_INVALID: 'invalid',
  LAYOUT_INVALID: 'invalid',
  USAGE: 'invalid',
  CONFIG_INVALID: 'invalid',
  DIGEST_INVALID: 'invalid',
  UNSATISFIABLE: 'unresolvable',
  NO_VARIANT: 'not_acceptable',
  FRAGMENT_UNKNOWN: 'not_found',
  BASE_UNKNOWN: 'not_found',
  BLOB_UNKNOWN: 'not_found',
  SYNTHESIS_UNKNOWN: 'not_found',
  NOT_FOUND: 'not_found',
  FRAGMENT_INVALID: 'untrusted',
  TAR_UNSAFE: 'untrusted',
  TAR_INVALID: 'untrusted',
  DIGEST_MISMATCH: 'untrusted',
  SIZE_MISMATCH: 'untrusted',
  SIGNATURE_INVALID: 'untrusted',
  KEY_UNTRUSTED: 'untrusted',
  KEY_REVOKED: 'untrusted',
  KEY_OUT_OF_SCOPE: 'untrusted',
  PATH_CONFLICT: 'untrusted',
  OUTPUT_EXISTS: 'conflict',
  LEASE_GONE: 'gone',
  UNAUTHORIZED: 'unauthenticated',
  DENIED: 'denied',
  TOO_LARGE: 'too_large',
  UNAVAILABLE: 'unavailable',
  SNAPSHOT_NOT_FOUND: 'not_found',
  SNAPSHOT_EXISTS: 'conflict',
  SNAPSHOT_IN_USE: 'conflict',
  SNAPSHOT_INVALID: 'invalid',
  IMAGE_INVALID: 'invalid',
  LAYER_MISMATCH: 'untrusted',
  DEBIAN_UNSIGNED: 'invalid',
  DEBIAN_SIGNATURE_INVALID: 'untrusted',
  DEBIAN_KEY_UNKNOWN: 'untrusted',
  DEBIAN_RELEASE_EXPIRED: 'untrusted',
  DEBIAN_RELEASE_ROLLBACK: 'untrusted',
  DEBIAN_INDEX_MISMATCH: 'untrusted',
  DEBIAN_CHAIN_UNVERIFIED: 'untrusted',
  /** A fragment or release names a proof blob (InRelease, Release.gpg, Packages) the store does not hold. */
  DEBIAN_PROOF_UNKNOWN: 'untrusted',
  INTERNAL: 'internal',
};

export class LseError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  /** Whether trying the same thing again later may succeed (default: the kind is `unavailable`). */
  readonly retryable: boolean;
  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown; retryable?: boolean },
  ) {
    super(message, options);
    this.name = 'LseError';
    this.code = code;
    this.details = details;
    this.retryable = options?.retryable ?? KIND_OF[code] === 'unavailable';
  }
  get kind(): ErrorKind {
    return KIND_OF[this.code] ?? 'internal';
  }
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isLseError(e: unknown, code?: ErrorCode): e is LseError {
  return e instanceof LseError && (code === undefined || e.code === code);
}

/** The kind of any thrown value: an LseError's own, `internal` for anything else. */
export function errorKind(e: unknown): ErrorKind {
  return isLseError(e) ? e.kind : 'internal';
}

/**
 * Whether a failure is worth a redelivery. An LseError says so itself (`retryable`); anything
 * else was not raised on purpose: a driver's network error (MongoDB, fetch) is the common case,
 * so it counts as retryable, and a bug among them costs only bounded redeliveries before the
 * synthesis fails with the reason.
 */
export function isRetryable(e: unknown): boolean {
  return isLseError(e) ? e.retryable : true;
}

/** Is `code` one of LSE's error codes (e.g. one read back from an event or a REST body)? */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(KIND_OF, code);
}

/** Rebuilds an LseError from its JSON form (events, REST bodies); an unknown code becomes INTERNAL. */
export function lseErrorFrom(body: { code?: unknown; message?: unknown; details?: unknown }): LseError {
  const code = isErrorCode(body.code) ? body.code : 'INTERNAL';
  const details = body.details && typeof body.details === 'object' ? (body.details as Record<string, unknown>) : {};
  return new LseError(
    code,
    typeof body.message === 'string' ? body.message : String(body.code ?? 'error'),
    isErrorCode(body.code) ? details : { ...details, code: body.code },
  );
}
