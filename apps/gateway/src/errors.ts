import type { FastifyReply } from 'fastify';
import { LseError, isLseError, type ErrorCode, type ErrorKind } from '@lse/core';

/**
 * The one place that maps error kinds to HTTP statuses (REST bodies: `{ error: { code, message,
 * details } }`); the OCI registry's bodies are mapped in routes/registry.ts from the same kinds.
 */
export const HTTP_STATUS: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  denied: 403,
  not_found: 404,
  not_acceptable: 406,
  conflict: 409,
  gone: 410,
  too_large: 413,
  unresolvable: 422,
  untrusted: 422,
  internal: 500,
  unavailable: 503,
};

export function httpStatusOf(e: LseError): number {
  return HTTP_STATUS[e.kind];
}

/** An LseError for a REST answer (kept as a helper so routes read like the statuses they answer). */
export function httpError(code: ErrorCode, message: string, details: Record<string, unknown> = {}): LseError {
  return new LseError(code, message, details);
}

/** Largest excerpt of a client's input quoted back in an error body. */
const MAX_MESSAGE = 2000;

export function sendError(reply: FastifyReply, e: unknown): FastifyReply {
  if (isLseError(e)) {
    const body = e.toJSON();
    if (e.message.length > MAX_MESSAGE) body['message'] = `${e.message.slice(0, MAX_MESSAGE)}… (cut)`;
    if (e.kind === 'unavailable') reply.header('Retry-After', '5');
    return reply.code(httpStatusOf(e)).send({ error: body });
  }
  const fe = e as { statusCode?: number; code?: string; message?: string };
  if (fe?.statusCode === 413)
    return reply.code(413).send({
      error: {
        code: 'TOO_LARGE',
        message: `${fe.message ?? 'request body is too large'}`.slice(0, MAX_MESSAGE),
        details: {},
      },
    });
  if (fe?.statusCode && fe.statusCode < 500)
    return reply.code(fe.statusCode).send({
      error: {
        code: 'USAGE',
        message: `${fe.message ?? 'bad request'}`.slice(0, MAX_MESSAGE),
        details: { cause: fe.code },
      },
    });
  reply.log.error({ err: (e as Error)?.message }, 'internal error');
  return reply
    .code(500)
    .send({ error: { code: 'INTERNAL', message: 'internal error; the gateway log has the details', details: {} } });
}
