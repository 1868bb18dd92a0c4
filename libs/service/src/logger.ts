import pino from 'pino';
import type { Log } from '@lse/engine';

/**
 * One root pino logger per process (JSON lines on stdout), `svc` on every line; stages add
 * `synthesisId` and `traceId` with child loggers so one synthesis can be followed across services.
 * Authorization headers and secrets are redacted.
 */
export function rootLogger(svc: string, level: string): pino.Logger & Log {
  return pino({
    level,
    base: { svc, pid: process.pid },
    redact: {
      paths: ['req.headers.authorization', '*.secretAccessKey', '*.token', 'headers.authorization'],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  }) as pino.Logger & Log;
}
