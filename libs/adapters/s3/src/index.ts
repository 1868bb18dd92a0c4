export { makeS3Client, ensureBucket } from './client';
export { S3BlobStore } from './blob-store';
