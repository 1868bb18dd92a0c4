/**
 * `@lse/adapter-mongo/testing`: helpers for tests and operations drills only; production code never
 * imports this entry.
 */
import { Binary, GridFSBucket, type Db } from 'mongodb';
import { COLLECTIONS } from './collections';
import { upload } from './gridfs-blob-store';

/**
 * Test and operations helper: replaces the bytes stored under `digest` in the `fragment_blobs`
 * bucket (every copy; a new file if there is none) WITHOUT any check, to simulate a tampered
 * origin. Never call it from product code.
 */
export async function tamperGridFsBlob(
  db: Db,
  digest: string,
  bytes: Buffer,
  bucketName: string = COLLECTIONS.fragmentBlobs,
): Promise<void> {
  const bucket = new GridFSBucket(db, { bucketName });
  const files = await bucket.find({ filename: digest }).toArray();
  if (files.length === 0) return upload(bucket, digest, bytes);
  const chunks = db.collection<{ _id?: string; files_id: unknown; n: number; data: Binary }>(`${bucketName}.chunks`);
  for (const f of files) {
    await chunks.deleteMany({ files_id: f._id });
    for (let n = 0, off = 0; off < bytes.length; n++, off += f.chunkSize) {
      const data = new Binary(bytes.subarray(off, off + f.chunkSize));
      // Files in the natural-key layout have string ids, and so do their chunks (`<digest>#<n>`).
      const fileId: unknown = f._id;
      await chunks.insertOne(
        typeof fileId === 'string'
          ? { _id: `${fileId}#${n}`, files_id: fileId, n, data }
          : { files_id: fileId, n, data },
      );
    }
    await db.collection(`${bucketName}.files`).updateOne({ _id: f._id }, { $set: { length: bytes.length } });
  }
}
