export { writeFileAtomic } from './atomic';
export { FsFragmentRepository } from './repositories';
export { openFsStore, defaultStoreDir, type FsStore } from './store';
export { walkDirectory } from './walk';
export { extractEntries } from './extract';
export { writeOciLayout, readOciLayout } from './oci-layout';
