export * from './keys';
export * from './trust';
export * from './image-key';
