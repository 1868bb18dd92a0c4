/**
 * The node's registry endpoint: an OCI distribution API (`/v2/...`, the token endpoint included)
 * relayed to the gateway, so that a plain `ctr images pull --snapshotter lse <endpoint>/pkgs/...`
 * tells the agent which image it is about to unpack before the unpack starts (docs/NODE.md).
 *
 * Everything is relayed as the gateway answers it: status, headers (`WWW-Authenticate`,
 * `Docker-Content-Digest`, `Content-Type`, ...), bodies streamed both ways with backpressure. The
 * client's `Authorization` goes to the gateway unchanged and is never logged; its `Host` too, so
 * the gateway's token realm (derived from Host) points back at this endpoint.
 *
 * One exception to plain streaming: a 200 answer to a manifest GET of an image manifest (not an
 * index) is read whole (at most `maxManifestBytes`; larger ones stream unseen), its digest checked
 * against the reference (a digest) and `Docker-Content-Digest`, and `onManifest` runs before the
 * body is sent (the status and headers go at once). Only the gateway's 200 for this client's own
 * request gets there: a 401/403/404 is relayed and nothing else happens. When `onManifest` fails
 * or takes longer than `seedTimeoutMs`, the manifest is sent anyway (containerd then unpacks as
 * it would from the gateway). Two requests for one digest at once share one `onManifest` call.
 */
import { createHash } from 'node:crypto';
import {
  Agent as HttpAgent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import type { Log } from '@lse/engine';

export const IMAGE_MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

export interface RelayedManifest {
  /** Repository name and reference (tag or digest) as the client asked. */
  name: string;
  reference: string;
  /** sha256 of the body (checked against the reference and Docker-Content-Digest). */
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface RegistryProxyOptions {
  /** The gateway's base URL (http or https). */
  upstream: string;
  log: Log;
  /** Runs before a relayed image manifest's body is sent (see above). */
  onManifest?: (m: RelayedManifest) => Promise<unknown>;
  /** [4 MiB] Largest manifest read whole for `onManifest`. */
  maxManifestBytes?: number;
  /** [60 s] How long the body waits for `onManifest`. */
  seedTimeoutMs?: number;
}

/** Headers that belong to one connection, not to the message (RFC 9110 §7.6.1); never relayed. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The end-to-end headers of a message: hop-by-hop ones and those its Connection header names dropped. */
export function endToEndHeaders(headers: IncomingMessage['headers']): Record<string, string | string[]> {
  const named = new Set(
    String(headers['connection'] ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue;
    out[k] = v;
  }
  return out;
}

const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/?]+)$/;

/** `/v2/<name>/manifests/<reference>` (query dropped) → name and reference, else undefined. */
export function manifestRequest(url: string): { name: string; reference: string } | undefined {
  const m = MANIFEST_PATH.exec(url.split('?')[0] ?? '');
  if (!m) return undefined;
  try {
    return { name: decodeURIComponent(m[1]!), reference: decodeURIComponent(m[2]!) };
  } catch {
    return undefined;
  }
}

function registryError(status: number, code: string, message: string) {
  return { status, body: JSON.stringify({ errors: [{ code, message }] }) };
}

export class RegistryProxy {
  private readonly base: URL;
  private readonly agent: HttpAgent;
  private readonly max: number;
  private readonly timeoutMs: number;
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** Manifest answers held back until onManifest is done (tests, diagnostics). */
  waiting = 0;

  constructor(private readonly o: RegistryProxyOptions) {
    this.base = new URL(o.upstream);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:')
      throw new Error(`the registry endpoint's upstream must be an http(s) URL, got '${o.upstream}'`);
    this.agent =
      this.base.protocol === 'https:'
        ? new HttpsAgent({ keepAlive: true, maxSockets: 64 })
        : new HttpAgent({ keepAlive: true, maxSockets: 64 });
    this.max = o.maxManifestBytes ?? 4 * 1024 * 1024;
    this.timeoutMs = o.seedTimeoutMs ?? 60_000;
  }

  /** Listens on host:port (port 0 = any); resolves with the server once it listens. */
  listen(host: string, port: number): Promise<Server> {
    const server = createServer((req, res) => this.handle(req, res));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }

  static address(server: Server): string {
    const a = server.address() as AddressInfo;
    return `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  close(): void {
    this.agent.destroy();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (url !== '/v2' && !url.startsWith('/v2/')) {
      const e = registryError(
        404,
        'NOT_FOUND',
        `this endpoint relays the registry API only (/v2/...), not ${url.split('?')[0]}`,
      );
      res.writeHead(e.status, { 'content-type': 'application/json' }).end(e.body);
      return;
    }
    const basePath = this.base.pathname.replace(/\/+$/, '');
    const send = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    const up = send(
      {
        protocol: this.base.protocol,
        hostname: this.base.hostname,
        port: this.base.port || undefined,
        method: req.method,
        path: basePath + url,
        headers: endToEndHeaders(req.headers),
        agent: this.agent,
      },
      (upRes) => this.relay(req, res, upRes),
    );
    up.on('error', (err) => {
      this.o.log.warn(
        { method: req.method, path: url.split('?')[0], err: err.message },
        'registry endpoint: gateway unreachable',
      );
      if (!res.headersSent) {
        const e = registryError(
          502,
          'UNAVAILABLE',
          `the gateway behind this node's registry endpoint did not answer (${err.message}); retry, or check LSE_SERVER`,
        );
        res.writeHead(e.status, { 'content-type': 'application/json' }).end(e.body);
      } else res.destroy(err);
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    pipeline(req, up, (err) => {
      if (err) up.destroy(err);
    });
  }

  private relay(req: IncomingMessage, res: ServerResponse, upRes: IncomingMessage): void {
    const status = upRes.statusCode ?? 502;
    const headers = endToEndHeaders(upRes.headers);
    const wanted = req.method === 'GET' && status === 200 ? manifestRequest(req.url ?? '') : undefined;
    const mediaType = String(upRes.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const length = Number(upRes.headers['content-length'] ?? NaN);
    res.writeHead(status, upRes.statusMessage, headers);
    if (!wanted || !this.o.onManifest || !IMAGE_MANIFEST_TYPES.includes(mediaType) || length > this.max) {
      pipeline(upRes, res, () => undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const streamRest = () => {
      upRes.off('data', onData);
      upRes.off('end', onEnd);
      for (const c of chunks) res.write(c);
      pipeline(upRes, res, () => undefined);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > this.max) streamRest(); // larger than any manifest we read: relayed unseen
    };
    const onEnd = () => {
      const bytes = Buffer.concat(chunks);
      void this.beforeBody({ ...wanted, mediaType, bytes }, headers).then(() => {
        if (!res.destroyed) res.end(bytes); // the client may have gone meanwhile
      });
    };
    upRes.on('data', onData);
    upRes.on('end', onEnd);
    upRes.on('error', (err) => res.destroy(err));
  }

  /** Checks the digest, runs onManifest (one call per digest at a time), never rejects. */
  private async beforeBody(
    m: Omit<RelayedManifest, 'digest'>,
    headers: Record<string, string | string[]>,
  ): Promise<void> {
    const digest = `sha256:${createHash('sha256').update(m.bytes).digest('hex')}`;
    const claimed = headers['docker-content-digest'];
    const byDigest = m.reference.includes(':') ? m.reference : undefined;
    if ((byDigest && byDigest !== digest) || (typeof claimed === 'string' && claimed !== digest)) {
      this.o.log.warn(
        { name: m.name, reference: m.reference, digest, claimed },
        'registry endpoint: the manifest does not match its digest; relayed unseen (the client checks it too)',
      );
      return;
    }
    let p = this.inflight.get(digest);
    if (!p) {
      p = this.o.onManifest!({ ...m, digest }).finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, p);
    }
    let timer: NodeJS.Timeout | undefined;
    this.waiting++;
    try {
      await Promise.race([
        p,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`not done after ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
    } catch (e) {
      this.o.log.warn(
        { name: m.name, digest, err: (e as Error).message },
        'registry endpoint: could not make the image ready from the cache before relaying its manifest; containerd unpacks it',
      );
    } finally {
      this.waiting--;
      clearTimeout(timer);
    }
  }
}
