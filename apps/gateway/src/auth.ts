import type { FastifyReply, FastifyRequest } from 'fastify';
import { httpError } from './errors';

export type Scope = 'synth' | 'publish' | 'admin' | 'pull';

export interface AuthConfig {
  /** token → name and scopes. */
  tokens: Map<string, { name: string; scopes: Set<string> }>;
  /** LSE_AUTH=off: every request is allowed (local experiments only). */
  disabled: boolean;
}

/**
 * Bearer tokens with scopes. `admin` implies every scope. 401 when no (or an unknown) token is
 * sent, with a `WWW-Authenticate` challenge; 403 when the token lacks the scope. The token is
 * never logged; the caller's name is.
 */
/** Who made a request: the token's name (the tenant), and whether it may see everyone's work. */
export interface Caller {
  name?: string;
  admin: boolean;
}

const callers = new WeakMap<FastifyRequest, Caller>();

/** The caller requireScope let through (with authentication off: an admin without a name). */
export function callerOf(req: FastifyRequest): Caller {
  return callers.get(req) ?? { admin: true };
}

/**
 * Whether a caller may see and act on a synthesis of `tenant`: its own, or any with admin.
 * Syntheses published straight to NATS belong to no tenant: admin only.
 */
export function mayAccess(caller: Caller, tenant: string | undefined): boolean {
  return caller.admin || (tenant !== undefined && tenant === caller.name);
}

/**
 * Runs as an `onRequest` hook, before the body is read: an unauthenticated upload is refused
 * without a byte of it being parsed.
 */
export function requireScope(auth: AuthConfig, scope: Scope) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (auth.disabled) return;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) {
      reply.header('WWW-Authenticate', `Bearer realm="lse", scope="${scope}"`);
      throw httpError(
        'UNAUTHORIZED',
        `this endpoint needs a bearer token with scope '${scope}': send 'Authorization: Bearer <token>' (the CLI reads LSE_TOKEN)`,
        { scope },
      );
    }
    const who = auth.tokens.get(m[1]!);
    if (!who) {
      reply.header('WWW-Authenticate', `Bearer realm="lse", error="invalid_token", scope="${scope}"`);
      throw httpError(
        'UNAUTHORIZED',
        "the bearer token is not valid: check LSE_TOKEN against the gateway's LSE_TOKENS",
        { scope },
      );
    }
    if (!who.scopes.has(scope) && !who.scopes.has('admin')) {
      throw httpError(
        'DENIED',
        `token '${who.name}' lacks scope '${scope}' (it has ${[...who.scopes].join(', ')}); ask an admin for a token with '${scope}'`,
        { scope, token: who.name },
      );
    }
    callers.set(req, { name: who.name, admin: who.scopes.has('admin') });
    req.log = req.log.child({ caller: who.name });
  };
}
