import { readFile } from 'node:fs/promises';
import { LseError, parsePublicKey, type TrustedKey } from '@lse/core';
import type { Ctx } from '../context';

export async function trustAdd(ctx: Ctx, file: string, opts: { scope?: string[] }): Promise<void> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new LseError('USAGE', `cannot read public key file ${file}: ${e.code ?? e.message}`, { file });
  });
  if (/^\S+:[A-Za-z0-9+/]{86}==\s*$/.test(text)) {
    throw new LseError(
      'KEY_INVALID',
      `${file} holds a SECRET key; trust the .pub file instead (and keep the .key private)`,
      { file },
    );
  }
  const pk = parsePublicKey(text);
  const scopes = opts.scope?.length ? opts.scope : ['*'];
  for (const s of scopes) {
    if (!/^[a-z0-9*+._-]+$/.test(s))
      throw new LseError('USAGE', `--scope '${s}' must be a fragment name pattern like 'lib*' or 'acme-*'`, {
        scope: s,
      });
  }
  let stored: TrustedKey | undefined;
  if (ctx.remote) {
    stored = await ctx.remote.request<TrustedKey>('POST', '/v1/keys', { publicKey: text.trim(), scopes });
  } else {
    await ctx.ports.trust.add({
      name: pk.name,
      publicKey: pk.key.toString('base64'),
      scopes,
      revoked: false,
      addedAt: new Date().toISOString(),
    });
    stored = await ctx.ports.trust.get(pk.name);
  }
  ctx.out.result(`trusted ${pk.name} for ${scopes.join(', ')}${stored?.revoked ? ' (still REVOKED)' : ''}`, stored);
}

export async function trustRevoke(ctx: Ctx, name: string): Promise<void> {
  let k: TrustedKey | undefined;
  if (ctx.remote) k = await ctx.remote.request<TrustedKey>('POST', `/v1/keys/${encodeURIComponent(name)}/revoke`, {});
  else {
    await ctx.ports.trust.revoke(name, new Date().toISOString());
    k = await ctx.ports.trust.get(name);
  }
  ctx.out.result(`revoked ${name}: fragments signed only by it will no longer verify`, k);
}

export async function trustList(ctx: Ctx): Promise<void> {
  const keys = ctx.remote ? await ctx.remote.request<TrustedKey[]>('GET', '/v1/keys') : await ctx.ports.trust.list();
  const lines = keys.map(
    (k) => `${k.name}\t${k.revoked ? 'REVOKED' : 'trusted'}\t${k.scopes.join(',')}\t${k.name}:${k.publicKey}`,
  );
  ctx.out.result(lines.length ? lines.join('\n') : '', keys);
  if (!keys.length) ctx.out.progress('no trusted keys; add one with: lse trust add NAME.pub');
}
