export { readDebFile, readDebBuffer } from './deb-file';
export {
  hostArch,
  ensureAptLists,
  readAptIndex,
  readIndexBytes,
  releaseBeside,
  aptDownload,
  aptRepoOf,
  type AptIndex,
} from './apt';
export { DebianMirror } from './archive';
export { run } from './run';
export {
  DebianChainVerifier,
  DEFAULT_DEBIAN_KEYRING,
  readDebianKeyring,
  unverifiedRelease,
  verifyInRelease,
  type ChainLink,
  type DebianKeyring,
  type SignedRelease,
} from './release-signature';
