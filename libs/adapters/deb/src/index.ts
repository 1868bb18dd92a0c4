export { readDebFile, readDebBuffer } from './deb-file';
export { hostArch, ensureAptLists, readAptIndex, readIndexText, readIndexBytes, releaseBeside, aptDownload, debFileName, aptRepoOf, type AptIndex } from './apt';
export { fetchVerified } from './fetch';
export { DebianMirror } from './archive';
export { run, runOk } from './run';
export { DEFAULT_DEBIAN_KEYRING, DebianChainVerifier, readDebianKeyring, verifyInRelease, type ChainLink, type DebianKeyring, type SignedRelease } from './release-signature';
