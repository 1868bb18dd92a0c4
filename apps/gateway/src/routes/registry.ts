/**
 * The pull side of the OCI Distribution Spec v1.1 under /v2 (docs/REGISTRY.md):
 *   GET /v2/                                  200 {} when authorized (401 + challenge otherwise)
 *   GET /v2/token?service=lse&scope=...       registry token (registry-auth.ts)
 *   POST /v2/token (OAuth2 form: grant_type=password|refresh_token, service, scope, ...), as containerd asks
 *   GET|HEAD /v2/<name>/manifests/<tag|digest>
 *   GET|HEAD /v2/<name>/blobs/<digest>        streamed from the layer store, `Range` → 206
 *   GET /v2/<name>/tags/list
 *   GET /v2/<name>/referrers/<digest>[?artifactType=...]   the SBOM, signature, provenance (attachments.ts)
 * A client that accepts only Docker schema 2 manifests gets the image in Docker media types.
 * Errors are OCI bodies `{ errors: [{ code, message, detail }] }`. Push is not supported.
 *
 * Integrity: manifests are small and read whole with the store's verifying `get` before a byte
 * is sent. Blobs are streamed through the store's digest verifier, which can only tell at the
 * end; the last chunk is held back until the verifier has finished cleanly, so a blob whose
 * stored bytes do not match its digest is never delivered complete: the connection is cut short
 * of Content-Length (the client sees a failed transfer) and the gateway logs an error.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  LseError,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  isIndexMediaType,
  isLseError,
  isManifestMediaType,
  referrersIndex,
  sha256Digest,
  dockerManifestOf,
  dockerManifestListOf,
  type Descriptor,
} from '@lse/core';
import { Attachments } from '../attachments';
import type { GatewayDeps, RegistrySettings } from '../deps';
import {
  challenge,
  formTokenRequester,
  mayPull,
  registryCaller,
  requestedNames,
  signRegistryToken,
  tokenFormProblem,
  tokenRequester,
  type Caller,
  type TokenForm,
} from '../registry-auth';
import { PKGS_PREFIX, Puller, RegistryError, SYNTH_PREFIX } from '../registry-pull';

const NAME_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

interface BlobStream {
  stream: Readable;
  size: number;
  contentLength: number;
}
/** A layer store that can stream (the S3 adapter); others are read whole (and verified) instead. */
type Streaming = { getStream?: (digest: string, range?: { start: number; end?: number }) => Promise<BlobStream> };

export function defaultRegistrySettings(): RegistrySettings {
  return {
    secret: randomBytes(32),
    anonymousPull: false,
    pkgsBase: 'minimal',
    pkgsPlatforms: [{ os: 'linux', arch: 'amd64' }],
    tokenTtlSeconds: 300,
  };
}

/** Holds back the most recent chunk until the source has ended cleanly. */
class HoldLast extends Transform {
  private held: Buffer | undefined;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const prev = this.held;
    this.held = chunk;
    done(null, prev);
  }
  override _flush(done: TransformCallback): void {
    done(null, this.held);
  }
}

type Target = { name: string; kind: 'manifests' | 'blobs' | 'referrers'; ref: string } | { name: string; kind: 'tags' };

function parseTarget(rest: string): Target {
  const tags = /^(.+)\/tags\/list$/.exec(rest);
  const m = tags ? undefined : /^(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(rest);
  const name = tags?.[1] ?? m?.[1];
  if (!name)
    throw new RegistryError(
      404,
      'UNSUPPORTED',
      `no /v2 endpoint '${rest}': use /v2/<name>/manifests/<ref>, /v2/<name>/blobs/<digest>, /v2/<name>/referrers/<digest> or /v2/<name>/tags/list`,
    );
  if (!NAME_RE.test(name) || name.length > 255)
    throw new RegistryError(
      400,
      'NAME_INVALID',
      `'${name}' is not a repository name: lowercase letters and digits separated by '.', '_', '-' or '/'`,
      { name },
    );
  if (!name.startsWith(PKGS_PREFIX) && !name.startsWith(SYNTH_PREFIX)) {
    throw new RegistryError(
      404,
      'NAME_UNKNOWN',
      `no repository '${name}': names are pkgs/<package>[/<package>...] or synth/<synthesis id or key> (docs/REGISTRY.md)`,
      { name },
    );
  }
  return tags ? { name, kind: 'tags' } : { name, kind: m![2] as 'manifests' | 'blobs' | 'referrers', ref: m![3]! };
}

const DOCKER_TYPES = new Set([MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST]);

/** True when `Accept` names Docker schema 2 manifest types and no OCI (or wildcard) type. */
export function acceptsOnlyDocker(accept: string | string[] | undefined): boolean {
  const types = (Array.isArray(accept) ? accept.join(',') : (accept ?? ''))
    .split(',')
    .map((t) => t.split(';')[0]!.trim().toLowerCase())
    .filter(Boolean);
  return (
    types.some((t) => DOCKER_TYPES.has(t)) &&
    !types.some((t) => !DOCKER_TYPES.has(t) && (t.startsWith('application/vnd.oci.') || t.includes('*')))
  );
}

function checkDigest(ref: string): void {
  if (/^sha256:[0-9a-f]{64}$/.test(ref)) return;
  if (!ref.startsWith('sha256:') && /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(ref))
    throw new RegistryError(400, 'UNSUPPORTED', `digest '${ref}': only sha256 digests are served`, { digest: ref });
  throw new RegistryError(400, 'DIGEST_INVALID', `'${ref}' is not a digest (sha256:<64 hex>)`, { digest: ref });
}

/** `Range: bytes=a-b` (one range) → start/end, or undefined (none, or a unit other than bytes: ignored, RFC 9110 14.2); RANGE_INVALID as 416. */
export function parseRange(h: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!h || !/^\s*bytes=/i.test(h)) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(h.trim());
  const bad = () =>
    new RegistryError(
      416,
      'RANGE_INVALID',
      `Range '${h}' is not satisfiable for a blob of ${size} bytes; send one range 'bytes=start-end' inside it`,
      { range: h, size },
    );
  if (!m || (m[1] === '' && m[2] === '')) throw bad();
  let start: number;
  let end: number;
  if (m[1] === '') {
    // suffix: the last N bytes
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) throw bad();
  return { start, end };
}

export function registryRoutes(app: FastifyInstance, d: GatewayDeps): void {
  const s = d.registry ?? defaultRegistrySettings();
  const puller = new Puller(d, s);
  const realmBase = (req: FastifyRequest) =>
    (s.publicUrl ?? `${req.protocol}://${req.headers.host ?? '127.0.0.1'}`).replace(/\/+$/, '');
  const nowSeconds = () => Math.floor(d.now().getTime() / 1000);

  /** 401 with a challenge (no or invalid credentials, or a token without this name), 403 for a token without a pull scope. */
  const authorize = (req: FastifyRequest, reply: FastifyReply, name?: string): void => {
    const caller = registryCaller(d.auth, s.secret, req, nowSeconds());
    if (caller.kind === 'ok' && (name === undefined || mayPull(caller, name))) {
      req.log = req.log.child({ caller: caller.who });
      return;
    }
    if (caller.kind === 'none' && s.anonymousPull) return;
    if (caller.kind === 'denied') throw new RegistryError(403, 'DENIED', caller.why, name ? { name } : {});
    const insufficient = caller.kind === 'ok';
    reply.header(
      'WWW-Authenticate',
      challenge(
        realmBase(req),
        name,
        caller.kind === 'invalid' ? 'invalid_token' : insufficient ? 'insufficient_scope' : undefined,
      ),
    );
    const why =
      caller.kind === 'invalid'
        ? caller.why
        : insufficient
          ? `the token does not grant pull of '${name}'; ask /v2/token with scope repository:${name}:pull`
          : 'authentication required: log in with any username and an LSE token as the password (skopeo --creds lse:$LSE_TOKEN), then follow the Bearer challenge';
    throw new RegistryError(401, 'UNAUTHORIZED', why, name ? { name } : {});
  };

  const attachments = new Attachments(d, s.signingKey);

  /** The stored manifest or index `digest`, checked against its digest; MANIFEST_UNKNOWN when absent or not a manifest. */
  const readManifest = async (
    req: FastifyRequest,
    name: string,
    digest: string,
  ): Promise<{ bytes: Buffer; mediaType: string }> => {
    let bytes: Buffer;
    try {
      bytes = await d.ports.layers.get(digest);
    } catch (e) {
      if (isLseError(e, 'BLOB_UNKNOWN'))
        throw new RegistryError(404, 'MANIFEST_UNKNOWN', `${name} has no manifest ${digest}`, { name, digest });
      if (isLseError(e, 'DIGEST_MISMATCH') || isLseError(e, 'SIZE_MISMATCH')) {
        req.log.error({ digest, name, err: e.message }, 'stored manifest does not match its digest; not served');
        throw new RegistryError(
          500,
          'DIGEST_INVALID',
          `the stored manifest ${digest} does not match its digest (altered in storage); it is not served`,
          { digest },
        );
      }
      throw e;
    }
    let mediaType: string | undefined;
    try {
      mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
    } catch {
      /* not JSON: not a manifest */
    }
    if (!mediaType || !(isManifestMediaType(mediaType) || isIndexMediaType(mediaType))) {
      throw new RegistryError(404, 'MANIFEST_UNKNOWN', `${digest} is not a manifest or index (pull it as a blob)`, {
        name,
        digest,
      });
    }
    return { bytes, mediaType };
  };

  /** A digest this name may serve: for `synth/`, the synthesis' manifest or an attachment of it; for `pkgs/`, an image of these packages. */
  const checkOwned = async (name: string, digest: string, bytes: Buffer) => {
    if (name.startsWith(SYNTH_PREFIX)) {
      const rec = await puller.synthRecord(name.slice(SYNTH_PREFIX.length));
      const image = (rec.result as { manifestDigest?: string }).manifestDigest ?? '';
      const subject = (JSON.parse(bytes.toString('utf8')) as { subject?: { digest?: string } }).subject?.digest;
      if (
        image !== digest &&
        !(subject === image && (await attachments.of(image)).some((a) => a.manifest.digest === digest)) &&
        dockerForms.get(image)?.digest !== digest
      ) {
        throw new RegistryError(404, 'MANIFEST_UNKNOWN', `${name} has no manifest ${digest}`, { name, digest });
      }
      await puller.lease(rec);
      return;
    }
    if (!(await puller.pkgsOwns(name, digest, bytes))) {
      throw new RegistryError(
        404,
        'MANIFEST_UNKNOWN',
        `${digest} is not an image of ${name} (an image by digest is served under a name whose packages it contains)`,
        { name, digest },
      );
    }
  };

  /**
   * Docker schema 2 forms made for clients that accept only those: OCI digest → Docker digest
   * (stored, leased; the lease is renewed at most every RENEW_MS, as a tag's result is remembered).
   */
  const dockerForms = new Map<string, { digest: string; renewedAt: number }>();
  const RENEW_MS = 30_000;
  const dockerForm = async (
    digest: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<{ digest: string; bytes: Buffer; mediaType: string } | undefined> => {
    let out: Buffer | undefined;
    const extra: Buffer[] = [];
    if (mediaType === MEDIA_TYPE_OCI_MANIFEST) {
      out = dockerManifestOf(bytes);
    } else if (mediaType === MEDIA_TYPE_OCI_INDEX) {
      const children = new Map<string, Descriptor>();
      for (const c of (JSON.parse(bytes.toString('utf8')) as { manifests?: Descriptor[] }).manifests ?? []) {
        const child =
          c.mediaType === MEDIA_TYPE_OCI_MANIFEST ? dockerManifestOf(await d.ports.layers.get(c.digest)) : undefined;
        if (!child) return undefined;
        extra.push(child);
        children.set(c.digest, {
          mediaType: MEDIA_TYPE_DOCKER_MANIFEST,
          digest: sha256Digest(child),
          size: child.length,
        });
      }
      out = dockerManifestListOf(bytes, children);
    }
    if (!out) return undefined;
    const dockerDigest = sha256Digest(out);
    const known = dockerForms.get(digest);
    if (known?.digest !== dockerDigest) {
      const blobs = [out, ...extra];
      await d.leases.put({
        synthesisId: `reg-docker-${digest.slice(7, 39)}`,
        key: digest,
        expiresAt: new Date(d.now().getTime() + d.leaseTtlSeconds * 1000).toISOString(),
        blobs: blobs.map((b) => sha256Digest(b)),
      });
      for (const b of blobs) await d.ports.layers.put(sha256Digest(b), b, b.length);
      dockerForms.set(digest, { digest: dockerDigest, renewedAt: Date.now() });
      if (dockerForms.size > 4096) dockerForms.delete(dockerForms.keys().next().value!);
    } else if (Date.now() - known.renewedAt > RENEW_MS) {
      known.renewedAt = Date.now();
      await d.leases.renew(
        `reg-docker-${digest.slice(7, 39)}`,
        new Date(d.now().getTime() + d.leaseTtlSeconds * 1000).toISOString(),
      );
    }
    return {
      digest: dockerDigest,
      bytes: out,
      mediaType: mediaType === MEDIA_TYPE_OCI_INDEX ? MEDIA_TYPE_DOCKER_MANIFEST_LIST : MEDIA_TYPE_DOCKER_MANIFEST,
    };
  };

  const manifest = async (req: FastifyRequest, reply: FastifyReply, name: string, ref: string) => {
    let found: { digest: string; bytes: Buffer; mediaType: string };
    const cosign = /^sha256-([0-9a-f]{64})\.(sig|att)$/.exec(ref);
    if (ref.includes(':')) {
      checkDigest(ref);
      const m = await readManifest(req, name, ref);
      await checkOwned(name, ref, m.bytes);
      found = { digest: ref, ...m };
    } else if (!TAG_RE.test(ref)) {
      throw new RegistryError(
        404,
        'MANIFEST_UNKNOWN',
        `'${ref}' is not a tag (letters, digits, '_', '.', '-'; at most 128), so ${name} has no such manifest`,
        { name, tag: ref },
      );
    } else if (cosign) {
      // cosign's tag convention: the signature (.sig) or attestation (.att) of sha256:<hex>.
      const subject = `sha256:${cosign[1]}`;
      const image = await readManifest(req, name, subject).catch(() => undefined);
      if (image) await checkOwned(name, subject, image.bytes);
      const att = image ? (await attachments.of(subject)).find((a) => a.cosignTag === ref) : undefined;
      if (!att)
        throw new RegistryError(
          404,
          'MANIFEST_UNKNOWN',
          `${name} has no ${cosign[2] === 'sig' ? 'signature' : 'attestation'} of ${subject}${s.signingKey ? '' : ' (the gateway has no image signing key: LSE_IMAGE_SIGNING_KEY)'}`,
          { name, tag: ref },
        );
      found = { digest: att.manifest.digest, bytes: att.manifest.bytes, mediaType: MEDIA_TYPE_OCI_MANIFEST };
    } else {
      const digest = (await puller.resolveTag(name, ref)).digest;
      found = { digest, ...(await readManifest(req, name, digest)) };
      if (acceptsOnlyDocker(req.headers.accept))
        found = (await dockerForm(found.digest, found.bytes, found.mediaType)) ?? found;
    }
    reply
      .header('content-type', found.mediaType)
      .header('docker-content-digest', found.digest)
      .header('content-length', String(found.bytes.length))
      .header('etag', `"${found.digest}"`);
    if (req.method === 'HEAD') return reply.code(200).send();
    return reply.code(200).send(found.bytes);
  };

  /** GET /v2/<name>/referrers/<digest>: an image index of the artifacts whose subject is the digest (empty for an unknown one). */
  const referrers = async (req: FastifyRequest, reply: FastifyReply, name: string, digest: string) => {
    checkDigest(digest);
    const image = await readManifest(req, name, digest).catch((e: unknown) => {
      if (e instanceof RegistryError && e.status === 404) return undefined;
      throw e;
    });
    let listed = image ? (await attachments.of(digest)).map((a) => a.descriptor) : [];
    if (image && listed.length) {
      try {
        await checkOwned(name, digest, image.bytes);
      } catch (e) {
        if (!(e instanceof RegistryError && e.code === 'MANIFEST_UNKNOWN')) throw e;
        listed = [];
      }
    }
    const q = req.query as { artifactType?: string | string[] };
    const filter = Array.isArray(q.artifactType) ? q.artifactType[0] : q.artifactType;
    if (filter !== undefined) reply.header('oci-filters-applied', 'artifactType');
    const body = referrersIndex(listed, filter);
    return reply
      .code(200)
      .header('content-type', MEDIA_TYPE_OCI_INDEX)
      .header('content-length', String(body.length))
      .send(body);
  };

  const blob = async (req: FastifyRequest, reply: FastifyReply, name: string, digest: string) => {
    checkDigest(digest);
    if (name.startsWith(SYNTH_PREFIX)) await puller.synthRecord(name.slice(SYNTH_PREFIX.length));
    const size = await d.ports.layers.stat(digest);
    if (size === undefined)
      throw new RegistryError(
        404,
        'BLOB_UNKNOWN',
        `blob ${digest} is not in the layer store (never made, or collected after its lease ended)`,
        { digest },
      );
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'docker-content-digest': digest,
      'accept-ranges': 'bytes',
      etag: `"${digest}"`,
    };
    if (req.method === 'HEAD')
      return reply
        .code(200)
        .headers({ ...headers, 'content-length': String(size) })
        .send();
    let range: { start: number; end: number } | undefined;
    try {
      range = parseRange(req.headers.range, size);
    } catch (e) {
      reply.header('content-range', `bytes */${size}`);
      throw e;
    }
    const store = d.ports.layers as unknown as Streaming;
    let body: BlobStream;
    if (store.getStream) {
      body = await store.getStream(digest, range);
    } else {
      const all = await d.ports.layers.get(digest);
      const part = range ? all.subarray(range.start, range.end + 1) : all;
      body = { stream: Readable.from([part]), size: all.length, contentLength: part.length };
    }
    const status = range ? 206 : 200;
    if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${body.size}`;
    headers['content-length'] = String(body.contentLength);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(status, headers);
    pipeline(body.stream, new HoldLast(), res, (err) => {
      if (!err) return;
      if (isLseError(err))
        req.log.error(
          { digest, name, code: err.code, err: err.message },
          'blob does not match its digest: transfer aborted, the client did not get it',
        );
      else req.log.warn({ digest, name, err: err.message }, 'blob transfer ended early');
      res.destroy();
    });
    return reply;
  };

  /** The public half of the image key, for `cosign verify --key` (public: no credentials needed). */
  app.get('/v1/image-key', async (_req, reply) => {
    if (!s.signingKey)
      throw new LseError(
        'NOT_FOUND',
        'this gateway signs no images: set LSE_IMAGE_SIGNING_KEY to a PEM ECDSA P-256 key',
      );
    return reply
      .code(200)
      .header('content-type', 'application/x-pem-file')
      .header('x-lse-key-id', s.signingKey.keyId)
      .send(s.signingKey.publicKeyPem);
  });

  app.register(
    async (v2) => {
      v2.setErrorHandler((e, req, reply) => {
        if (e instanceof RegistryError)
          return reply.code(e.status).send({ errors: [{ code: e.code, message: e.message, detail: e.detail }] });
        const fe = e as { statusCode?: number; message?: string };
        if (!isLseError(e) && fe.statusCode && fe.statusCode < 500)
          return reply
            .code(fe.statusCode)
            .send({ errors: [{ code: 'UNSUPPORTED', message: fe.message ?? 'bad request', detail: {} }] });
        if (isLseError(e, 'BLOB_UNKNOWN'))
          return reply.code(404).send({ errors: [{ code: 'BLOB_UNKNOWN', message: e.message, detail: e.details }] });
        req.log.error(
          { err: (e as Error).message, code: isLseError(e) ? e.code : undefined },
          'registry request failed',
        );
        return reply.code(500).send({
          errors: [
            {
              code: 'UNKNOWN',
              message: isLseError(e) ? e.message : 'internal error; the gateway log has the details',
              detail: isLseError(e) ? { code: e.code } : {},
            },
          ],
        });
      });
      v2.setNotFoundHandler((req, reply) =>
        reply
          .code(404)
          .send({ errors: [{ code: 'UNSUPPORTED', message: `no /v2 endpoint ${req.method} ${req.url}`, detail: {} }] }),
      );

      v2.get('/', async (req, reply) => {
        authorize(req, reply);
        return reply.header('docker-distribution-api-version', 'registry/2.0').send({});
      });

      /** A registry token for the names asked for in `scopes` (only valid repository names). */
      const issue = (
        req: FastifyRequest,
        who: Extract<Caller, { kind: 'ok' }>,
        scopes: string | string[] | undefined,
      ) => {
        const names = requestedNames(scopes === undefined ? [] : Array.isArray(scopes) ? scopes : [scopes]).filter(
          (n) => NAME_RE.test(n),
        );
        const iat = nowSeconds();
        const token = signRegistryToken(s.secret, { sub: who.who, access: names, iat, exp: iat + s.tokenTtlSeconds });
        req.log.info({ caller: who.who, names }, 'registry token issued');
        return {
          token,
          access_token: token,
          token_type: 'Bearer',
          expires_in: s.tokenTtlSeconds,
          issued_at: new Date(iat * 1000).toISOString(),
        };
      };

      v2.get('/token', async (req, reply) => {
        const q = req.query as { scope?: string | string[]; service?: string };
        const who = tokenRequester(d.auth, req, s.anonymousPull);
        if (who.kind === 'denied') throw new RegistryError(403, 'DENIED', who.why);
        if (who.kind !== 'ok') {
          reply.header('WWW-Authenticate', 'Basic realm="lse"');
          throw new RegistryError(
            401,
            'UNAUTHORIZED',
            who.kind === 'invalid'
              ? who.why
              : 'send HTTP Basic credentials: any username, an LSE token (scope pull, synth or admin) as the password',
          );
        }
        return issue(req, who, q.scope);
      });

      // The OAuth2 form POST (containerd, and the spec's OAuth2 token docs). Errors carry both the
      // OAuth2 fields (`error`, `error_description`) and the registry's `errors` list.
      v2.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
        const form: Record<string, string | string[]> = {};
        for (const [k, v] of new URLSearchParams(body as string)) {
          const prev = form[k];
          form[k] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
        }
        done(null, form);
      });
      v2.post('/token', async (req, reply) => {
        const raw = (req.body ?? {}) as Record<string, unknown>;
        const one = (k: string) => {
          const v = raw[k];
          return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
        };
        const scope = raw['scope'];
        const form: TokenForm = {
          grant_type: one('grant_type'),
          username: one('username'),
          password: one('password'),
          refresh_token: one('refresh_token'),
          service: one('service'),
          scope:
            typeof scope === 'string' || (Array.isArray(scope) && scope.every((x) => typeof x === 'string'))
              ? (scope as string | string[])
              : undefined,
        };
        const fail = (status: number, error: string, code: string, why: string) =>
          reply.code(status).send({ error, error_description: why, errors: [{ code, message: why, detail: {} }] });
        const problem = tokenFormProblem(form);
        if (problem) return fail(400, problem.error, 'UNSUPPORTED', problem.why);
        const who = formTokenRequester(d.auth, form, s.anonymousPull);
        if (who.kind === 'denied') return fail(403, 'unauthorized_client', 'DENIED', who.why);
        if (who.kind !== 'ok') {
          return fail(
            401,
            'invalid_grant',
            'UNAUTHORIZED',
            who.kind === 'invalid'
              ? who.why
              : 'send grant_type=password with any username and an LSE token (scope pull, synth or admin) as the password',
          );
        }
        return issue(req, who, form.scope);
      });

      v2.route({
        method: ['GET', 'HEAD'],
        url: '/*',
        handler: async (req, reply) => {
          const t = parseTarget((req.params as { '*': string })['*']);
          authorize(req, reply, t.name);
          if (t.kind === 'manifests') return manifest(req, reply, t.name, t.ref);
          if (t.kind === 'blobs') return blob(req, reply, t.name, t.ref);
          if (req.method === 'HEAD')
            throw new RegistryError(
              405,
              'UNSUPPORTED',
              `${t.kind === 'tags' ? 'tags/list' : 'referrers'} answers GET only`,
            );
          if (t.kind === 'referrers') return referrers(req, reply, t.name, t.ref);
          return tagsList(req, t.name);
        },
      });
      v2.route({
        method: ['POST', 'PUT', 'PATCH', 'DELETE'],
        url: '/*',
        handler: async () => {
          throw new RegistryError(
            405,
            'UNSUPPORTED',
            'this registry is pull-only: images are synthesized from fragments (docs/REGISTRY.md)',
          );
        },
      });
    },
    { prefix: '/v2' },
  );

  const tagsList = async (req: FastifyRequest, name: string) => {
    let tags: string[];
    if (name.startsWith(SYNTH_PREFIX)) {
      await puller.synthRecord(name.slice(SYNTH_PREFIX.length));
      tags = ['latest'];
    } else {
      await puller.checkPackages(name);
      tags = [
        ...new Set([
          'latest',
          'scratch',
          ...(await d.ports.bases.tags()).map((t) => t.name).filter((n) => TAG_RE.test(n)),
        ]),
      ].sort();
    }
    const q = req.query as { n?: string; last?: string };
    if (q.last) tags = tags.filter((t) => t > q.last!);
    if (q.n !== undefined && /^\d+$/.test(q.n)) tags = tags.slice(0, Number(q.n));
    return { name, tags };
  };
}
