import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { CATALOG_CHANGES } from '@lse/contracts';
import type { GatewayDeps } from './deps';

const CATALOG_ROUTES = /^\/v1\/(fragments(\/batch)?|bases|keys(\/:name\/revoke)?)$/;
import { sendError } from './errors';
import { OPENAPI } from './openapi';
import { catalogRoutes } from './routes/catalog';
import { debianRoutes } from './routes/debian';
import { registryRoutes } from './routes/registry';
import { synthesisRoutes } from './routes/syntheses';

/** Builds the gateway's HTTP server (not listening): routes, parsers, error mapping, metrics. */
export function buildServer(d: GatewayDeps, opts: { logger?: FastifyBaseLogger; bodyLimit: number }): FastifyInstance {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: opts.bodyLimit,
    genReqId: () => `req-${Math.random().toString(36).slice(2, 10)}`,
    disableRequestLogging: false,
  });
  for (const t of ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain']) {
    app.addContentTypeParser(t, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  }
  d.metrics.define('lse_http_requests_total', 'HTTP requests by route and status code');
  d.metrics.define('lse_syntheses_requested_total', 'syntheses requested over REST');
  d.metrics.define('lse_syntheses_finished_total', 'syntheses finished, by status');
  d.metrics.define('lse_collector_deleted_total', 'image blobs deleted by the lease collector');
  d.metrics.define('lse_up', 'the gateway is up', 'gauge');
  d.metrics.set('lse_up', 1);
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    d.metrics.inc('lse_http_requests_total', { route, code: String(reply.statusCode) });
    // Fragments, bases or trust changed: what a manifest resolves to may have changed, here and
    // on every other gateway.
    if (req.method !== 'GET' && reply.statusCode < 300 && CATALOG_ROUTES.test(route)) {
      d.repeats.invalidate();
      await d.bus.publish(CATALOG_CHANGES.changed, { route, at: d.now().toISOString() }).catch(() => undefined);
    }
  });
  app.setErrorHandler((e, _req, reply) => sendError(reply, e));
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({
      error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}; see /openapi.json`, details: {} },
    }),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ok = await d.ready().catch(() => false);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready' });
  });
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', 'text/plain; version=0.0.4').send(d.metrics.render()),
  );
  app.get('/openapi.json', async () => OPENAPI);
  synthesisRoutes(app, d);
  catalogRoutes(app, d);
  debianRoutes(app, d);
  registryRoutes(app, d);
  return app;
}
