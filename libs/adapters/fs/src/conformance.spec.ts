import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseRepositoryConformance, blobStoreConformance, fragmentRepositoryConformance, sampleFragment, trustStoreConformance } from '@lse/testing';
import { FsBaseRepository, FsBlobStore, FsFragmentRepository, FsTrustStore } from './index';

const tmp = () => mkdtempSync(join(tmpdir(), 'lse-fs-'));
blobStoreConformance('fs', async () => new FsBlobStore(tmp()));
fragmentRepositoryConformance('fs', async () => new FsFragmentRepository(tmp()), sampleFragment);
trustStoreConformance('fs', async () => new FsTrustStore(tmp()));
baseRepositoryConformance('fs', async () => new FsBaseRepository(tmp()));
