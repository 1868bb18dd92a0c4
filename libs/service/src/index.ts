export { loadServiceConfig, describeConfig, type ServiceConfig } from './config';
export { rootLogger } from './logger';
export { connectAll, regionalCaches, startLiveCatalog, tierMetricsText, type Connected } from './connect';
export { runStageService } from './run';
