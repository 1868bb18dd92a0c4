export { readDebFile, readDebBuffer } from './deb-file';
export { hostArch, ensureAptLists, readAptIndex, readIndexText, aptDownload, aptRepoOf } from './apt';
export { DebianMirror } from './archive';
export { run } from './run';
