export { MongoStore } from './store';
export { COLLECTIONS } from './collections';
export { MongoFragmentRepository, MongoTrustStore, MongoBaseRepository, MongoLeaseRepository } from './repositories';
export { MongoSynthesisRepository } from './synthesis-repository';
export { GridFsBlobStore, tamperGridFsBlob } from './gridfs-blob-store';
