import { LseError, lseErrorFrom } from '@lse/core';

/**
 * The gateway client behind `--server` / LSE_SERVER: JSON over HTTP with a bearer token, errors
 * turned back into LseErrors (same codes, so exit codes are the same as in embedded mode).
 */
export class GatewayClient {
  constructor(
    private readonly base: string,
    private readonly token: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async request<T>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.base), {
        method,
        headers: this.headers(body === undefined ? extra : { 'content-type': 'application/json', ...extra }),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (e) {
      throw new LseError(
        'USAGE',
        `cannot reach the gateway at ${this.base}: ${(e as Error).cause ? String((e as { cause: Error }).cause.message) : (e as Error).message}; check --server / LSE_SERVER`,
        { server: this.base },
      );
    }
    const text = await res.text();
    const data = text ? safeJson(text) : undefined;
    if (res.ok) return data as T;
    throw toError(res.status, data, this.base);
  }

  /** HEAD: whether the gateway has what `path` names (200), or not (404). */
  async exists(path: string): Promise<boolean> {
    const res = await this.send(path, { method: 'HEAD', headers: this.headers() });
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw toError(res.status, undefined, this.base);
  }

  /** PUT of raw bytes (application/octet-stream); the JSON answer. */
  async upload<T>(path: string, data: Buffer): Promise<T> {
    const res = await this.send(path, {
      method: 'PUT',
      headers: this.headers({ 'content-type': 'application/octet-stream' }),
      body: data,
    });
    const text = await res.text();
    const json = text ? safeJson(text) : undefined;
    if (res.ok) return json as T;
    throw toError(res.status, json, this.base);
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(new URL(path, this.base), init);
    } catch (e) {
      throw new LseError(
        'USAGE',
        `cannot reach the gateway at ${this.base}: ${(e as Error).cause ? String((e as { cause: Error }).cause.message) : (e as Error).message}; check --server / LSE_SERVER`,
        { server: this.base },
      );
    }
  }

  async bytes(path: string): Promise<Buffer> {
    const res = await fetch(new URL(path, this.base), { headers: this.headers() });
    if (!res.ok) throw toError(res.status, safeJson(await res.text()), this.base);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Server-sent events of a synthesis, until the stream ends. */
  async *events(path: string): AsyncGenerator<{ event: string; data: unknown }> {
    const res = await fetch(new URL(path, this.base), { headers: this.headers({ accept: 'text/event-stream' }) });
    if (!res.ok || !res.body) throw toError(res.status, safeJson(await res.text()), this.base);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const data = /^data: (.*)$/m.exec(block)?.[1];
        yield { event, data: data ? safeJson(data) : undefined };
      }
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toError(status: number, data: unknown, base: string): LseError {
  const err = (data as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })?.error;
  if (status === 401 || status === 403) {
    return new LseError('USAGE', `gateway ${base} refused: ${err?.message ?? `HTTP ${status}`}`, { status });
  }
  if (!err)
    return new LseError(
      status >= 500 ? 'UNAVAILABLE' : 'INTERNAL',
      `gateway answered HTTP ${status}: ${String(data).slice(0, 200)}`,
      { status },
    );
  const e = lseErrorFrom(err);
  return new LseError(e.code, e.message, { ...e.details, status });
}
