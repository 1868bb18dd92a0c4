import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  LseError,
  parseManifest,
  parsePlatform,
  parseRegion,
  type Manifest,
  type Platform,
  type SynthesisRecord,
} from '@lse/core';
import { resolveManifest } from '@lse/engine';
import { eventKindOf, isValidSynthesisId, stageAfter } from '@lse/contracts';
import { admit, admitRepeat } from '../admit';
import { callerOf, mayAccess, requireScope, type Caller } from '../auth';
import type { GatewayDeps } from '../deps';
import { httpError } from '../errors';
import { RepeatCache } from '../repeat-cache';
import { recordOf } from '../watch';

/** A manifest from a request body: YAML/JSON text, or JSON `{ manifest, platform }`. */
export function manifestFromBody(req: FastifyRequest): { manifest: Manifest; platform?: Platform } {
  const body = req.body as unknown;
  const query = req.query as { platform?: string };
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    return {
      manifest: parseManifest(body.toString(), 'request body'),
      ...(query.platform ? { platform: parsePlatform(query.platform) } : {}),
    };
  }
  if (!body || typeof body !== 'object')
    throw httpError(
      'MANIFEST_INVALID',
      'send a manifest: YAML (Content-Type: application/yaml) or JSON { "manifest": {...} | "yaml text", "platform": "linux/amd64" }',
    );
  const b = body as { manifest?: unknown; platform?: unknown };
  if (b.manifest === undefined)
    throw httpError('MANIFEST_INVALID', "JSON body must have a 'manifest' field (an object, or YAML/JSON text)");
  const text = typeof b.manifest === 'string' ? b.manifest : JSON.stringify(b.manifest, null, 2);
  const manifest = parseManifest(text, 'request manifest');
  const p = b.platform ?? query.platform;
  let platform: Platform | undefined;
  if (typeof p === 'string') platform = parsePlatform(p);
  else if (p && typeof p === 'object') {
    const o = p as Partial<Platform>;
    platform = parsePlatform([o.os ?? 'linux', o.arch ?? 'amd64', ...(o.variant ? [o.variant] : [])].join('/'));
    if (o.features) platform.features = [...o.features].sort();
    if (o.libc) platform.libc = o.libc;
    if (o.region !== undefined || o.regionFallback !== undefined) {
      if (o.regionFallback !== undefined && !Array.isArray(o.regionFallback))
        throw httpError('USAGE', 'platform.regionFallback must be a list of region names, e.g. ["eu-west"]');
      Object.assign(platform, parseRegion(o.region, o.regionFallback?.join(',')));
    }
  }
  return { manifest, ...(platform ? { platform } : {}) };
}

function view(r: SynthesisRecord, lease?: { expiresAt: string } | undefined) {
  return {
    id: r.id,
    status: r.status,
    stage: r.stage,
    manifestName: r.manifestName,
    key: r.key ?? null,
    platform: r.platform ?? null,
    result: r.result ?? null,
    error: r.error ?? null,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    lease: lease ? { expiresAt: lease.expiresAt } : null,
    links: {
      self: `/v1/syntheses/${r.id}`,
      events: `/v1/syntheses/${r.id}/events`,
      lease: `/v1/syntheses/${r.id}/lease`,
    },
  };
}

/** `Prefer: wait=N` → N seconds (capped), or 0. */
function preferWait(req: FastifyRequest, max: number): number {
  const m = /(?:^|[,;\s])wait=(\d+)/.exec(String(req.headers['prefer'] ?? ''));
  return m ? Math.min(Number(m[1]), max) : 0;
}

/**
 * What is known of a synthesis: the record (the durable projection) or, fresher or before the
 * projection has it, the state this gateway's watch holds (replayed from the bus if need be).
 * Another tenant's synthesis is answered exactly like one that does not exist.
 */
export async function findSynthesis(d: GatewayDeps, id: string, caller: Caller): Promise<SynthesisRecord> {
  let found: SynthesisRecord | undefined;
  if (isValidSynthesisId(id)) {
    const rec = await d.syntheses.get(id);
    const st = rec && rec.status !== 'pending' ? undefined : await d.watch.load(id);
    found =
      st && (!rec || st.status !== 'pending' || stageAfter(st.stage, rec.stage))
        ? { ...recordOf(st), ...(rec?.tenant ? { tenant: rec.tenant } : {}) }
        : rec;
  }
  if (!found || !mayAccess(caller, found.tenant)) throw httpError('SYNTHESIS_UNKNOWN', `no synthesis '${id}'`, { id });
  return found;
}

/** Manifests are small: this is the body limit of the routes that take one (bases and fragments have their own). */
export const MANIFEST_BODY_LIMIT = 1024 * 1024;

export function synthesisRoutes(app: FastifyInstance, d: GatewayDeps): void {
  const synth = requireScope(d.auth, 'synth');
  const small = { onRequest: synth, bodyLimit: MANIFEST_BODY_LIMIT };

  app.post('/v1/syntheses', small, async (req, reply) => {
    const { manifest, platform } = manifestFromBody(req);
    const caller = callerOf(req);
    const admission = {
      manifest,
      ...(platform ? { platform } : {}),
      ...(caller.name ? { tenant: caller.name } : {}),
      traceId: String(req.id),
    };
    const cacheKey = RepeatCache.keyOf(manifest, platform);
    const hit = d.repeats.get(cacheKey);
    const id = hit ? await admitRepeat(d, admission, hit) : await admit(d, admission);
    if (!hit) d.repeats.admitted(id, cacheKey);
    d.metrics.inc('lse_syntheses_requested_total', { answered: hit ? 'memory' : 'pipeline' });
    req.log.info({ synthesisId: id, manifest: manifest.metadata.name, repeat: !!hit }, 'synthesis requested');
    reply.header('Location', `/v1/syntheses/${id}`);
    const wait = preferWait(req, d.waitMaxSeconds);
    const st = wait > 0 && !hit ? await d.watch.waitFinished(id, wait) : d.watch.state(id);
    const r = st ? recordOf(st) : await findSynthesis(d, id, caller);
    if (r.status === 'pending') return reply.code(202).send(view(r));
    const lease = st?.completed?.lease ?? (r.status === 'completed' ? await d.leases.get(id) : undefined);
    return reply
      .code(r.status === 'completed' ? 200 : 422)
      .header('Preference-Applied', `wait=${wait}`)
      .send(view(r, lease));
  });

  app.get('/v1/syntheses/:id', { onRequest: synth }, async (req) => {
    const { id } = req.params as { id: string };
    const caller = callerOf(req);
    const wait = preferWait(req, d.waitMaxSeconds);
    let r = await findSynthesis(d, id, caller);
    if (wait > 0 && r.status === 'pending') {
      await d.watch.waitFinished(id, wait);
      r = await findSynthesis(d, id, caller);
    }
    return view(r, r.status === 'completed' ? await d.leases.get(id) : undefined);
  });

  app.get('/v1/syntheses/:id/events', { onRequest: synth }, (req, reply) => streamEvents(d, req, reply));

  app.delete('/v1/syntheses/:id', { onRequest: synth }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const r = await findSynthesis(d, id, callerOf(req));
    await d.leases.release(id);
    const digest = (r.result as { manifestDigest?: string } | undefined)?.manifestDigest;
    if (digest) d.repeats.released(digest);
    req.log.info({ synthesisId: id }, 'lease released');
    return reply.code(204).send();
  });

  app.post('/v1/syntheses/:id/lease', { onRequest: synth }, async (req) => {
    const { id } = req.params as { id: string };
    await findSynthesis(d, id, callerOf(req));
    const body = (req.body ?? {}) as { ttlSeconds?: unknown };
    const ttl = body.ttlSeconds === undefined ? d.leaseTtlSeconds : Number(body.ttlSeconds);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 30 * 86400)
      throw httpError('USAGE', 'ttlSeconds must be a whole number of seconds between 1 and 2592000');
    const expiresAt = new Date(d.now().getTime() + ttl * 1000).toISOString();
    if (!(await d.leases.renew(id, expiresAt))) {
      throw httpError(
        'LEASE_GONE',
        `synthesis '${id}' holds no lease (it was released, expired, or has not completed); request the synthesis again`,
        { id },
      );
    }
    return { id, expiresAt };
  });

  app.post('/v1/negotiate', small, async (req, reply) => {
    const { manifest, platform } = manifestFromBody(req);
    try {
      const { lock, key } = await resolveManifest(d.ports, manifest, platform);
      return {
        key,
        platform: lock.platform,
        base: lock.base,
        fragments: lock.fragments,
        ...(lock.satisfiedByBase ? { satisfiedByBase: lock.satisfiedByBase } : {}),
      };
    } catch (e) {
      if (
        e instanceof LseError &&
        (e.code === 'NO_VARIANT' || e.code === 'UNSATISFIABLE' || e.code === 'BASE_UNKNOWN')
      ) {
        return reply.code(406).send({ error: e.toJSON() });
      }
      throw e;
    }
  });
}

/**
 * GET /v1/syntheses/:id/events: server-sent events. The synthesis' state first, then every event
 * of it (earlier ones replayed first, each once); the stream ends with its terminal event.
 */
async function streamEvents(d: GatewayDeps, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { id } = req.params as { id: string };
  const r = await findSynthesis(d, id, callerOf(req));
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  let closed = false;
  const stopFollowing: (() => void)[] = [];
  const end = () => {
    if (closed) return;
    closed = true;
    for (const f of stopFollowing) f();
    res.end();
  };
  req.raw.on('close', end);
  send('state', view(r));
  // Every event of the synthesis, earlier ones replayed first, each once; the stream ends with
  // its terminal event. A synthesis only the record remembers (its events are gone from the
  // bus) ends with its outcome as the record has it.
  const unfollow = await d.watch.follow(id, (m) => {
    if (closed) return;
    const kind = eventKindOf(m.subject);
    if (kind === 'progress') send('progress', m.data);
    if (kind === 'completed' || kind === 'failed') {
      send(kind, m.data);
      end();
    }
  });
  if (closed) unfollow();
  else stopFollowing.push(unfollow);
  if (!closed && r.status !== 'pending' && !d.watch.state(id)) {
    send(
      r.status,
      r.status === 'completed' ? { synthesisId: id, key: r.key, image: r.result } : { synthesisId: id, ...r.error },
    );
    end();
  }
}
