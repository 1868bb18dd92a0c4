export {
  isLseError,
  errorKind,
  isRetryable,
  isErrorCode,
  lseErrorFrom,
  type ErrorCode,
  type ErrorKind,
  KIND_OF,
  LseError,
} from './errors';
export { type Platform, type VariantAttributes } from './model/platform';
export {
  type VersionScheme,
  type Relation,
  type Provide,
  type FileEntry,
  type FragmentDescriptor,
  type Fragment,
  type Signature,
  FRAGMENT_TAR_MEDIA_TYPE,
} from './model/fragment';
export { type Requirement, type Manifest } from './model/manifest';
export { type Lock } from './model/lock';
export {
  verdictId,
  type BlobStore,
  type FragmentRepository,
  type LayerRecord,
  type LayerRecordRepository,
  type FragmentVerdict,
  type VerdictRepository,
  type TrustStore,
  type BaseLayer,
  type BaseImage,
  type BaseRepository,
  type Headers,
  type BusMessage,
  type SubscribeOptions,
  type Bus,
  type CatalogEvent,
  type CatalogFeed,
  type SynthesisRecord,
  type SynthesisRepository,
  type Lease,
  type LeaseRepository,
  type DebianReleaseLog,
  type DebianReleaseRecord,
} from './ports';
export { canonicalBytes } from './canonical-json';
export { sha256Hex, sha256Digest, digestOfValue, isDigest } from './digest';
export {
  generateKeyPair,
  formatKey,
  parsePublicKey,
  parseSecretKey,
  publicKeyOf,
  signBytes,
  verifyBytes,
  type SecretKey,
  reference,
} from './sign/keys';
export {
  fragmentId,
  fragmentSetDigest,
  trustGeneration,
  signDescriptor,
  signDerivation,
  derivationStatement,
  signatureCoverage,
  fragmentLabel,
  verifyFragment,
  acceptFragment,
  type Acceptance,
  type FragmentChainCheck,
  type TrustedKey,
} from './sign/trust';
export {
  imageSigningKeyFromPem,
  generateImageSigningKeyPem,
  verifyImageSignature,
  type ImageSigningKey,
} from './sign/image-key';
export { checkBlob } from './util/blob';
export { excerpt } from './util/excerpt';
export { compareVersions, assertValidVersion, satisfies } from './version';
export { parseRelation, formatRelation } from './version/relation';
export { parseManifest } from './manifest/parse';
export { parsePlatform, mergePlatform, regionProblem, parseRegion, DEFAULT_PLATFORM } from './manifest/platform';
export { parseBaseRef } from './manifest/base-ref';
export { type TarEntry } from './tar/types';
export { readTar } from './tar/read';
export { writeTar } from './tar/write';
export { checkPolicy } from './tar/policy';
export { normalizeEntries } from './tar/normalize';
export { canonicalPath, comparePaths } from './tar/path';
export { gzipDeterministic, gunzip, isGzip } from './oci/gzip';
export { buildLayer, buildFilesLayer, inlineFileEntries, type Layer } from './oci/layers';
export { planLayers, defaultLayerBudget } from './oci/budget';
export { assertNoConflicts } from './oci/conflicts';
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
  type BaseImageInfo,
} from './oci/image';
export { StreamingDigestVerifier } from './oci/verify-stream';
export {
  isManifestMediaType,
  isIndexMediaType,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_LAYER_GZIP,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  ANNOTATION_REF_NAME,
  OCI_LAYOUT_VERSION,
} from './oci/mediaTypes';
export {
  imageFacts,
  dssePae,
  buildAttachments,
  referrersIndex,
  dockerManifestOf,
  dockerManifestListOf,
  ANNOTATION_BASE_NAME,
  ANNOTATION_BASE_DIGEST,
  ANNOTATION_SYNTHESIS_KEY,
  type Blob,
  type Attachment,
} from './oci/attach';
export { fits, rank } from './resolve/negotiate';
export { MemoryCatalog, atomMatches, type Catalog } from './resolve/catalog';
export { resolve } from './resolve/resolver';
export { type BasePackage } from './resolve/base';
export { parseControlFile, formatParagraph, field, type ControlParagraph } from './debian/control';
export { MERGED_USR_DIRS } from './debian/usrmerge';
export { debianPackInfo, debianMetaOf, debianShowLines, type DebContents } from './debian/package';
export { dpkgDatabaseEntries, type InstalledPackage } from './debian/dpkg-db';
export { DebianIndexCatalog, indexDescriptor, debDerivationOf, DEB_MEDIA_TYPE } from './debian/index-catalog';
export {
  parseRelease,
  releaseSuiteKey,
  checkReleaseFresh,
  packagesPathIn,
  paragraphSpans,
  paragraphAt,
  debianProofOf,
  type DebianRelease,
  type DebianProof,
  type DebianUnsigned,
} from './debian/release';
export { deriveFromDeb } from './debian/derive';
export { basePackagesFromStatus, basePackagesFromFragments } from './debian/base-packages';
