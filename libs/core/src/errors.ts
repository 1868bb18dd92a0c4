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
  | 'SNAPSHOT_NOT_FOUND'
  | 'SNAPSHOT_EXISTS'
  | 'SNAPSHOT_IN_USE'
  | 'SNAPSHOT_INVALID'
  | 'IMAGE_INVALID'
  | 'LAYER_MISMATCH'
  | 'INTERNAL';

export class LseError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LseError';
    this.code = code;
    this.details = details;
  }
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isLseError(e: unknown, code?: ErrorCode): e is LseError {
  return e instanceof LseError && (code === undefined || e.code === code);
}
