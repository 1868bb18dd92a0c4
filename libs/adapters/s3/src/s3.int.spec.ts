import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isLseError, sha256Digest } from '@lse/core';
import { blobStoreConformance, errorOf, testServers, uniqueName } from '@lse/testing';
import { S3BlobStore } from './blob-store';
import { ensureBucket, makeS3Client, s3Status } from './client';
import { tamperS3Object } from './testing';

jest.setTimeout(30_000);

const servers = testServers();
const bucket = servers.s3.bucket;
let client: S3Client;
const stores: S3BlobStore[] = [];

/** A store on a fresh prefix, so every test starts with an empty namespace. */
function freshStore(): S3BlobStore {
  const store = new S3BlobStore(client, bucket, `${uniqueName('s3-int')}/`);
  stores.push(store);
  return store;
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const checksumOf = (data: Buffer) => Buffer.from(sha256Digest(data).slice(7), 'hex').toString('base64');

beforeAll(async () => {
  client = makeS3Client(servers.s3);
  await ensureBucket(client, bucket);
});

afterAll(async () => {
  for (const s of stores) for await (const d of s.list()) await s.delete(d);
  client.destroy();
});

blobStoreConformance('s3', async () => freshStore());

describe('S3BlobStore', () => {
  it('writes conditionally: a second put of a stored digest leaves the object untouched', async () => {
    const store = freshStore();
    const data = randomBytes(2048);
    const d = sha256Digest(data);
    await store.put(d, data);
    const head = () => client.send(new HeadObjectCommand({ Bucket: bucket, Key: store.keyOf(d) }));
    const first = await head();
    await new Promise((r) => setTimeout(r, 1100)); // LastModified has one-second resolution
    await store.put(d, data);
    const second = await head();
    expect(second.ETag).toBe(first.ETag);
    expect(second.LastModified?.getTime()).toBe(first.LastModified?.getTime());
  });

  it('a genuine put does not overwrite a tampered object (the write is conditional), and reads catch the tampering', async () => {
    const store = freshStore();
    const data = randomBytes(4096);
    const d = sha256Digest(data);
    await store.put(d, data);
    const bad = Buffer.from(data);
    bad[100] = bad[100]! ^ 0xff;
    await tamperS3Object(client, bucket, store.keyOf(d), bad);
    await store.put(d, data);

    const e = await errorOf(store.get(d));
    expect(isLseError(e, 'DIGEST_MISMATCH')).toBe(true);
    expect((e as Error).message).toContain(store.keyOf(d));

    const { stream, size } = await store.getStream(d);
    expect(size).toBe(4096);
    const se = await errorOf(drain(stream));
    expect(isLseError(se, 'DIGEST_MISMATCH')).toBe(true);
  });

  it('streams a whole blob verified, and byte ranges (end inclusive) unverified', async () => {
    const store = freshStore();
    const data = randomBytes(1000);
    const d = sha256Digest(data);
    await store.put(d, data, 1000);

    const full = await store.getStream(d);
    expect(full).toMatchObject({ size: 1000, contentLength: 1000 });
    expect((await drain(full.stream)).equals(data)).toBe(true);

    const mid = await store.getStream(d, { start: 100, end: 199 });
    expect(mid).toMatchObject({ size: 1000, contentLength: 100 });
    expect((await drain(mid.stream)).equals(data.subarray(100, 200))).toBe(true);

    const tail = await store.getStream(d, { start: 900 });
    expect(tail).toMatchObject({ size: 1000, contentLength: 100 });
    expect((await drain(tail.stream)).equals(data.subarray(900))).toBe(true);

    expect(isLseError(await errorOf(store.getStream(d, { start: 5000 })), 'USAGE')).toBe(true);
    expect(isLseError(await errorOf(store.getStream(d, { start: 10, end: 5 })), 'USAGE')).toBe(true);
    expect(isLseError(await errorOf(store.getStream(sha256Digest('absent'))), 'BLOB_UNKNOWN')).toBe(true);
  });

  it('sends x-amz-checksum-sha256: the server keeps the checksum of a put, and refuses a wrong one', async () => {
    const store = freshStore();
    const data = randomBytes(512);
    const d = sha256Digest(data);
    await store.put(d, data);
    const head = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: store.keyOf(d), ChecksumMode: 'ENABLED' }),
    );
    expect(head.ChecksumSHA256).toBe(checksumOf(data));

    const other = randomBytes(512);
    const key = store.keyOf(sha256Digest(other));
    const e = await errorOf(
      client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: other,
          IfNoneMatch: '*',
          ChecksumSHA256: checksumOf(data),
        }),
      ),
    );
    expect(s3Status(e)).toBe(400);
    expect(await store.has(sha256Digest(other))).toBe(false);
  });

  it('lets concurrent writers of one digest all succeed, with exactly one winning write on the server', async () => {
    const store = freshStore();
    const data = randomBytes(256 * 1024);
    const d = sha256Digest(data);
    await Promise.all(Array.from({ length: 6 }, () => store.put(d, data)));
    expect((await store.get(d)).equals(data)).toBe(true);

    // The same race against the server directly: If-None-Match lets one PUT through.
    const raw = randomBytes(256 * 1024);
    const key = store.keyOf(sha256Digest(raw));
    const statuses = await Promise.all(
      Array.from({ length: 6 }, async () => {
        try {
          await client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: raw,
              IfNoneMatch: '*',
              ChecksumSHA256: checksumOf(raw),
            }),
          );
          return 200;
        } catch (e) {
          return s3Status(e);
        }
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.every((s) => s === 200 || s === 412 || s === 409)).toBe(true);
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  });

  it('refuses bad prefixes and non-digests before calling S3', () => {
    expect(() => new S3BlobStore(client, bucket, 'layers')).toThrow(/ending in '\/'/);
    expect(() => new S3BlobStore(client, bucket, '/layers/')).toThrow(/prefix/);
    expect(() => freshStore().keyOf('sha256:xyz')).toThrow(/not a sha256 digest/);
  });

  it('ensureBucket creates a missing bucket and is idempotent', async () => {
    const name = uniqueName('lse-int-bucket').toLowerCase();
    await Promise.all([1, 2, 3].map(() => ensureBucket(client, name))); // racing creators
    await ensureBucket(client, name);
    await expect(client.send(new HeadBucketCommand({ Bucket: name }))).resolves.toBeDefined();
    await client.send(new DeleteBucketCommand({ Bucket: name }));
  });

  it('get of an absent digest is BLOB_UNKNOWN naming the key', async () => {
    const store = freshStore();
    const d = sha256Digest('never stored');
    const e = await errorOf(store.get(d));
    expect(isLseError(e, 'BLOB_UNKNOWN')).toBe(true);
    expect((e as Error).message).toContain(store.keyOf(d));
    // and GetObject itself reports 404 for it (the mapping is to a real server answer)
    expect(s3Status(await errorOf(client.send(new GetObjectCommand({ Bucket: bucket, Key: store.keyOf(d) }))))).toBe(
      404,
    );
  });
});
