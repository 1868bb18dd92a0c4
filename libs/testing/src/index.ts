export {
  blobStoreConformance,
  fragmentRepositoryConformance,
  trustStoreConformance,
  baseRepositoryConformance,
  synthesisRepositoryConformance,
  leaseRepositoryConformance,
  layerRecordRepositoryConformance,
  verdictRepositoryConformance,
  debianReleaseLogConformance,
} from './conformance';
export { errorOf, sampleFragment } from './fixtures';
export { testServers, uniqueName } from './servers';
export { busConformance } from './bus-conformance';
export { natsServerBinary, freePort, NatsCluster } from './nats-cluster';
export { fetchFresh, gatewayApi, fileEntry } from './gateway-client';
export { nodeTestLock } from './node-lock';
