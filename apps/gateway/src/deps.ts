import type { Bus, LeaseRepository, SynthesisRepository } from '@lse/core';
import type { EnginePorts } from '@lse/engine';
import type { AuthConfig } from './auth';
import type { Metrics } from './metrics';

/** What the HTTP layer needs; main.ts wires real adapters, tests wire memory ones. */
export interface GatewayDeps {
  bus: Bus;
  ports: EnginePorts;
  syntheses: SynthesisRepository;
  leases: LeaseRepository;
  auth: AuthConfig;
  leaseTtlSeconds: number;
  waitMaxSeconds: number;
  epoch: number;
  now: () => Date;
  metrics: Metrics;
  ready: () => Promise<boolean>;
}
