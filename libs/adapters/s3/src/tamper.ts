import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Failure } from './client';

/**
 * Test/ops helper: overwrites an object with arbitrary bytes — unconditionally, without any
 * checksum or digest check — to simulate a corrupted or tampered cache entry in end-to-end tests.
 * Never use it on a live cache: every later read of that blob fails with DIGEST_MISMATCH.
 */
export async function tamperS3Object(client: S3Client, bucket: string, key: string, bytes: Buffer): Promise<void> {
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentLength: bytes.length }));
  } catch (e) {
    throw s3Failure('PutObject (tamper)', `s3://${bucket}/${key}`, e);
  }
}
