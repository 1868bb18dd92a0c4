/**
 * `@lse/adapter-memory/testing`: helpers for tests only; production code never imports this entry.
 */
import { MemoryBlobStore } from './blob-store';

/** A memory blob store whose bytes a test can replace without checks, to simulate tampering. */
export class TamperableMemoryBlobStore extends MemoryBlobStore {
  tamper(digest: string, data: Buffer): void {
    this.blobs.set(digest, data);
  }
}
