import type { FastifyInstance } from 'fastify';
import {
  DEB_MEDIA_TYPE,
  LseError,
  compareVersions,
  fragmentId,
  isDigest,
  parsePublicKey,
  acceptFragment,
  signatureCoverage,
  type Acceptance,
  type Fragment,
  type TrustedKey,
} from '@lse/core';
import {
  checkBaseName,
  checkFragmentBlob,
  importBaseImage,
  publishBaseTagged,
  publishFragments,
  publishTrustChanged,
  storeOneLayerBase,
} from '@lse/engine';
import { rootfsLayerOffThread } from '../offload';
import { requireScope } from '../auth';
import type { GatewayDeps } from '../deps';
import { httpError } from '../errors';
import { debianChainCheck } from '../debian-proofs';

function b64(v: unknown, what: string): Buffer {
  if (typeof v !== 'string') throw httpError('USAGE', `${what} must be base64 text`);
  return Buffer.from(v, 'base64');
}

/** Most fragments per /v1/fragments/batch request (a Debian index goes in ~13 requests). */
const BATCH_MAX = 5000;

function summary(f: Fragment) {
  const d = f.descriptor;
  return {
    id: f.id,
    name: d.name,
    version: d.version,
    scheme: d.scheme,
    attributes: d.attributes,
    size: d.blob.size,
    files: d.files.length,
    signedBy: f.signatures.map((s) => s.keyName),
    signatureKinds: f.signatures.map((s) => signatureCoverage(s)),
  };
}

/**
 * Whether a published fragment is accepted, the one signature check both publish routes make:
 * a whole-descriptor signature by a trusted, unrevoked, in-scope key, or a derivation signature
 * by such a key with Debian's chain of trust verified (core acceptFragment; the chain over the
 * proof blobs in the origin with LSE_DEBIAN_KEYRING, `ports.debianChain`, kept per fragment).
 */
export function acceptPublished(
  d: GatewayDeps,
  f: Fragment,
  keys: ReadonlyMap<string, TrustedKey>,
): Promise<Acceptance> {
  return acceptFragment(f, keys, d.ports.debianChain);
}

/**
 * Fragments, bases and trust keys. Publishing verifies everything before anything is stored;
 * once stored, a change is announced on the catalog stream (lse.catalog.*) before the response,
 * so an acknowledged fragment is on its way to every resolver's in-memory catalog. A stored
 * fragment is announced again when it is published again ('exists'), which repairs a lost event.
 */
export function catalogRoutes(app: FastifyInstance, d: GatewayDeps): void {
  const publish = requireScope(d.auth, 'publish');
  const admin = requireScope(d.auth, 'admin');
  const synth = requireScope(d.auth, 'synth');

  app.post('/v1/fragments', { onRequest: publish }, async (req, reply) => {
    const body = (req.body ?? {}) as { fragment?: Fragment; blob?: string };
    const f = body.fragment;
    if (!f || typeof f !== 'object' || !f.descriptor || !Array.isArray(f.signatures)) {
      throw httpError(
        'USAGE',
        "body must be { fragment: { id, descriptor, signatures }, blob: base64 } as 'lse fragment pack --server' sends",
      );
    }
    if (!isDigest(f.id) || fragmentId(f.descriptor) !== f.id)
      throw new LseError('FRAGMENT_INVALID', `fragment id ${String(f.id)} is not the hash of its descriptor`, {
        id: f.id,
      });
    const blob = b64(body.blob, 'blob');
    const keys = new Map<string, TrustedKey>((await d.ports.trust.list()).map((k) => [k.name, k]));
    const acceptance = await acceptPublished(d, f, keys);
    await debianChainCheck(d.debian, d.ports.origin)(f, acceptance.covers === 'derivation');
    checkFragmentBlob(f, blob);
    await d.ports.origin.put(f.descriptor.blob.digest, blob, blob.length);
    const created = (await d.ports.fragments.put(f)) === 'created';
    await publishFragments(d.bus, [f]);
    req.log.info(
      { fragment: f.id, name: f.descriptor.name, version: f.descriptor.version, created },
      'fragment published',
    );
    return reply.code(created ? 201 : 200).send({ ...summary(f), created });
  });

  // Many fragments at once (`lse import debian-index --server`): verified one by one (signature,
  // key scope, Debian's chain for those carrying a proof: one InRelease check and one Packages
  // read per request), stored in one putMany. Only fragments whose blob needs no upload: a .deb
  // named by a Debian index (fetched and checked against the signed digest on first use) or a
  // blob already stored.
  app.post('/v1/fragments/batch', { onRequest: publish }, async (req) => {
    const list = ((req.body ?? {}) as { fragments?: unknown }).fragments;
    if (!Array.isArray(list) || list.length > BATCH_MAX)
      throw httpError('USAGE', `body must be { fragments: [...] } with at most ${BATCH_MAX} fragments`);
    const keys = new Map<string, TrustedKey>((await d.ports.trust.list()).map((k) => [k.name, k]));
    const checkChain = debianChainCheck(d.debian, d.ports.origin);
    const accepted: Fragment[] = [];
    const rejected: { id: string; name: string; version: string; code: string; message: string }[] = [];
    for (const item of list as Fragment[]) {
      const id = String(item?.id ?? '');
      try {
        if (!item || typeof item !== 'object' || !item.descriptor || !Array.isArray(item.signatures))
          throw new LseError('USAGE', 'not a fragment { id, descriptor, signatures }');
        if (!isDigest(item.id) || fragmentId(item.descriptor) !== item.id)
          throw new LseError('FRAGMENT_INVALID', `fragment id ${id} is not the hash of its descriptor`, { id });
        const acceptance = await acceptPublished(d, item, keys);
        await checkChain(item, acceptance.covers === 'derivation');
        const blob = item.descriptor.blob;
        if (blob?.mediaType !== DEB_MEDIA_TYPE && !(await d.ports.origin.has(blob?.digest ?? ''))) {
          throw new LseError(
            'BLOB_UNKNOWN',
            `the blob ${String(blob?.digest)} is not stored; publish this fragment with its blob (POST /v1/fragments)`,
            { id },
          );
        }
        accepted.push(item);
      } catch (e) {
        const err = e instanceof LseError ? e : new LseError('FRAGMENT_INVALID', (e as Error).message);
        rejected.push({
          id,
          name: String(item?.descriptor?.name ?? ''),
          version: String(item?.descriptor?.version ?? ''),
          code: err.code,
          message: err.message,
        });
      }
    }
    const { created, existing } = await d.ports.fragments.putMany(accepted);
    await publishFragments(d.bus, accepted);
    req.log.info({ received: list.length, created, existing, rejected: rejected.length }, 'fragment batch published');
    return { created, existing, rejected };
  });

  app.post('/v1/fragments/sets', { onRequest: publish }, async (req) => {
    const sets = ((req.body ?? {}) as { sets?: unknown }).sets;
    if (!Array.isArray(sets) || sets.length > BATCH_MAX || !sets.every((i) => typeof i === 'string' && isDigest(i)))
      throw httpError(
        'USAGE',
        `body must be { sets: ["sha256:…"] } (set digests of fragment ids) with at most ${BATCH_MAX} entries`,
      );
    return { stored: await d.ports.fragments.storedSets(sets as string[]) };
  });

  app.get('/v1/fragments', { onRequest: synth }, async () => {
    const all = await d.ports.fragments.list();
    all.sort(
      (a, b) =>
        a.descriptor.name.localeCompare(b.descriptor.name) ||
        compareVersions(a.descriptor.scheme, a.descriptor.version, b.descriptor.version) ||
        a.id.localeCompare(b.id),
    );
    return all.map(summary);
  });

  app.get('/v1/fragments/:name', { onRequest: synth }, async (req) => {
    const { name } = req.params as { name: string };
    const [n, version] = name.split('@') as [string, string | undefined];
    let found = await d.ports.fragments.byName(n);
    if (version) found = found.filter((f) => f.descriptor.version === version);
    if (!found.length) throw new LseError('FRAGMENT_UNKNOWN', `no fragment ${name}`, { name });
    return found.sort((a, b) => compareVersions(b.descriptor.scheme, b.descriptor.version, a.descriptor.version));
  });

  app.post('/v1/bases', { onRequest: publish }, async (req, reply) => {
    const body = (req.body ?? {}) as {
      name?: string;
      tag?: string;
      arch?: string;
      rootfsTar?: string;
      image?: {
        manifestDigest: string;
        config: Record<string, unknown>;
        layers: { digest: string; size: number; mediaType: string; data: string }[];
      };
    };
    const name = String(body.name ?? '');
    const tag = String(body.tag ?? 'latest');
    if (body.rootfsTar !== undefined) {
      checkBaseName(name, tag);
      // Read and normalized on a worker thread, within a time budget: the event loop keeps serving.
      const { layer, dropped, packages } = await rootfsLayerOffThread(
        b64(body.rootfsTar, 'rootfsTar'),
        { name, tag, epoch: d.epoch },
        d.uploadParseBudgetMs,
      );
      const base = await storeOneLayerBase(d.ports, layer, {
        name,
        tag,
        epoch: d.epoch,
        arch: body.arch ?? 'amd64',
        history: `rootfs ${name}`,
        source: { type: 'rootfs-tar', via: 'gateway' },
        ...(packages ? { packages } : {}),
      });
      await publishBaseTagged(d.bus, { name, tag, digest: base.digest });
      return reply.code(201).send({
        name,
        tag,
        digest: base.digest,
        layers: base.layers.length,
        platform: base.platform,
        dropped: dropped.length,
      });
    }
    const img = body.image;
    if (!img || !isDigest(img.manifestDigest) || !Array.isArray(img.layers) || typeof img.config !== 'object') {
      throw httpError(
        'USAGE',
        'body must be { name, tag, image: { manifestDigest, config, layers: [{ digest, size, mediaType, data: base64 }] } } or { name, tag, rootfsTar: base64 }',
      );
    }
    const base = await importBaseImage(
      d.ports,
      {
        manifestDigest: img.manifestDigest,
        config: img.config,
        layers: img.layers.map((l) => ({
          digest: l.digest,
          size: l.size,
          mediaType: l.mediaType,
          data: b64(l.data, 'layer data'),
        })),
      },
      { name, tag, source: { type: 'oci-layout', via: 'gateway' } },
    );
    await publishBaseTagged(d.bus, { name, tag, digest: base.digest });
    req.log.info({ base: base.digest, name, tag }, 'base imported');
    return reply
      .code(201)
      .send({ name, tag, digest: base.digest, layers: base.layers.length, platform: base.platform });
  });

  app.get('/v1/bases', { onRequest: synth }, async () => d.ports.bases.tags());

  app.get('/v1/keys', { onRequest: admin }, async () => d.ports.trust.list());

  app.post('/v1/keys', { onRequest: admin }, async (req, reply) => {
    const body = (req.body ?? {}) as { publicKey?: string; scopes?: string[] };
    const pk = parsePublicKey(String(body.publicKey ?? ''));
    const scopes = Array.isArray(body.scopes) && body.scopes.length ? body.scopes.map(String) : ['*'];
    for (const s of scopes)
      if (!/^[a-z0-9*+._-]+$/.test(s))
        throw httpError('USAGE', `scope '${s}' must be a fragment name pattern like 'lib*'`);
    await d.ports.trust.add({
      name: pk.name,
      publicKey: pk.key.toString('base64'),
      scopes,
      revoked: false,
      addedAt: d.now().toISOString(),
    });
    await publishTrustChanged(d.bus, pk.name, 'added');
    return reply.code(201).send(await d.ports.trust.get(pk.name));
  });

  app.post('/v1/keys/:name/revoke', { onRequest: admin }, async (req) => {
    const { name } = req.params as { name: string };
    await d.ports.trust.revoke(name, d.now().toISOString());
    await publishTrustChanged(d.bus, name, 'revoked');
    return d.ports.trust.get(name);
  });

  app.get('/v1/blobs/:digest', { onRequest: synth }, async (req, reply) => {
    const { digest } = req.params as { digest: string };
    if (!isDigest(digest)) throw httpError('DIGEST_INVALID', `'${digest}' is not a sha256 digest`);
    const data = await d.ports.layers.get(digest);
    return reply.header('content-type', 'application/octet-stream').header('docker-content-digest', digest).send(data);
  });
}
