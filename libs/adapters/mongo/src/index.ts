export { MongoStore } from './store';
export { COLLECTIONS } from './collections';
export { MongoFragmentRepository, MongoTrustStore, MongoBaseRepository, MongoLeaseRepository } from './repositories';
export { MongoSynthesisRepository } from './synthesis-repository';
export { MongoLayerRecordRepository, MongoVerdictRepository } from './record-repositories';
export { GridFsBlobStore, tamperGridFsBlob } from './gridfs-blob-store';
