export * from './conformance';
export * from './fixtures';
export * from './servers';
export * from './bus-conformance';
export * from './nats-cluster';
export * from './gateway-client';
