import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { LseError } from '../errors';

const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;

export interface ExpectedBlob {
  /** `sha256:<hex>` */
  digest: string;
  size: number;
}

/**
 * A pass-through stream that hashes and counts the bytes flowing through it. It fails with
 * SIZE_MISMATCH as soon as more bytes than expected arrive, and at the end with SIZE_MISMATCH or
 * DIGEST_MISMATCH naming expected and actual values; consumers must treat the data as untrusted
 * until the stream has finished without error.
 */
export class StreamingDigestVerifier extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;

  /** `label` names the blob in messages, e.g. `layer sha256:ab.. of base debian:12`. */
  constructor(
    private readonly expected: ExpectedBlob,
    private readonly label = `blob ${expected.digest}`,
  ) {
    super();
    if (!SHA256_DIGEST.test(expected.digest)) {
      throw new LseError('USAGE', `${label}: expected digest '${expected.digest}' is not of the form sha256:<64 hex>`, {
        expected,
      });
    }
    if (!Number.isSafeInteger(expected.size) || expected.size < 0) {
      throw new LseError('USAGE', `${label}: expected size ${expected.size} is not a non-negative integer`, {
        expected,
      });
    }
  }

  /** Bytes seen so far. */
  get bytesSeen(): number {
    return this.bytes;
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, done: TransformCallback): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    this.bytes += buf.length;
    if (this.bytes > this.expected.size) {
      done(this.sizeError(`at least ${this.bytes}`));
      return;
    }
    this.hash.update(buf);
    done(null, buf);
  }

  override _flush(done: TransformCallback): void {
    if (this.bytes !== this.expected.size) {
      done(this.sizeError(String(this.bytes)));
      return;
    }
    const actual = `sha256:${this.hash.digest('hex')}`;
    if (actual !== this.expected.digest) {
      done(
        new LseError(
          'DIGEST_MISMATCH',
          `${this.label}: content digest is ${actual}, expected ${this.expected.digest}; the blob is corrupt or was tampered with, fetch it again`,
          { expected: this.expected.digest, actual },
        ),
      );
      return;
    }
    done();
  }

  private sizeError(actual: string): LseError {
    return new LseError(
      'SIZE_MISMATCH',
      `${this.label}: got ${actual} bytes, expected ${this.expected.size}; the blob is truncated or not the one described, fetch it again`,
      { expected: this.expected.size, actual: this.bytes },
    );
  }
}
