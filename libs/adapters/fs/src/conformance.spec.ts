import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  baseRepositoryConformance, blobStoreConformance, fragmentRepositoryConformance, layerRecordRepositoryConformance, sampleFragment, trustStoreConformance,
  verdictRepositoryConformance,
} from '@lse/testing';
import { FsBlobStore } from './blob-store';
import { FsBaseRepository, FsFragmentRepository, FsLayerRecordRepository, FsTrustStore, FsVerdictRepository } from './repositories';

const tmp = () => mkdtempSync(join(tmpdir(), 'lse-fs-'));
blobStoreConformance('fs', async () => new FsBlobStore(tmp()));
fragmentRepositoryConformance('fs', async () => new FsFragmentRepository(tmp()), sampleFragment);
trustStoreConformance('fs', async () => new FsTrustStore(tmp()));
baseRepositoryConformance('fs', async () => new FsBaseRepository(tmp()));
layerRecordRepositoryConformance('fs', async () => new FsLayerRecordRepository(tmp()));
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
