import { createServer, type Server } from 'node:http';

/**
 * A tiny HTTP endpoint for worker services: `/healthz` (the process runs) and `/readyz`
 * (its connections are up: the check function resolves true). Orchestrators probe these.
 * `/metrics` answers the Prometheus text `metrics` returns (the regional cache counters).
 */
export async function startHealthServer(
  port: number,
  host: string,
  ready: () => Promise<boolean>,
  metrics?: () => string,
): Promise<Server | undefined> {
  if (!port) return undefined;
  const server = createServer((req, res) => {
    const reply = (code: number, body: object) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/healthz') return reply(200, { status: 'ok' });
    if (req.url === '/readyz') {
      ready().then(
        (ok) => reply(ok ? 200 : 503, { status: ok ? 'ready' : 'not ready' }),
        () => reply(503, { status: 'not ready' }),
      );
      return;
    }
    if (req.url === '/metrics' && metrics) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(metrics());
      return;
    }
    reply(404, { error: { code: 'NOT_FOUND', message: 'try /healthz or /readyz' } });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}
