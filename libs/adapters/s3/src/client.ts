import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { LseError } from '@lse/core';

/** Where the S3-compatible layer cache is and how to sign in (extra fields, e.g. `bucket`, are ignored). */
export interface S3Settings {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * An S3 client for MinIO and AWS alike: path-style addressing (MinIO has no virtual-host buckets
 * by default), and checksums only where an operation requires them, because the store sends its own
 * `x-amz-checksum-sha256` and verifies every read itself.
 */
export function makeS3Client(settings: S3Settings): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // A server that accepts a connection and then says nothing must not hold a stage forever: a
    // connection is given 5 s, a socket 60 s without a byte (a timeout is an UNAVAILABLE, retried).
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000 },
  });
}

/** HTTP status of an SDK error, if it got that far. */
export function s3Status(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

/** The S3 error code of an SDK error (`NoSuchKey`, `PreconditionFailed`, ...), if any. */
export function s3Code(e: unknown): string | undefined {
  const err = e as { name?: string; Code?: string } | null;
  return err?.Code ?? err?.name;
}

/** Wraps an unexpected S3 failure in an LseError that says which call on which object failed. */
export function s3Failure(what: string, where: string, e: unknown): LseError {
  const status = s3Status(e);
  const code = s3Code(e);
  const reason = e instanceof Error ? e.message : String(e);
  // No answer (connection refused, reset, timeout) or a 5xx/429: the cache is unavailable, and the
  // operation is worth repeating; a 4xx other than 429 (credentials, bucket) is not.
  const unavailable = status === undefined || status >= 500 || status === 429;
  return new LseError(
    unavailable ? 'UNAVAILABLE' : 'INTERNAL',
    `S3 ${what} of ${where} failed (${code ?? 'error'}${status ? `, HTTP ${status}` : ''}: ${reason}); check that S3_ENDPOINT is reachable and the credentials may use the bucket`,
    { where, status, s3Code: code },
    { cause: e },
  );
}

/** Creates the bucket unless it exists already (safe to call from many processes at once). */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (e) {
    if (s3Status(e) !== 404) throw s3Failure('HeadBucket', `bucket '${bucket}'`, e);
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (e) {
    // Another process created it between our HEAD and CREATE.
    if (s3Code(e) === 'BucketAlreadyOwnedByYou') return;
    throw s3Failure('CreateBucket', `bucket '${bucket}'`, e);
  }
}
