export { parseControl, parseControlFile, formatParagraph, field, type ControlParagraph } from './control';
export {
  relationSpecs,
  parseRelationField,
  parseProvidesField,
  formatProvides,
  formatRelationField,
} from './relations';
export { MERGED_USR_DIRS, mergedUsrPath, canonicalizeMergedUsr, type MergedUsrResult } from './usrmerge';
export {
  analyzeMaintainerScripts,
  parseAlternativesCall,
  type AlternativeInstall,
  type AlternativeLink,
  type ScriptEffect,
  type ScriptAnalysis,
} from './scripts';
export {
  DEBIAN_SCRIPTS,
  debianPackInfo,
  debianAttributes,
  debianRelationSpecs,
  debianMetaOf,
  debianShowLines,
  type DebContents,
  type DebianMeta,
  type DebianPackInfo,
} from './package';
export {
  dpkgStatus,
  statusParagraph,
  dpkgDatabaseEntries,
  type InstalledPackage,
  type DpkgDatabaseOptions,
} from './dpkg-db';
export {
  DebianIndexCatalog,
  indexDescriptor,
  debDerivationOf,
  DEB_MEDIA_TYPE,
  type DebDerivation,
  type IndexDescriptorOptions,
} from './index-catalog';
export { deriveFromDeb, type DerivedFragment } from './derive';
export { basePackagesFromStatus, basePackagesFromFragments } from './base-packages';
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
  type FreshnessOptions,
} from './release';
