export { writeFileAtomic } from './atomic';
export { FsBlobStore } from './blob-store';
export { FsFragmentRepository, FsTrustStore, FsBaseRepository, FsLayerRecordRepository, FsVerdictRepository, FsDebianReleaseLog } from './repositories';
export { openFsStore, defaultStoreDir, type FsStore } from './store';
export { walkDirectory } from './walk';
export { extractEntries } from './extract';
export { writeOciLayout, readOciLayout } from './oci-layout';
