/**
 * BlobStore on S3 (the distributed layer cache): one namespace prefix per store (`fragments/`,
 * `layers/`), objects at `<prefix>sha256/<hex>`.
 *
 * Writing, so that many fetchers/assemblers can race on the same digest safely:
 *  1. The bytes are checked against digest and size locally (checkBlob); nothing is sent otherwise.
 *  2. PutObject is conditional (`If-None-Match: *`) and carries `x-amz-checksum-sha256`, which the
 *     server checks before the object becomes visible, so bytes damaged in transit are refused
 *     (BadDigest → DIGEST_MISMATCH) and never stored.
 *  3. 412 PreconditionFailed means the object already exists: content addressing makes that the
 *     same bytes, so it is success (idempotent put, the object is not rewritten).
 *  4. 409 ConditionalRequestConflict means another writer of the same key is in flight: wait a
 *     little, HEAD; if the object is there now we are done, otherwise try the put again.
 *
 * Reading never trusts the bucket: `get` hashes the whole body, and a full `getStream` pipes it
 * through a StreamingDigestVerifier that fails the stream at the end if size or digest differ.
 * A ranged `getStream` cannot be verified (only part of the blob is read) — callers that need
 * integrity must read the whole blob.
 */
import { Readable, pipeline } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { LseError, StreamingDigestVerifier, checkBlob, isDigest, sha256Digest, type BlobStore } from '@lse/core';
import { s3Code, s3Failure, s3Status } from './client';

/** A byte range of a blob; `end` is inclusive (as in HTTP `Range: bytes=start-end`), omitted = to the end. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface BlobStream {
  /** The bytes. For a full read, the stream errors (DIGEST_MISMATCH/SIZE_MISMATCH) at the end if they are not the blob's. */
  stream: Readable;
  /** Size of the whole blob. */
  size: number;
  /** Bytes this stream carries (= size for a full read). */
  contentLength: number;
}

const CONFLICT_RETRIES = 5;
const CONFLICT_BACKOFF_MS = 50;
const HEX_KEY = /^[0-9a-f]{64}$/;

export class S3BlobStore implements BlobStore {
  /**
   * @param prefix namespace, ending in `/` (`fragments/`, `layers/`); blobs live at `<prefix>sha256/<hex>`.
   */
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/$/.test(prefix)) {
      throw new LseError(
        'USAGE',
        `S3 blob store prefix '${prefix}' must be one or more path segments ending in '/', e.g. 'layers/'`,
        { prefix },
      );
    }
  }

  /** The object key of a digest (`<prefix>sha256/<hex>`). */
  keyOf(digest: string): string {
    if (!isDigest(digest))
      throw new LseError('DIGEST_MISMATCH', `'${digest}' is not a sha256 digest (sha256:<64 hex>)`, { digest });
    return `${this.prefix}sha256/${digest.slice(7)}`;
  }

  private where(digest: string): string {
    return `s3://${this.bucket}/${this.keyOf(digest)}`;
  }

  async put(digest: string, data: Buffer, size?: number): Promise<void> {
    checkBlob(digest, data, size);
    const key = this.keyOf(digest);
    const checksum = Buffer.from(digest.slice(7), 'hex').toString('base64');
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: data,
            ContentLength: data.length,
            ContentType: 'application/octet-stream',
            IfNoneMatch: '*',
            ChecksumSHA256: checksum,
          }),
        );
        return;
      } catch (e) {
        const status = s3Status(e);
        if (status === 412 || s3Code(e) === 'PreconditionFailed') return; // already stored: same digest, same bytes
        if (s3Code(e) === 'BadDigest' || s3Code(e) === 'XAmzContentChecksumMismatch') {
          throw new LseError(
            'DIGEST_MISMATCH',
            `blob ${digest}: S3 refused the upload to ${this.where(digest)} because the bytes it received do not hash to the digest (damaged in transit?); try again`,
            { digest, key },
            { cause: e },
          );
        }
        if (status !== 409 || attempt >= CONFLICT_RETRIES) throw s3Failure('PutObject', this.where(digest), e);
      }
      // 409: a concurrent writer of the same key. Its write may be complete by now.
      await new Promise((r) => setTimeout(r, CONFLICT_BACKOFF_MS * 2 ** (attempt - 1)));
      if ((await this.stat(digest)) !== undefined) return;
    }
  }

  async get(digest: string): Promise<Buffer> {
    const key = this.keyOf(digest);
    let data: Buffer;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!out.Body) throw new Error('response has no body');
      data = Buffer.from(await out.Body.transformToByteArray());
    } catch (e) {
      throw this.readError(digest, e);
    }
    const actual = sha256Digest(data);
    if (actual !== digest) {
      throw new LseError(
        'DIGEST_MISMATCH',
        `blob ${digest} at ${this.where(digest)} was altered (it hashes to ${actual}); delete the object so it is fetched again`,
        { digest, actual, key },
      );
    }
    return data;
  }

  /**
   * Streams a blob, or a byte range of it. A full read is verified while streaming: the stream
   * fails with DIGEST_MISMATCH/SIZE_MISMATCH at its end, so a consumer must not trust the bytes
   * before it has ended cleanly. A ranged read is NOT verified (the digest covers the whole blob).
   */
  async getStream(digest: string, range?: ByteRange): Promise<BlobStream> {
    const key = this.keyOf(digest);
    if (range) checkRange(digest, range);
    let out;
    try {
      out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
      );
    } catch (e) {
      throw this.readError(digest, e, range);
    }
    const body = out.Body;
    if (!(body instanceof Readable)) {
      throw new LseError(
        'INTERNAL',
        `S3 GetObject of ${this.where(digest)} returned no Node stream; the S3 adapter only runs on Node`,
        { key },
      );
    }
    const contentLength = out.ContentLength ?? 0;
    if (range) {
      const total = /\/(\d+)$/.exec(out.ContentRange ?? '');
      return { stream: body, size: total ? Number(total[1]) : contentLength, contentLength };
    }
    const verifier = new StreamingDigestVerifier(
      { digest, size: contentLength },
      `blob ${digest} at ${this.where(digest)}`,
    );
    // pipeline: an error on either side destroys both, so the HTTP body is released.
    pipeline(body, verifier, () => {});
    return { stream: verifier, size: contentLength, contentLength };
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async stat(digest: string): Promise<number | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(digest) }));
      return out.ContentLength ?? 0;
    } catch (e) {
      if (s3Status(e) === 404) return undefined;
      throw s3Failure('HeadObject', this.where(digest), e);
    }
  }

  async delete(digest: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(digest) }));
    } catch (e) {
      if (s3Status(e) === 404) return;
      throw s3Failure('DeleteObject', this.where(digest), e);
    }
  }

  async *list(): AsyncIterable<string> {
    const base = `${this.prefix}sha256/`;
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, ContinuationToken: token }),
        );
      } catch (e) {
        throw s3Failure('ListObjectsV2', `s3://${this.bucket}/${base}`, e);
      }
      for (const o of out.Contents ?? []) {
        const hex = o.Key?.slice(base.length);
        if (hex && HEX_KEY.test(hex)) yield `sha256:${hex}`;
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  private readError(digest: string, e: unknown, range?: ByteRange): LseError {
    const status = s3Status(e);
    if (status === 404 || s3Code(e) === 'NoSuchKey') {
      return new LseError(
        'BLOB_UNKNOWN',
        `blob ${digest} is not in the S3 cache at ${this.where(digest)}`,
        { digest, key: this.keyOf(digest) },
        { cause: e },
      );
    }
    if (status === 416 || s3Code(e) === 'InvalidRange') {
      return new LseError(
        'USAGE',
        `blob ${digest}: byte range ${range?.start}-${range?.end ?? ''} starts beyond the end of the blob; ask for a range inside it`,
        { digest, range },
        { cause: e },
      );
    }
    return s3Failure('GetObject', this.where(digest), e);
  }
}

function checkRange(digest: string, range: ByteRange): void {
  const ok =
    Number.isSafeInteger(range.start) &&
    range.start >= 0 &&
    (range.end === undefined || (Number.isSafeInteger(range.end) && range.end >= range.start));
  if (!ok) {
    throw new LseError(
      'USAGE',
      `blob ${digest}: byte range ${range.start}-${range.end ?? ''} is invalid; start must be a non-negative integer and end (inclusive) at least start`,
      { digest, range },
    );
  }
}
