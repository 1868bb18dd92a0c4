/**
 * The origin of fragment blobs: a GridFS bucket (`fragment_blobs`), one file per blob, named by
 * its digest, in the GridFS layout (any GridFS reader can read it) with natural keys: the file
 * document's `_id` is the digest and chunk `n` is `_id: "<digest>#<n>"`. FerretDB 1.24 uses no
 * index for any query but pushes `_id` equality down to its backend; the driver's own chunk query
 * (`files_id` and `n`, sorted) is evaluated by FerretDB over every chunk of every blob, which made
 * reading one package cost a pass over the whole bucket (a cold Debian synthesis: minutes in the
 * fetcher). Chunks are written first and the file document last (a conditional insert on its
 * `_id`, the commit point), so a blob is visible only once complete and concurrent puts store one
 * file. Files written by the driver before this layout (ObjectId `_id`s) are still read, found
 * by filename.
 */
import { LseError, checkBlob, isDigest, sha256Digest, type BlobStore } from '@lse/core';
import { Binary, GridFSBucket, MongoGridFSChunkError, MongoRuntimeError, type Db, type ObjectId } from 'mongodb';
import { COLLECTIONS, insertIfAbsent, insertManyIgnoringDuplicates } from './collections';

function checkDigest(digest: string): void {
  if (!isDigest(digest))
    throw new LseError('DIGEST_MISMATCH', `'${digest}' is not a sha256 digest (sha256:<64 hex>)`, { digest });
}

async function readAll(bucket: GridFSBucket, id: ObjectId): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of bucket.openDownloadStream(id)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

export async function upload(bucket: GridFSBucket, filename: string, data: Buffer): Promise<void> {
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

/** Chunk size of blobs written here (GridFS's default). */
const CHUNK_SIZE = 255 * 1024;

interface FileDoc {
  _id: string | ObjectId;
  length: number;
  chunkSize: number;
  uploadDate: Date;
  filename: string;
}
interface ChunkDoc {
  _id: string | ObjectId;
  files_id: string | ObjectId;
  n: number;
  data: Binary;
}

export class GridFsBlobStore implements BlobStore {
  private readonly bucket: GridFSBucket;
  constructor(
    private readonly db: Db,
    private readonly bucketName: string = COLLECTIONS.fragmentBlobs,
  ) {
    this.bucket = new GridFSBucket(db, { bucketName });
  }
  private get files() {
    return this.db.collection<FileDoc>(`${this.bucketName}.files`);
  }
  private get chunks() {
    return this.db.collection<ChunkDoc>(`${this.bucketName}.chunks`);
  }

  /** Every stored copy: the file whose `_id` is the digest, then older driver-written ones. */
  private async copies(digest: string): Promise<FileDoc[]> {
    const own = await this.files.findOne({ _id: digest });
    const legacy = (await this.bucket
      .find({ filename: digest }, { sort: { uploadDate: 1 } })
      .toArray()) as unknown as FileDoc[];
    return [...(own ? [own] : []), ...legacy.filter((f) => typeof f._id !== 'string')];
  }

  async put(digest: string, data: Buffer, size?: number): Promise<void> {
    checkBlob(digest, data, size);
    if (await this.has(digest)) return;
    const chunks: ChunkDoc[] = [];
    for (let n = 0, off = 0; off < data.length || n === 0; n++, off += CHUNK_SIZE) {
      chunks.push({
        _id: `${digest}#${n}`,
        files_id: digest,
        n,
        data: new Binary(data.subarray(off, off + CHUNK_SIZE)),
      });
    }
    for (let i = 0; i < chunks.length; i += 32)
      await insertManyIgnoringDuplicates(this.db, `${this.bucketName}.chunks`, chunks.slice(i, i + 32));
    await insertIfAbsent(this.db, `${this.bucketName}.files`, {
      _id: digest,
      length: data.length,
      chunkSize: CHUNK_SIZE,
      uploadDate: new Date(),
      filename: digest,
    });
  }

  /** A file's bytes: by chunk `_id` for files in this layout, through the driver for older ones. */
  private async read(f: FileDoc): Promise<Buffer> {
    if (typeof f._id !== 'string') return readAll(this.bucket, f._id);
    const count = Math.ceil(f.length / f.chunkSize);
    const parts: Buffer[] = [];
    for (let n = 0; n < count; n++) {
      const c = await this.chunks.findOne({ _id: `${f._id}#${n}` });
      if (!c) throw new MongoGridFSChunkError(`chunk ${n} of ${count} is missing`);
      parts.push(Buffer.from(c.data.buffer));
    }
    return Buffer.concat(parts);
  }

  async get(digest: string): Promise<Buffer> {
    checkDigest(digest);
    const files = await this.copies(digest);
    const where = `GridFS bucket '${this.bucketName}' of database '${this.db.databaseName}'`;
    let actual: string | undefined;
    for (const f of files) {
      try {
        const data = await this.read(f);
        actual = sha256Digest(data);
        if (actual === digest) return data;
      } catch (e) {
        if (isFileGone(e)) continue; // deleted while we read it
        if (!(e instanceof MongoGridFSChunkError)) throw e;
        actual = `an unreadable copy: ${e.message}`;
      }
    }
    if (actual === undefined)
      throw new LseError('BLOB_UNKNOWN', `blob ${digest} is not in the origin (${where}); publish the fragment again`, {
        digest,
      });
    throw new LseError(
      'DIGEST_MISMATCH',
      `blob ${digest} in the origin (${where}) was altered (found ${actual}); delete it and publish the fragment again from a trusted copy`,
      { digest, actual },
    );
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async stat(digest: string): Promise<number | undefined> {
    checkDigest(digest);
    const own = await this.files.findOne({ _id: digest }, { projection: { length: 1 } });
    if (own) return own.length;
    const [f] = await this.bucket.find({ filename: digest }, { limit: 1 }).toArray();
    return f?.length;
  }

  async delete(digest: string): Promise<void> {
    checkDigest(digest);
    for (const f of await this.copies(digest)) {
      if (typeof f._id === 'string') {
        await this.files.deleteOne({ _id: f._id }); // invisible first, then its chunks
        await this.chunks.deleteMany({ files_id: f._id });
        continue;
      }
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
