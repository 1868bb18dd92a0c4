/**
 * Debian proofs through a gateway (`lse import debian-index --release … --server`, `lse import apt
 * --server`): the release's blobs (InRelease, or Release + Release.gpg) and the uncompressed
 * Packages files are uploaded once each (a HEAD first: what the gateway has is skipped), then the
 * release is registered. The gateway checks the signature with its own keyring, Valid-Until and
 * the rollback rule against its release log, and that each Packages file is listed; its answer
 * (suite, date, each file's path) is what the fragments' proofs name. The CLI checks nothing of
 * this itself: its keyring and its local release log are not the gateway's.
 */
import { LseError, type DebianProof } from '@lse/core';
import type { GatewayClient } from '../remote';
import type { Ctx } from '../context';

/** A release file as given (or found beside an apt list), not checked here. */
export interface ReleaseFile {
  file: string;
  bytes: Buffer;
  digest: string;
  /** Release.gpg, when `bytes` is a plain Release file signed detached. */
  detached?: Buffer;
  detachedDigest?: string;
}

/** An uncompressed Packages file. */
export interface PackagesFile {
  file: string;
  bytes: Buffer;
  digest: string;
}

/** What the gateway answered for a registered release. */
interface Registered {
  suite: string;
  date: string;
  validUntil?: string;
  signedBy: string[];
  packages: { digest: string; path: string; size: number }[];
  previous?: string;
}

/** A Packages file's proof minus its paragraph: the same for every package of the file. */
export type FileProof = Omit<DebianProof, 'paragraph'>;

/** Uploads `data` under `digest` unless the gateway has it; says which. */
async function uploadBlob(ctx: Ctx, remote: GatewayClient, digest: string, data: Buffer, what: string): Promise<void> {
  const path = `/v1/debian/blobs/${digest}`;
  if (await remote.exists(path)) {
    ctx.out.progress(`${what}: ${digest.slice(0, 19)}… already on the gateway`);
    return;
  }
  const t = Date.now();
  await remote.upload(path, data);
  ctx.out.progress(`${what}: uploaded ${data.length} bytes (${digest.slice(0, 19)}…) in ${Date.now() - t} ms`);
}

/**
 * Uploads and registers each release with the Packages files it lists; returns the proof of each
 * Packages file (by its digest). A refusal (DEBIAN_* codes, as the embedded import) is thrown as
 * the gateway answered it; releases registered before it stay registered, no fragment is stored.
 */
export async function registerReleasesOnGateway(
  ctx: Ctx,
  groups: { release: ReleaseFile; packages: PackagesFile[] }[],
  allowOlder: boolean,
): Promise<Map<string, FileProof>> {
  const remote = ctx.remote;
  if (!remote) throw new LseError('INTERNAL', 'registerReleasesOnGateway needs --server');
  const out = new Map<string, FileProof>();
  for (const { release: r, packages } of groups) {
    await uploadBlob(ctx, remote, r.digest, r.bytes, r.file);
    if (r.detached && r.detachedDigest) await uploadBlob(ctx, remote, r.detachedDigest, r.detached, `${r.file}.gpg`);
    for (const p of packages) await uploadBlob(ctx, remote, p.digest, p.bytes, `${p.file} (uncompressed)`);
    const reg = await remote.request<Registered>('POST', '/v1/debian/releases', {
      inRelease: r.digest,
      ...(r.detachedDigest ? { releaseGpg: r.detachedDigest } : {}),
      packages: [...new Set(packages.map((p) => p.digest))],
      allowOlder,
    });
    ctx.out.progress(
      `${r.file}: ${reg.suite} dated ${reg.date}, signed by ${reg.signedBy.join(', ')}: registered on the gateway`,
    );
    for (const p of reg.packages)
      out.set(p.digest, {
        inRelease: r.digest,
        ...(r.detachedDigest ? { releaseGpg: r.detachedDigest } : {}),
        packages: p.digest,
        path: p.path,
        suite: reg.suite,
        date: reg.date,
      });
  }
  return out;
}
