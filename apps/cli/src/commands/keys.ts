import { access, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LseError, formatKey, generateKeyPair } from '@lse/core';
import type { Ctx } from '../context';

/** `lse keys generate --name NAME [--out DIR]`: NAME.key (0600) and NAME.pub in DIR. */
export async function keysGenerate(ctx: Ctx, opts: { name: string; out?: string }): Promise<void> {
  const dir = resolve(opts.out ?? '.');
  const { publicKey, secretKey } = generateKeyPair(opts.name);
  const secretPath = join(dir, `${opts.name}.key`);
  const publicPath = join(dir, `${opts.name}.pub`);
  for (const p of [secretPath, publicPath]) {
    if (
      await access(p).then(
        () => true,
        () => false,
      )
    ) {
      throw new LseError(
        'OUTPUT_EXISTS',
        `${p} already exists; a key is never overwritten (choose another --name or --out)`,
        { path: p },
      );
    }
  }
  await mkdir(dir, { recursive: true });
  await writeFile(secretPath, formatKey(secretKey) + '\n', { mode: 0o600, flag: 'wx' });
  await writeFile(publicPath, formatKey(publicKey) + '\n', { mode: 0o644, flag: 'wx' });
  ctx.out.progress(
    `wrote ${secretPath} (secret, mode 0600) and ${publicPath}; trust it with: lse trust add ${publicPath}`,
  );
  ctx.out.result(formatKey(publicKey), {
    name: opts.name,
    publicKey: formatKey(publicKey),
    secretKeyFile: secretPath,
    publicKeyFile: publicPath,
  });
}
