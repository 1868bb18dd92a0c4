export * from './conformance';
export * from './fixtures';
