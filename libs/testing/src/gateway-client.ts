import type { TarEntry } from '@lse/core';

export interface GatewayAnswer<T> {
  status: number;
  body: T;
}

/**
 * fetch, retried once when a kept-alive socket turns out closed: tests that block the event loop
 * in spawnSync (lse, ctr, umoci) for longer than the gateway's keep-alive timeout make undici
 * reuse a dead socket.
 */
export async function fetchFresh(url: URL, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (!/other side closed|socket/i.test(String((e as { cause?: Error }).cause?.message ?? ''))) throw e;
    return fetch(url, init);
  }
}

/** A JSON client of the gateway's REST API for integration tests: `api(method, path, body?, headers?)`. */
export function gatewayApi(server: string | undefined, token: string | undefined) {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return async <T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<GatewayAnswer<T>> => {
    if (!server)
      throw new Error('LSE_SERVER is not set: bash infra/local/stack.sh up && eval "$(bash infra/local/stack.sh env)"');
    const res = await fetchFresh(new URL(path, server), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
}

/** A regular file entry for a fragment's tar (uid/gid 0, mtime 0). */
export function fileEntry(path: string, content: string, mode = 0o644): TarEntry {
  return {
    path,
    type: 'file',
    mode,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: Buffer.byteLength(content),
    data: Buffer.from(content),
  };
}
