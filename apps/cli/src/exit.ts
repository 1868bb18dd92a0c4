/**
 * Exit codes (stable; scripts rely on them):
 *   0 success
 *   1 the operation failed for another reason (I/O, internal)
 *   2 usage or invalid input: bad flags, invalid manifest, bad version or constraint, output exists
 *   3 resolution failed: unsatisfiable manifest, no variant for the platform, unknown base/fragment/blob
 *   4 verification failed: signature, trust, digest, size, unsafe tar, path conflict
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, resolution: 3, verification: 4 } as const;

/** The exit code a command chose itself (`lse node run` passes the container's through). */
export const nodeExit: { code?: number } = {};
