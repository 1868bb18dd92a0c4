export { readDebFile } from './deb-file';
export { hostArch, ensureAptLists, readAptIndex, readIndexText, aptDownload, debFileName, type AptIndex } from './apt';
export { fetchVerified } from './fetch';
export { run, runOk } from './run';
