export * from './config';
export * from './logger';
export * from './health';
export * from './connect';
export * from './run';
