/**
 * Auth for the OCI Distribution API (/v2), the registry token flow that docker, podman, skopeo
 * and containerd speak:
 *
 *  1. A request without (valid) credentials gets 401 with
 *     `WWW-Authenticate: Bearer realm="<base>/v2/token",service="lse",scope="repository:<name>:pull"`.
 *  2. The client asks `GET /v2/token?service=lse&scope=...` with HTTP Basic (any username, the
 *     password is an LSE token with scope pull, synth or admin) or `Authorization: Bearer <LSE token>`,
 *     or with nothing when anonymous pull is on, and gets a short-lived registry token.
 *     containerd (and the distribution spec's OAuth2 token docs) first POST the same request as
 *     an OAuth2 form (`application/x-www-form-urlencoded`): `grant_type=password` with `username`
 *     (any) and `password` (the LSE token), or `grant_type=refresh_token` with the LSE token as
 *     `refresh_token`, plus `service` and `scope`; the answer is the same JSON (`access_token`).
 *  3. It repeats the request with `Authorization: Bearer <registry token>`.
 *
 * A registry token is `lsr1.<payload>.<mac>`: payload = base64url JSON `{ sub, access, iat, exp }`
 * (access = the repository names granted pull), mac = base64url HMAC-SHA256(secret, payload). The
 * secret is LSE_REGISTRY_SECRET, or random per gateway start (tokens then die with the process,
 * which only makes clients ask again). LSE tokens are also accepted directly on /v2 requests
 * (Bearer, or Basic with the token as password), which saves the round trip.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AuthConfig } from './auth';

/** LSE scopes that may pull. */
const PULL_SCOPES = ['pull', 'synth', 'admin'];
export const REGISTRY_SERVICE = 'lse';

export interface RegistryTokenClaims {
  /** Who it was issued to (LSE token name, or 'anonymous'). */
  sub: string;
  /** Repository names this token may pull; '*' = every name (an LSE token used directly). */
  access: string[];
  iat: number;
  exp: number;
}

/** What the caller of a /v2 request may do. */
export type Caller =
  | { kind: 'none' }
  | { kind: 'invalid'; why: string }
  | { kind: 'denied'; who: string; why: string }
  | { kind: 'ok'; who: string; access: string[] };

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export function signRegistryToken(secret: Buffer, claims: RegistryTokenClaims): string {
  const payload = b64u(JSON.stringify(claims));
  return `lsr1.${payload}.${b64u(createHmac('sha256', secret).update(payload).digest())}`;
}

/** The claims of a registry token, or a reason it is not valid (bad format or MAC, expired). */
export function verifyRegistryToken(secret: Buffer, token: string, nowSeconds: number): RegistryTokenClaims | string {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== 'lsr1') return 'not a registry token';
  const mac = createHmac('sha256', secret).update(parts[1]!).digest();
  const given = Buffer.from(parts[2]!, 'base64url');
  if (given.length !== mac.length || !timingSafeEqual(given, mac))
    return 'registry token signature is not valid (issued by another gateway or altered)';
  let claims: RegistryTokenClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as RegistryTokenClaims;
  } catch {
    return 'registry token payload is not JSON';
  }
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds)
    return 'registry token has expired; ask /v2/token for a new one';
  if (!Array.isArray(claims.access)) return 'registry token names no access';
  return claims;
}

/** Credentials in an Authorization header: an LSE token (Basic password or Bearer) or a registry token. */
function credential(req: FastifyRequest): { type: 'basic' | 'bearer'; value: string } | undefined {
  const h = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(\S+)$/i.exec(h);
  if (bearer) return { type: 'bearer', value: bearer[1]! };
  const basic = /^Basic\s+(\S+)$/i.exec(h);
  if (!basic) return undefined;
  const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return { type: 'basic', value: i < 0 ? '' : text.slice(i + 1) };
}

/** An LSE token from LSE_TOKENS: its name if it may pull, or why not. */
function lseToken(auth: AuthConfig, token: string): Caller {
  const who = auth.tokens.get(token);
  if (!who)
    return {
      kind: 'invalid',
      why: "the credentials are not valid: use an LSE token (LSE_TOKENS) with scope 'pull', 'synth' or 'admin' as the password",
    };
  if (!PULL_SCOPES.some((s) => who.scopes.has(s))) {
    return {
      kind: 'denied',
      who: who.name,
      why: `token '${who.name}' has scopes ${[...who.scopes].join(', ')}, none of which allows pulling; ask an admin for a token with scope 'pull'`,
    };
  }
  return { kind: 'ok', who: who.name, access: ['*'] };
}

/** Who is calling a /v2 endpoint, from the Authorization header (registry token or LSE token). */
export function registryCaller(auth: AuthConfig, secret: Buffer, req: FastifyRequest, nowSeconds: number): Caller {
  if (auth.disabled) return { kind: 'ok', who: 'anyone (LSE_AUTH=off)', access: ['*'] };
  const c = credential(req);
  if (!c) return { kind: 'none' };
  if (c.type === 'bearer' && c.value.startsWith('lsr1.')) {
    const claims = verifyRegistryToken(secret, c.value, nowSeconds);
    return typeof claims === 'string'
      ? { kind: 'invalid', why: claims }
      : { kind: 'ok', who: claims.sub, access: claims.access };
  }
  return lseToken(auth, c.value);
}

/** Whether a caller may pull `name`. */
export function mayPull(caller: Caller, name: string): boolean {
  return caller.kind === 'ok' && (caller.access.includes('*') || caller.access.includes(name));
}

/** Repository names asked for pull in `scope` parameters (`repository:<name>:pull[,push]`). */
export function requestedNames(scopes: string[]): string[] {
  const names: string[] = [];
  for (const s of scopes) {
    for (const one of s.split(' ')) {
      const m = /^repository:([^:]+):(.+)$/.exec(one);
      if (m && m[2]!.split(',').some((a) => a === 'pull' || a === '*')) names.push(m[1]!);
    }
  }
  return names;
}

/** The `WWW-Authenticate` challenge for a /v2 request (scope omitted for `/v2/` itself). */
export function challenge(realmBase: string, name?: string, error?: string): string {
  return `Bearer realm="${realmBase}/v2/token",service="${REGISTRY_SERVICE}"${name ? `,scope="repository:${name}:pull"` : ''}${error ? `,error="${error}"` : ''}`;
}

/** Who may get a registry token from /v2/token: an LSE token (Basic password or Bearer), or anonymous. */
export function tokenRequester(auth: AuthConfig, req: FastifyRequest, anonymousPull: boolean): Caller {
  if (auth.disabled) return { kind: 'ok', who: 'anyone (LSE_AUTH=off)', access: ['*'] };
  const c = credential(req);
  if (!c) return anonymousPull ? { kind: 'ok', who: 'anonymous', access: ['*'] } : { kind: 'none' };
  return lseToken(auth, c.value);
}

/** An OAuth2 token request (`POST /v2/token`, form-encoded), as containerd sends it. */
export interface TokenForm {
  grant_type?: string;
  username?: string;
  password?: string;
  refresh_token?: string;
  service?: string;
  scope?: string | string[];
}

/** Why a form token request is malformed (OAuth2 error code and text), or undefined when it is well-formed. */
export function tokenFormProblem(
  form: TokenForm,
): { error: 'invalid_request' | 'unsupported_grant_type'; why: string } | undefined {
  const grant = form.grant_type;
  if (grant === undefined || grant === '')
    return {
      error: 'invalid_request',
      why: 'grant_type is missing: send grant_type=password with username and password (an LSE token), or grant_type=refresh_token',
    };
  if (grant !== 'password' && grant !== 'refresh_token') {
    return {
      error: 'unsupported_grant_type',
      why: `grant_type '${grant}' is not supported: use 'password' (any username, an LSE token as password) or 'refresh_token' (an LSE token)`,
    };
  }
  if (form.service !== undefined && form.service !== REGISTRY_SERVICE)
    return {
      error: 'invalid_request',
      why: `service '${form.service}' is not this registry's; it is '${REGISTRY_SERVICE}'`,
    };
  return undefined;
}

/** Who asks for a registry token with an OAuth2 form (password or refresh_token grant), or anonymous. */
export function formTokenRequester(auth: AuthConfig, form: TokenForm, anonymousPull: boolean): Caller {
  if (auth.disabled) return { kind: 'ok', who: 'anyone (LSE_AUTH=off)', access: ['*'] };
  const secret = form.grant_type === 'refresh_token' ? form.refresh_token : form.password;
  if (!secret) return anonymousPull ? { kind: 'ok', who: 'anonymous', access: ['*'] } : { kind: 'none' };
  return lseToken(auth, secret);
}
