import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { isDigest } from '@lse/core';
import { requireScope } from '../auth';
import type { GatewayDeps } from '../deps';
import { httpError } from '../errors';
import { receiveProofBlob, registerDebianRelease } from '../debian-proofs';

/**
 * Debian proofs (scope publish, as publishing fragments): the blobs of a release, taken as raw
 * bodies under their digest and stored in the origin blob store as the embedded import does, and
 * the registration of a release (debian-proofs.ts). Blobs uploaded but never registered stay in
 * the origin (content-addressed, like fragment blobs; nothing refers to them).
 */
export function debianRoutes(app: FastifyInstance, d: GatewayDeps): void {
  const publish = requireScope(d.auth, 'publish');

  app.head('/v1/debian/blobs/:digest', { onRequest: publish }, async (req, reply) => {
    const { digest } = req.params as { digest: string };
    if (!isDigest(digest)) throw httpError('DIGEST_INVALID', `'${digest}' is not a sha256 digest`);
    const size = await d.ports.origin.stat(digest);
    if (size === undefined) return reply.code(404).send();
    return reply.code(200).header('content-length', String(size)).send();
  });

  // The body is read here, as a stream (hashed and counted while it arrives), not by a parser.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    scope.put('/v1/debian/blobs/:digest', { onRequest: publish }, async (req, reply) => {
      const { digest } = req.params as { digest: string };
      const declared = req.headers['content-length'];
      const body = (req.body ?? req.raw) as IncomingMessage;
      const data = await receiveProofBlob(
        digest,
        body,
        d.debian?.blobLimitBytes ?? 128 * 1024 * 1024,
        declared !== undefined ? Number(declared) : undefined,
      );
      const had = await d.ports.origin.has(digest);
      if (!had) await d.ports.origin.put(digest, data, data.length);
      req.log.info({ digest, size: data.length, created: !had }, 'Debian proof blob stored');
      return reply.code(had ? 200 : 201).send({ digest, size: data.length, created: !had });
    });
  });

  app.post('/v1/debian/releases', { onRequest: publish }, async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    if (
      typeof b['inRelease'] !== 'string' ||
      (b['releaseGpg'] !== undefined && typeof b['releaseGpg'] !== 'string') ||
      !Array.isArray(b['packages']) ||
      !b['packages'].every((p) => typeof p === 'string') ||
      (b['allowOlder'] !== undefined && typeof b['allowOlder'] !== 'boolean')
    )
      throw httpError(
        'USAGE',
        'body must be { inRelease: "sha256:…", releaseGpg?: "sha256:…", packages: ["sha256:…"], allowOlder?: boolean }, the blobs uploaded first with PUT /v1/debian/blobs/DIGEST',
      );
    const r = await registerDebianRelease(
      d.debian,
      d.ports.origin,
      {
        inRelease: b['inRelease'],
        ...(typeof b['releaseGpg'] === 'string' ? { releaseGpg: b['releaseGpg'] } : {}),
        packages: b['packages'] as string[],
        allowOlder: b['allowOlder'] === true,
      },
      d.now(),
    );
    req.log.info({ suite: r.suite, date: r.date, packages: r.packages.length }, 'Debian release registered');
    return reply.code(201).send(r);
  });
}
