export * from './keys';
export * from './trust';
