import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LseError, checkBlob, isDigest, sha256Digest, type BlobStore } from '@lse/core';
import { isNotFound, writeFileAtomic } from './atomic';

/** BlobStore on disk: `<root>/sha256/<hex>`, written atomically, re-verified on every read. */
export class FsBlobStore implements BlobStore {
  constructor(private readonly root: string) {}

  private path(digest: string): string {
    if (!isDigest(digest))
      throw new LseError('DIGEST_MISMATCH', `'${digest}' is not a sha256 digest (sha256:<64 hex>)`, { digest });
    return join(this.root, 'sha256', digest.slice(7));
  }

  async put(digest: string, data: Buffer, size?: number): Promise<void> {
    checkBlob(digest, data, size);
    if (await this.has(digest)) return;
    await writeFileAtomic(this.path(digest), data, 0o444);
  }

  async get(digest: string): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(this.path(digest));
    } catch (e) {
      if (isNotFound(e))
        throw new LseError('BLOB_UNKNOWN', `blob ${digest} is not in the store at ${this.root}`, { digest });
      throw e;
    }
    const actual = sha256Digest(data);
    if (actual !== digest) {
      throw new LseError(
        'DIGEST_MISMATCH',
        `blob ${digest} in ${this.root} was altered on disk (it hashes to ${actual}); run 'lse verify' and re-import what it names`,
        { digest, actual },
      );
    }
    return data;
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async stat(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(digest))).size;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async delete(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }

  async *list(): AsyncIterable<string> {
    let names: string[];
    try {
      names = await readdir(join(this.root, 'sha256'));
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    for (const n of names) if (/^[0-9a-f]{64}$/.test(n)) yield `sha256:${n}`;
  }
}
