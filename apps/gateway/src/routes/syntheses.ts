import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LseError, parseManifest, parsePlatform, type Manifest, type Platform, type SynthesisRecord } from '@lse/core';
import { resolveManifest } from '@lse/engine';
import { HEADERS, SUBJECTS, eventSubjects, isValidSynthesisId, type SynthRequested } from '@lse/contracts';
import { requireScope } from '../auth';
import type { GatewayDeps } from '../deps';
import { httpError } from '../errors';

/** A manifest from a request body: YAML/JSON text, or JSON `{ manifest, platform }`. */
export function manifestFromBody(req: FastifyRequest): { manifest: Manifest; platform?: Platform } {
  const body = req.body as unknown;
  const query = req.query as { platform?: string };
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    return { manifest: parseManifest(body.toString(), 'request body'), ...(query.platform ? { platform: parsePlatform(query.platform) } : {}) };
  }
  if (!body || typeof body !== 'object') throw httpError('MANIFEST_INVALID', 'send a manifest: YAML (Content-Type: application/yaml) or JSON { "manifest": {...} | "yaml text", "platform": "linux/amd64" }');
  const b = body as { manifest?: unknown; platform?: unknown };
  if (b.manifest === undefined) throw httpError('MANIFEST_INVALID', "JSON body must have a 'manifest' field (an object, or YAML/JSON text)");
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
  }
  return { manifest, ...(platform ? { platform } : {}) };
}

function view(r: SynthesisRecord, lease?: { expiresAt: string } | undefined) {
  return {
    id: r.id, status: r.status, stage: r.stage, manifestName: r.manifestName, key: r.key ?? null, platform: r.platform ?? null,
    result: r.result ?? null, error: r.error ?? null, createdAt: r.createdAt, updatedAt: r.updatedAt,
    lease: lease ? { expiresAt: lease.expiresAt } : null,
    links: { self: `/v1/syntheses/${r.id}`, events: `/v1/syntheses/${r.id}/events`, lease: `/v1/syntheses/${r.id}/lease` },
  };
}

/** `Prefer: wait=N` → N seconds (capped), or 0. */
function preferWait(req: FastifyRequest, max: number): number {
  const m = /(?:^|[,;\s])wait=(\d+)/.exec(String(req.headers['prefer'] ?? ''));
  return m ? Math.min(Number(m[1]), max) : 0;
}

async function getRecord(d: GatewayDeps, id: string): Promise<SynthesisRecord> {
  const r = isValidSynthesisId(id) ? await d.syntheses.get(id) : undefined;
  if (!r) throw httpError('SYNTHESIS_UNKNOWN', `no synthesis '${id}'`, { id });
  return r;
}

/** Resolves when the synthesis is finished (or after `seconds`); subscribe happens before `start`. */
async function waitFinished(d: GatewayDeps, id: string, seconds: number, start: () => Promise<void>): Promise<void> {
  let done!: () => void;
  const finished = new Promise<void>((r) => { done = r; });
  let seenFinal = false;
  const unsubscribe = await d.bus.subscribe(eventSubjects.all(id), async (m) => {
    if (!m.subject.includes('.progress.')) {
      seenFinal = true;
      done();
    }
  });
  const timer = setTimeout(done, seconds * 1000);
  try {
    await start();
    const r = await d.syntheses.get(id);
    if (r && r.status !== 'pending') done();
    await finished;
    // A failed event is recorded by the event recorder, which may run a moment after this
    // subscriber saw it: give the record a short while to catch up.
    const until = Date.now() + 5000;
    while (Date.now() < until && (await d.syntheses.get(id))?.status === 'pending' && seenFinal) await new Promise((res) => setTimeout(res, 50));
  } finally {
    clearTimeout(timer);
    void unsubscribe();
  }
}

export function synthesisRoutes(app: FastifyInstance, d: GatewayDeps): void {
  const synth = requireScope(d.auth, 'synth');

  app.post('/v1/syntheses', { preHandler: synth }, async (req, reply) => {
    const { manifest, platform } = manifestFromBody(req);
    const id = `syn-${randomBytes(9).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')}`;
    const at = d.now().toISOString();
    await d.syntheses.create({ id, status: 'pending', stage: 'requested', manifestName: manifest.metadata.name, ...(platform ? { platform } : {}), createdAt: at, updatedAt: at });
    const msg: SynthRequested = { v: 1, synthesisId: id, manifest, ...(platform ? { platform } : {}), requestedAt: at };
    const publish = () => d.bus.publish(SUBJECTS.requested, msg, { [HEADERS.synthesisId]: id, [HEADERS.msgId]: `requested:${id}`, [HEADERS.traceId]: String(req.id) });
    const wait = preferWait(req, d.waitMaxSeconds);
    if (wait > 0) await waitFinished(d, id, wait, publish);
    else await publish();
    d.metrics.inc('lse_syntheses_requested_total');
    req.log.info({ synthesisId: id, manifest: manifest.metadata.name }, 'synthesis requested');
    const r = await getRecord(d, id);
    reply.header('Location', `/v1/syntheses/${id}`);
    if (r.status === 'pending') return reply.code(202).send(view(r));
    return reply.code(r.status === 'completed' ? 200 : 422).header('Preference-Applied', `wait=${wait}`).send(view(r, await d.leases.get(id)));
  });

  app.get('/v1/syntheses/:id', { preHandler: synth }, async (req) => {
    const { id } = req.params as { id: string };
    const wait = preferWait(req, d.waitMaxSeconds);
    if (wait > 0) await waitFinished(d, id, wait, async () => { await getRecord(d, id); });
    return view(await getRecord(d, id), await d.leases.get(id));
  });

  app.get('/v1/syntheses/:id/events', { preHandler: synth }, async (req, reply: FastifyReply) => {
    const { id } = req.params as { id: string };
    await getRecord(d, id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let closed = false;
    // assigned below, after end() exists: the client may hang up before the subscription is made
    // eslint-disable-next-line prefer-const
    let unsubscribe: (() => Promise<void>) | undefined;
    const end = () => {
      if (closed) return;
      closed = true;
      void unsubscribe?.();
      res.end();
    };
    req.raw.on('close', end);
    // One progress event per stage, in order, even for stages that finished before this stream
    // opened or before the record caught up with them: a later stage fills in the earlier ones.
    const order = ['resolved', 'fetched', 'verified', 'assembled'];
    const sentStages = new Set<string>();
    const progress = (stage: string, data: unknown, at: string) => {
      for (const s of order.slice(0, order.indexOf(stage))) {
        if (sentStages.has(s)) continue;
        sentStages.add(s);
        send('progress', { v: 1, synthesisId: id, stage: s, at, detail: 'done before this event stream saw it' });
      }
      if (sentStages.has(stage)) return;
      sentStages.add(stage);
      send('progress', data);
    };
    unsubscribe = await d.bus.subscribe(eventSubjects.all(id), async (m) => {
      if (closed) return;
      const kind = m.subject.split('.')[3] ?? 'event';
      if (kind === 'progress') {
        const p = m.data as { stage?: string; at?: string };
        progress(p.stage ?? '', m.data, p.at ?? '');
        return;
      }
      if (kind === 'completed') progress('assembled', { v: 1, synthesisId: id, stage: 'assembled', at: '' }, '');
      send(kind, m.data);
      end();
    });
    const r = await getRecord(d, id);
    if (closed) return;
    send('state', view(r));
    if (order.includes(r.stage)) progress(r.stage, { v: 1, synthesisId: id, stage: r.stage, at: r.updatedAt, detail: 'done before this event stream opened' }, r.updatedAt);
    if (r.status !== 'pending') {
      if (r.status === 'completed') progress('assembled', { v: 1, synthesisId: id, stage: 'assembled', at: r.updatedAt }, r.updatedAt);
      send(r.status, r.status === 'completed' ? { synthesisId: id, key: r.key, image: r.result } : { synthesisId: id, ...r.error });
      end();
    }
  });

  app.delete('/v1/syntheses/:id', { preHandler: synth }, async (req, reply) => {
    const { id } = req.params as { id: string };
    await getRecord(d, id);
    await d.leases.release(id);
    req.log.info({ synthesisId: id }, 'lease released');
    return reply.code(204).send();
  });

  app.post('/v1/syntheses/:id/lease', { preHandler: synth }, async (req) => {
    const { id } = req.params as { id: string };
    await getRecord(d, id);
    const body = (req.body ?? {}) as { ttlSeconds?: unknown };
    const ttl = body.ttlSeconds === undefined ? d.leaseTtlSeconds : Number(body.ttlSeconds);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 30 * 86400) throw httpError('USAGE', 'ttlSeconds must be a whole number of seconds between 1 and 2592000');
    const expiresAt = new Date(d.now().getTime() + ttl * 1000).toISOString();
    if (!(await d.leases.renew(id, expiresAt))) {
      throw httpError('LEASE_GONE', `synthesis '${id}' holds no lease (it was released, expired, or has not completed); request the synthesis again`, { id });
    }
    return { id, expiresAt };
  });

  app.post('/v1/negotiate', { preHandler: synth }, async (req, reply) => {
    const { manifest, platform } = manifestFromBody(req);
    try {
      const { lock, key } = await resolveManifest(d.ports, manifest, platform);
      return { key, platform: lock.platform, base: lock.base, fragments: lock.fragments };
    } catch (e) {
      if (e instanceof LseError && (e.code === 'NO_VARIANT' || e.code === 'UNSATISFIABLE' || e.code === 'BASE_UNKNOWN')) {
        return reply.code(406).send({ error: e.toJSON() });
      }
      throw e;
    }
  });
}
