export { loadServiceConfig, describeConfig, type ServiceConfig } from './config';
export { rootLogger } from './logger';
export { connectAll, startLiveCatalog, tierMetricsText, type Connected } from './connect';
export { runStageService } from './run';
