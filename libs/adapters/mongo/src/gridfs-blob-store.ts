/**
 * The origin of fragment blobs: a GridFS bucket (`fragment_blobs`), one file per blob, named by
 * its digest. GridFS writes the chunks first and the file document last, so a blob becomes
 * visible only once it is complete. GridFS has no conditional create, so two concurrent puts of
 * one digest may both store a file; that is harmless (same bytes): reads take any copy that
 * verifies, `list` reports the digest once, and `delete` removes every copy.
 */
import { LseError, checkBlob, isDigest, sha256Digest, type BlobStore } from '@lse/core';
import { Binary, GridFSBucket, MongoGridFSChunkError, MongoRuntimeError, type Db, type GridFSFile, type ObjectId } from 'mongodb';
import { COLLECTIONS } from './collections';

function checkDigest(digest: string): void {
  if (!isDigest(digest)) throw new LseError('DIGEST_MISMATCH', `'${digest}' is not a sha256 digest (sha256:<64 hex>)`, { digest });
}

async function readAll(bucket: GridFSBucket, id: ObjectId): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of bucket.openDownloadStream(id)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function upload(bucket: GridFSBucket, filename: string, data: Buffer): Promise<void> {
  const w = bucket.openUploadStream(filename);
  await new Promise<void>((resolve, reject) => {
    w.once('finish', () => resolve());
    w.once('error', reject);
    w.end(data);
  });
}

/** The file was deleted before or while we read it (not damage: damage is a chunk error). */
function isFileGone(e: unknown): boolean {
  return e instanceof MongoRuntimeError && !(e instanceof MongoGridFSChunkError) && /not found/i.test(e.message);
}

export class GridFsBlobStore implements BlobStore {
  private readonly bucket: GridFSBucket;
  constructor(private readonly db: Db, private readonly bucketName: string = COLLECTIONS.fragmentBlobs) {
    this.bucket = new GridFSBucket(db, { bucketName });
  }

  private copies(digest: string): Promise<GridFSFile[]> {
    return this.bucket.find({ filename: digest }, { sort: { uploadDate: 1 } }).toArray();
  }

  async put(digest: string, data: Buffer, size?: number): Promise<void> {
    checkBlob(digest, data, size);
    if (await this.has(digest)) return;
    await upload(this.bucket, digest, data);
  }

  async get(digest: string): Promise<Buffer> {
    checkDigest(digest);
    const files = await this.copies(digest);
    const where = `GridFS bucket '${this.bucketName}' of database '${this.db.databaseName}'`;
    let actual: string | undefined;
    for (const f of files) {
      try {
        const data = await readAll(this.bucket, f._id);
        actual = sha256Digest(data);
        if (actual === digest) return data;
      } catch (e) {
        if (isFileGone(e)) continue; // deleted while we read it
        if (!(e instanceof MongoGridFSChunkError)) throw e;
        actual = `an unreadable copy: ${e.message}`;
      }
    }
    if (actual === undefined) throw new LseError('BLOB_UNKNOWN', `blob ${digest} is not in the origin (${where}); publish the fragment again`, { digest });
    throw new LseError('DIGEST_MISMATCH', `blob ${digest} in the origin (${where}) was altered (found ${actual}); delete it and publish the fragment again from a trusted copy`, { digest, actual });
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async stat(digest: string): Promise<number | undefined> {
    checkDigest(digest);
    const [f] = await this.bucket.find({ filename: digest }, { limit: 1 }).toArray();
    return f?.length;
  }

  async delete(digest: string): Promise<void> {
    checkDigest(digest);
    for (const f of await this.copies(digest)) {
      try {
        await this.bucket.delete(f._id);
      } catch (e) {
        if (!isFileGone(e)) throw e;
      }
    }
  }

  async *list(): AsyncIterable<string> {
    let last: string | undefined;
    for await (const f of this.bucket.find({}, { sort: { filename: 1 }, projection: { filename: 1 } })) {
      if (f.filename !== last && isDigest(f.filename)) yield f.filename;
      last = f.filename;
    }
  }
}

/**
 * Test and operations helper: replaces the bytes stored under `digest` in the `fragment_blobs`
 * bucket (every copy; a new file if there is none) WITHOUT any check, to simulate a tampered
 * origin. Never call it from product code.
 */
export async function tamperGridFsBlob(db: Db, digest: string, bytes: Buffer, bucketName: string = COLLECTIONS.fragmentBlobs): Promise<void> {
  const bucket = new GridFSBucket(db, { bucketName });
  const files = await bucket.find({ filename: digest }).toArray();
  if (files.length === 0) return upload(bucket, digest, bytes);
  const chunks = db.collection(`${bucketName}.chunks`);
  for (const f of files) {
    await chunks.deleteMany({ files_id: f._id });
    for (let n = 0, off = 0; off < bytes.length; n++, off += f.chunkSize) {
      await chunks.insertOne({ files_id: f._id, n, data: new Binary(bytes.subarray(off, off + f.chunkSize)) });
    }
    await db.collection(`${bucketName}.files`).updateOne({ _id: f._id }, { $set: { length: bytes.length } });
  }
}
