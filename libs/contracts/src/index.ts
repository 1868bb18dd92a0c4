export * from './stages';
export * from './subjects';
export * from './messages';
export * from './delivery';
