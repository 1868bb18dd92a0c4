/**
 * The agent's control API: JSON over HTTP on a unix socket (root only, mode 0600), for the
 * `lse node` commands and for tests.
 *   GET  /state                     counters, cache usage, reference counts, snapshots, held syntheses
 *   POST /images        { ref, manifestDigest, synthesisId?, configDigest? }   seed an image (agent.ts)
 *   POST /images/remove { ref }     remove an image, release its synthesis when no image holds it
 *   POST /collect       { budgetBytes? }   run the collector now (default: the configured budget)
 *   GET  /metrics                   Prometheus text: the node tier (fragments already on the node vs
 *                                   materialized here) and the region/peer/origin tiers of its caches
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { isLseError } from '@lse/core';
import type { Log } from '@lse/engine';
import type { NodeAgent } from './agent';
import type { FragmentCache } from './cache';
import type { StateFile } from './state';

export interface ControlDeps {
  st: StateFile;
  cache: FragmentCache;
  agent?: NodeAgent;
  budgetBytes: number;
  log: Log;
  /** Region of the node (LSE_REGION), for the metric labels; `tiers` the region tiers' own text. */
  region?: string;
  tierMetrics?: () => string;
}

/** The node tier in the services' metric family (lse_cache_tier_*), and the node's other tiers. */
export function nodeMetricsText(d: Pick<ControlDeps, 'st' | 'region' | 'tierMetrics'>): string {
  const c = d.st.state.counters;
  const region = d.region ?? 'default';
  const label = (tier: string) =>
    `{store="node-fragments",region="${region}",tier="${tier}",source="${tier === 'node' ? 'node' : 'layer-cache'}"}`;
  const lines = [
    '# HELP lse_cache_tier_lookups_total fragment lookups on this node by the tier that answered (node = already materialized here)',
    '# TYPE lse_cache_tier_lookups_total counter',
    `lse_cache_tier_lookups_total${label('node')} ${c['fragmentsFromNode'] ?? 0}`,
    `lse_cache_tier_lookups_total${label('fetched')} ${c['fragmentsMaterialized'] ?? 0}`,
    '# HELP lse_cache_tier_bytes_total blob bytes this node read from the layer cache to materialize fragments',
    '# TYPE lse_cache_tier_bytes_total counter',
    `lse_cache_tier_bytes_total${label('fetched')} ${c['bytesFetched'] ?? 0}`,
  ];
  // The region tiers use the same families: drop their HELP/TYPE lines so each appears once.
  const tiers = (d.tierMetrics?.() ?? '').split('\n').filter((l) => l && !l.startsWith('#'));
  return [...lines, ...tiers].join('\n') + '\n';
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export function nodeState(d: ControlDeps) {
  const s = d.st.state;
  return {
    counters: { ...s.counters },
    cache: d.cache.usage(),
    refs: d.cache.refCounts(),
    fragments: Object.fromEntries(
      Object.entries(s.fragments).map(([id, f]) => [id, { dir: `f/${f.n}`, bytes: f.bytes, label: f.label }]),
    ),
    layers: Object.keys(s.layers).length,
    snapshots: Object.entries(s.snapshots).map(([key, r]) => ({
      key,
      kind: r.kind,
      parent: r.parent,
      ...(r.fragments ? { fragments: r.fragments } : {}),
    })),
    held: d.agent?.held() ?? {},
  };
}

export async function serveControl(d: ControlDeps, socket: string): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    void (async () => {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && url === '/state') return send(200, nodeState(d));
      if (req.method === 'GET' && url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        return void res.end(nodeMetricsText(d));
      }
      if (req.method === 'POST' && url === '/collect') {
        const b = await body(req);
        const budget = typeof b['budgetBytes'] === 'number' ? b['budgetBytes'] : d.budgetBytes;
        return send(200, { removed: await d.cache.collect(budget) });
      }
      if (req.method === 'POST' && (url === '/images' || url === '/images/remove')) {
        if (!d.agent)
          return send(503, {
            error: {
              code: 'NODE_NO_CONTAINERD',
              message: 'the agent has no containerd to seed images into: set CONTAINERD_ADDRESS',
              details: {},
            },
          });
        const b = await body(req);
        const ref = String(b['ref'] ?? '');
        if (!ref) return send(400, { error: { code: 'USAGE', message: 'body needs { ref }', details: {} } });
        if (url === '/images/remove') {
          await d.agent.removeImage(ref);
          return send(200, { ref, removed: true });
        }
        const digest = String(b['manifestDigest'] ?? '');
        if (!/^sha256:[0-9a-f]{64}$/.test(digest))
          return send(400, {
            error: { code: 'USAGE', message: 'body needs { ref, manifestDigest: sha256:<64 hex> }', details: {} },
          });
        const config =
          typeof b['configDigest'] === 'string' && /^sha256:[0-9a-f]{64}$/.test(b['configDigest'])
            ? b['configDigest']
            : undefined;
        return send(
          200,
          await d.agent.seedImage(
            ref,
            digest,
            typeof b['synthesisId'] === 'string' ? b['synthesisId'] : undefined,
            config,
          ),
        );
      }
      return send(404, {
        error: { code: 'NOT_FOUND', message: `no control endpoint ${req.method} ${url}`, details: {} },
      });
    })().catch((e: unknown) => {
      d.log.warn({ url: req.url, err: (e as Error).message }, 'control request failed');
      send(isLseError(e) ? 422 : 500, {
        error: isLseError(e) ? e.toJSON() : { code: 'INTERNAL', message: (e as Error).message, details: {} },
      });
    });
  });
  await rm(socket, { force: true });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  await chmod(socket, 0o600);
  return server;
}
