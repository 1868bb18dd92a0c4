import { errorKind, isLseError, type ErrorKind } from '@lse/core';

import { EXIT } from './exit';

export { EXIT };

/** The one place that maps error kinds to exit codes. */
const BY_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid: EXIT.usage,
  conflict: EXIT.usage,
  too_large: EXIT.usage,
  unresolvable: EXIT.resolution,
  not_acceptable: EXIT.resolution,
  not_found: EXIT.resolution,
  untrusted: EXIT.verification,
  gone: EXIT.failed,
  unauthenticated: EXIT.failed,
  denied: EXIT.failed,
  unavailable: EXIT.failed,
  internal: EXIT.failed,
};

export function exitCodeFor(e: unknown): number {
  return BY_KIND[errorKind(e)];
}

export interface Out {
  json: boolean;
  quiet: boolean;
  /** The command's result on stdout (a line, or JSON with --json). */
  result(text: string, json: unknown): void;
  /** Human progress on stderr (silent with --json or --quiet). */
  progress(text: string): void;
}

export function makeOut(json: boolean, quiet: boolean): Out {
  return {
    json,
    quiet,
    result(text, data) {
      process.stdout.write(
        json ? JSON.stringify(data, null, 2) + '\n' : text.endsWith('\n') || text === '' ? text : text + '\n',
      );
    },
    progress(text) {
      if (!json && !quiet) process.stderr.write(text + '\n');
    },
  };
}

/** Prints an error the way a person (or, with --json, a script) can act on, returns the exit code. */
export function reportError(e: unknown, json: boolean): number {
  const code = exitCodeFor(e);
  if (json) {
    const body = isLseError(e) ? e.toJSON() : { code: 'INTERNAL', message: (e as Error)?.message ?? String(e) };
    process.stdout.write(JSON.stringify({ error: body, exitCode: code }, null, 2) + '\n');
  } else {
    const msg = isLseError(e) ? `${e.message}` : `internal error: ${(e as Error)?.stack ?? String(e)}`;
    process.stderr.write(`lse: error: ${msg}\n`);
  }
  return code;
}
