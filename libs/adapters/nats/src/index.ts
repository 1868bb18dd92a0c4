export { NatsBus } from './bus';
export { ensureStreams, ensureStream } from './streams';
export { NatsCatalogFeed } from './catalog-feed';
