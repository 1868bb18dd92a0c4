export { Snapshotter, chainId, chainOfKey, LABEL_SNAPSHOT_REF, type Mount, type SnapshotInfo } from './snapshotter';
export { StateFile, type AgentState, type SnapshotRecord, type FragmentDir } from './state';
export { FragmentCache, type CacheSources } from './cache';
export { NodeAgent, type SeedResult, type GatewayClient } from './agent';
export { serveSnapshots, Containerd, protos } from './grpc';
export { serveControl, nodeState } from './control';
export { loadNodeConfig, type NodeConfig } from './config';
export { startNodeAgent, type RunningAgent } from './run';
export { RegistryProxy, type RegistryProxyOptions, type RelayedManifest } from './registry';
