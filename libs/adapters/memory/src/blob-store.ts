import { LseError, checkBlob, sha256Digest, type BlobStore } from '@lse/core';

/** BlobStore in memory: for tests and the in-process pipeline's scratch space. */
export class MemoryBlobStore implements BlobStore {
  protected readonly blobs = new Map<string, Buffer>();

  async put(digest: string, data: Buffer, size?: number): Promise<void> {
    checkBlob(digest, data, size);
    if (!this.blobs.has(digest)) this.blobs.set(digest, Buffer.from(data));
  }
  async get(digest: string): Promise<Buffer> {
    const b = this.blobs.get(digest);
    if (!b) throw new LseError('BLOB_UNKNOWN', `blob ${digest} is not in the store`, { digest });
    if (sha256Digest(b) !== digest)
      throw new LseError('DIGEST_MISMATCH', `blob ${digest} was altered in the store`, { digest });
    return Buffer.from(b);
  }
  async has(digest: string): Promise<boolean> {
    return this.blobs.has(digest);
  }
  async stat(digest: string): Promise<number | undefined> {
    return this.blobs.get(digest)?.length;
  }
  async delete(digest: string): Promise<void> {
    this.blobs.delete(digest);
  }
  async *list(): AsyncIterable<string> {
    yield* [...this.blobs.keys()];
  }
}
