/** Shared by the gateway's tests: the settings they run the composed gateway with. */
import { STAGE_NAMES, type StageName } from '@lse/contracts';
import { silentLog } from '@lse/engine';

/** The stages the services run (the gateway runs the recorder itself). */
export const WORK_STAGES: StageName[] = STAGE_NAMES.filter((s) => s !== 'recorder');

export const gatewayDefaults = {
  log: silentLog,
  leaseTtlSeconds: 600,
  waitMaxSeconds: 30,
  epoch: 0,
  concurrency: 1,
  collectIntervalSeconds: 0,
  collectGraceSeconds: 300,
  bodyLimitBytes: 1 << 24,
};
