import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  baseRepositoryConformance,
  blobStoreConformance,
  fragmentRepositoryConformance,
  layerRecordRepositoryConformance,
  sampleFragment,
  trustStoreConformance,
  verdictRepositoryConformance,
  debianReleaseLogConformance,
} from '@lse/testing';
import { FsBlobStore } from './blob-store';
import {
  FsBaseRepository,
  FsDebianReleaseLog,
  FsFragmentRepository,
  FsLayerRecordRepository,
  FsTrustStore,
  FsVerdictRepository,
} from './repositories';

/** A fresh directory per store; all are removed after the file's tests. */
const made: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'lse-fs-'));
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
blobStoreConformance('fs', async () => new FsBlobStore(tmp()));
fragmentRepositoryConformance('fs', async () => new FsFragmentRepository(tmp()), sampleFragment);
trustStoreConformance('fs', async () => new FsTrustStore(tmp()));
baseRepositoryConformance('fs', async () => new FsBaseRepository(tmp()));
layerRecordRepositoryConformance('fs', async () => new FsLayerRecordRepository(tmp()));
debianReleaseLogConformance('fs', async () => new FsDebianReleaseLog(tmp()));
verdictRepositoryConformance('fs', async () => new FsVerdictRepository(tmp()));

describe('FsFragmentRepository: stores written before by-provide markers', () => {
  it('indexes provided names once, on first use, so providers are found', async () => {
    const dir = tmp();
    const v = sampleFragment('zlib-ng', '2.2.0', { provides: [{ name: 'zlib-compat', version: '1.3.1' }] });
    await new FsFragmentRepository(dir).put(v);
    rmSync(join(dir, 'by-provide'), { recursive: true }); // as an older version of the store left it
    const repo = new FsFragmentRepository(dir);
    expect((await repo.candidates(['zlib-compat'])).map((f) => f.id)).toEqual([v.id]);
    expect(existsSync(join(dir, 'by-provide', '.complete'))).toBe(true);
    expect(existsSync(join(dir, 'by-provide', 'zlib-compat', v.id.slice(7)))).toBe(true);
  });
});
