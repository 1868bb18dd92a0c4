import type { FastifyReply } from 'fastify';
import { isLseError, type ErrorCode } from '@lse/core';

/** The one place that maps error codes to HTTP statuses. Bodies: `{ error: { code, message, details } }`. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  USAGE: 400, MANIFEST_INVALID: 400, CONSTRAINT_INVALID: 400, VERSION_INVALID: 400, CONFIG_INVALID: 400, KEY_INVALID: 400,
  LAYOUT_INVALID: 400, BASE_INVALID: 400, FRAGMENT_INVALID: 422, TAR_UNSAFE: 422, TAR_INVALID: 422,
  UNSATISFIABLE: 422, NO_VARIANT: 406, BASE_UNKNOWN: 404, FRAGMENT_UNKNOWN: 404, BLOB_UNKNOWN: 404,
  SIGNATURE_INVALID: 422, KEY_UNTRUSTED: 422, KEY_REVOKED: 422, KEY_OUT_OF_SCOPE: 422, DIGEST_MISMATCH: 422, SIZE_MISMATCH: 422,
  PATH_CONFLICT: 422, OUTPUT_EXISTS: 409, INTERNAL: 500,
};

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
  }
}

export function sendError(reply: FastifyReply, e: unknown): FastifyReply {
  if (e instanceof HttpError) return reply.code(e.status).send({ error: { code: e.code, message: e.message, details: e.details } });
  if (isLseError(e)) return reply.code(STATUS[e.code] ?? 500).send({ error: e.toJSON() });
  const fe = e as { statusCode?: number; code?: string; message?: string };
  if (fe?.statusCode && fe.statusCode < 500) return reply.code(fe.statusCode).send({ error: { code: fe.code ?? 'BAD_REQUEST', message: fe.message ?? 'bad request', details: {} } });
  reply.log.error({ err: (e as Error)?.message }, 'internal error');
  return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error; the gateway log has the details', details: {} } });
}
