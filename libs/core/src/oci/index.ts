export * from './mediaTypes';
export { gzipDeterministic, gunzip, isGzip, GZIP_LEVEL } from './gzip';
export { buildLayer, buildFilesLayer, inlineFileEntries, type Layer, type LayerPart } from './layers';
export {
  planLayers,
  defaultLayerBudget,
  MAX_IMAGE_LAYERS,
  DEFAULT_LARGE_FRAGMENT_SIZE,
  DEFAULT_POPULAR_USES,
  type BudgetItem,
  type BudgetOptions,
} from './budget';
export { findPathConflicts, assertNoConflicts, type OwnedFiles, type PathConflict } from './conflicts';
export {
  buildImageConfig,
  buildImageManifest,
  buildImageIndex,
  buildLayoutIndex,
  descriptorOf,
  ociPlatform,
  epochToRfc3339,
  type Descriptor,
  type OciPlatform,
  type OciContainerConfig,
  type HistoryEntry,
  type BaseImageInfo,
  type ImageConfigInput,
  type LayerRef,
} from './image';
export { StreamingDigestVerifier, type ExpectedBlob } from './verify-stream';
export * from './attach';
