export * from './platform';
export * from './fragment';
export * from './manifest';
export * from './lock';
