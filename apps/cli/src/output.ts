import { isLseError, type ErrorCode } from '@lse/core';

/**
 * Exit codes (stable; scripts rely on them):
 *   0 success
 *   1 the operation failed for another reason (I/O, internal)
 *   2 usage or invalid input: bad flags, invalid manifest, bad version or constraint, output exists
 *   3 resolution failed: unsatisfiable manifest, no variant for the platform, unknown base/fragment
 *   4 verification failed: signature, trust, digest, size, unsafe tar, path conflict
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, resolution: 3, verification: 4 } as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  USAGE: EXIT.usage, MANIFEST_INVALID: EXIT.usage, CONSTRAINT_INVALID: EXIT.usage, VERSION_INVALID: EXIT.usage,
  CONFIG_INVALID: EXIT.usage, OUTPUT_EXISTS: EXIT.usage, KEY_INVALID: EXIT.usage, LAYOUT_INVALID: EXIT.usage, BASE_INVALID: EXIT.usage,
  UNSATISFIABLE: EXIT.resolution, NO_VARIANT: EXIT.resolution, BASE_UNKNOWN: EXIT.resolution, FRAGMENT_UNKNOWN: EXIT.resolution,
  SIGNATURE_INVALID: EXIT.verification, KEY_UNTRUSTED: EXIT.verification, KEY_REVOKED: EXIT.verification, KEY_OUT_OF_SCOPE: EXIT.verification,
  DIGEST_MISMATCH: EXIT.verification, SIZE_MISMATCH: EXIT.verification, TAR_UNSAFE: EXIT.verification, TAR_INVALID: EXIT.verification,
  FRAGMENT_INVALID: EXIT.verification, PATH_CONFLICT: EXIT.verification, BLOB_UNKNOWN: EXIT.verification,
  LAYER_MISMATCH: EXIT.verification, IMAGE_INVALID: EXIT.verification,
};

export function exitCodeFor(e: unknown): number {
  return isLseError(e) ? (BY_CODE[e.code] ?? EXIT.failed) : EXIT.failed;
}

export interface Out {
  json: boolean;
  quiet: boolean;
  /** The command's result on stdout (a line, or JSON with --json). */
  result(text: string, json: unknown): void;
  /** Human progress on stderr (silent with --json or --quiet). */
  progress(text: string): void;
}

export function makeOut(json: boolean, quiet: boolean): Out {
  return {
    json,
    quiet,
    result(text, data) {
      process.stdout.write(json ? JSON.stringify(data, null, 2) + '\n' : text.endsWith('\n') || text === '' ? text : text + '\n');
    },
    progress(text) {
      if (!json && !quiet) process.stderr.write(text + '\n');
    },
  };
}

/** Prints an error the way a person (or, with --json, a script) can act on, returns the exit code. */
export function reportError(e: unknown, json: boolean): number {
  const code = exitCodeFor(e);
  if (json) {
    const body = isLseError(e) ? e.toJSON() : { code: 'INTERNAL', message: (e as Error)?.message ?? String(e) };
    process.stdout.write(JSON.stringify({ error: body, exitCode: code }, null, 2) + '\n');
  } else {
    const msg = isLseError(e) ? `${e.message}` : `internal error: ${(e as Error)?.stack ?? String(e)}`;
    process.stderr.write(`lse: error: ${msg}\n`);
  }
  return code;
}
