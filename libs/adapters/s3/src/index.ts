export { makeS3Client, ensureBucket, s3Code, s3Status, type S3Settings } from './client';
export { S3BlobStore, type BlobStream, type ByteRange } from './blob-store';
export { tamperS3Object } from './tamper';
