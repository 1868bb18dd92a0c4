/**
 * The node fragment cache: each fragment's content extracted once into `f/<n>`, shared read-only
 * by every snapshot (any image, any chain position) that uses it.
 *
 * A fragment is extracted only after the node itself has verified it, from the blob it read:
 * id = hash of the descriptor and a signature by a trusted, unrevoked key whose scope covers the
 * name (core acceptFragment, with the trust store; a fragment signed over its derivation only
 * also needs Debian's chain, checked from the proof blobs in the origin with the Debian keyring,
 * `ports.debianChain`, once per fragment and process), then blob digest and size, tar policy and
 * agreement with the signed file index (engine readVerifiedContent, the verifier's own checks).
 * Extraction (adapters/fs extractEntries) never writes through a link, so nothing lands outside
 * the fragment's directory; it runs in `tmp/` and is renamed into place when complete.
 *
 * A layer is registered (diffID → fragment ids) only when the layer rebuilt from those verified
 * fragments has exactly that diffID, so a snapshot served from the cache holds what the layer
 * holds. Layers that are not fragments (base layers, the generated dpkg/inline-files layer) are
 * read from the layer store by digest (verified on read), their tar checked against the diffID,
 * and extracted the same way under the id `layer:<diffID>`.
 *
 * Reference counts are the committed snapshots naming a directory; the collector removes
 * directories with no reference, least recently used first, until the cache fits its budget.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  LseError,
  isLseError,
  buildLayer,
  fragmentLabel,
  readTar,
  sha256Digest,
  acceptFragment,
  type BlobStore,
  type TarEntry,
  type TrustedKey,
} from '@lse/core';
import { extractEntries } from '@lse/adapter-fs';
import { readVerifiedContent, type EnginePorts, type Log } from '@lse/engine';
import type { StateFile } from './state';

export interface CacheSources {
  /** Fragment records, trust store, fragment blobs (cache, then origin), Debian archive. */
  ports: EnginePorts;
  /** Image blobs by digest (manifests, configs, layers that are not fragments). */
  layers: BlobStore;
}

/** Bytes of the regular files an extraction leaves (the last entry of a path wins; hardlinks are not counted again). */
function fileBytes(entries: TarEntry[]): number {
  const sizes = new Map<string, number>();
  for (const e of entries) {
    const path = e.path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (e.type === 'file') sizes.set(path, e.size);
    else sizes.delete(path);
  }
  let total = 0;
  for (const n of sizes.values()) total += n;
  return total;
}

export class FragmentCache {
  private inflight = new Map<string, Promise<void>>();
  private fDir: Promise<void> | undefined;
  private keys: { at: number; keys: Promise<Map<string, TrustedKey>> } | undefined;
  constructor(
    private readonly root: string,
    private readonly st: StateFile,
    private readonly src: CacheSources,
    private readonly log: Log,
  ) {}

  private get s() {
    return this.st.state;
  }

  /** Committed snapshots referencing each directory id. */
  refCounts(): Record<string, number> {
    const refs: Record<string, number> = Object.fromEntries(Object.keys(this.s.fragments).map((id) => [id, 0]));
    for (const r of Object.values(this.s.snapshots)) for (const id of r.fragments ?? []) refs[id] = (refs[id] ?? 0) + 1;
    return refs;
  }

  has(diffId: string): boolean {
    return (this.s.layers[diffId] ?? []).length > 0 && this.s.layers[diffId]!.every((id) => this.s.fragments[id]);
  }

  /**
   * Extracts `entries` into a new `f/<n>` for `id` (once, also under concurrent calls). The
   * directory is recorded in memory; the caller's `flush` (or the next state change) writes it.
   */
  private async materialize(
    id: string,
    label: string,
    entries: () => Promise<TarEntry[]>,
    whiteouts = false,
  ): Promise<void> {
    if (this.s.fragments[id]) {
      this.st.count('fragmentsFromNode'); // the node tier answered (kept in memory, saved with the next change)
      return;
    }
    const running = this.inflight.get(id);
    if (running) return running;
    const p = (async () => {
      const tmp = join(this.root, 'tmp', randomBytes(6).toString('hex'));
      let placed = false;
      try {
        const list = await entries();
        await extractEntries(tmp, list, { whiteouts });
        const size = fileBytes(list);
        this.fDir ??= mkdir(join(this.root, 'f'), { recursive: true }).then(() => undefined);
        await this.fDir;
        await this.st.apply(async (s) => {
          const n = s.next++;
          const dir = join(this.root, 'f', String(n));
          // A directory of this number that the state does not record was left by a crash before its write.
          await rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
            if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
            await rm(dir, { recursive: true, force: true });
            await rename(tmp, dir);
          });
          placed = true;
          s.fragments[id] = { n, bytes: size, label, usedAt: new Date().toISOString() };
          this.st.count('fragmentsMaterialized');
        });
        this.log.info({ fragment: id, label }, 'fragment materialized');
      } finally {
        if (!placed) await rm(tmp, { recursive: true, force: true });
        this.inflight.delete(id);
      }
    })();
    this.inflight.set(id, p);
    return p;
  }

  /**
   * Makes the layer `diffId` servable from fragments `ids` (in layer order): each fragment
   * verified and materialized if it is not yet, and the layer rebuilt from them must have
   * `diffId` (`epoch` = the image's timestamps). The state is written once at the end, or with
   * `defer` by the caller's next state change or `flush` (seeding: the snapshot's own write).
   */
  async ensureFragmentLayer(
    diffId: string,
    ids: string[],
    epoch: number,
    opts: { defer?: boolean } = {},
  ): Promise<void> {
    if (this.has(diffId)) {
      this.st.count('fragmentsFromNode', ids.length); // the node tier answered the whole layer
      return;
    }
    let keys = await this.trustedKeys();
    const parts: { id: string; entries: TarEntry[]; label: string; name: string }[] = [];
    for (const id of ids) {
      const f = await this.src.ports.fragments.get(id);
      if (!f)
        throw new LseError(
          'FRAGMENT_UNKNOWN',
          `fragment ${id} named by layer ${diffId} is not in the fragment database`,
          { fragment: id, diffId },
        );
      let entries: TarEntry[];
      try {
        try {
          await acceptFragment(f, keys, this.src.ports.debianChain);
        } catch (e) {
          // a key trusted since the keys were read (at most a second ago) is not refused: a
          // miss is read again, as every cache here does
          if (!isLseError(e) || e.code !== 'KEY_UNTRUSTED') throw e;
          keys = await this.trustedKeys(true);
          await acceptFragment(f, keys, this.src.ports.debianChain);
        }
        const c = await readVerifiedContent(this.src.ports, f);
        entries = c.entries;
      } catch (e) {
        await this.st.change(() => this.st.count('fragmentsRefused'));
        this.log.error({ fragment: id, err: (e as Error).message }, 'fragment refused: not extracted');
        throw e;
      }
      parts.push({ id, entries, label: fragmentLabel(f), name: `${f.descriptor.name}@${f.descriptor.version}` });
      // Counted in memory: written with the layer's state write that follows (no write of its own).
      if (!this.s.fragments[id]) this.st.count('bytesFetched', f.descriptor.blob.size);
    }
    // The layer is checked before anything is extracted: a layer its fragments do not make leaves no directory.
    const rebuilt = buildLayer(parts, { mtime: epoch }).diffId;
    if (rebuilt !== diffId) {
      throw new LseError(
        'LAYER_MISMATCH',
        `layer ${diffId} names fragments ${ids.join(', ')}, but they make layer ${rebuilt}; the image's annotation does not describe its layer, so it is not served from the cache`,
        { diffId, rebuilt, fragments: ids },
      );
    }
    for (const p of parts) await this.materialize(p.id, p.name, async () => p.entries);
    await this.st.apply((s) => {
      s.layers[diffId] = [...ids].reverse();
    });
    if (!opts.defer) await this.st.flush();
  }

  /** The trust store's keys, read at most once a second (one image asks for every layer). */
  private trustedKeys(fresh = false): Promise<Map<string, TrustedKey>> {
    if (fresh || !this.keys || Date.now() - this.keys.at > 1000) {
      const keys = this.src.ports.trust.list().then((list) => new Map(list.map((k) => [k.name, k] as const)));
      keys.catch(() => {
        this.keys = undefined;
      });
      this.keys = { at: Date.now(), keys };
    }
    return this.keys.keys;
  }

  /**
   * Makes a layer that is not made of fragments servable: its blob from the layer store, checked
   * against `diffId`; written as `ensureFragmentLayer` says.
   */
  async ensureBlobLayer(diffId: string, digest: string, opts: { defer?: boolean } = {}): Promise<void> {
    if (this.has(diffId)) return;
    const id = `layer:${diffId}`;
    await this.materialize(
      id,
      `layer ${digest}`,
      async () => {
        const blob = await this.src.layers.get(digest);
        this.st.count('bytesFetched', blob.length); // written with the directory's state change
        const tar = gunzipSync(blob);
        const actual = sha256Digest(tar);
        if (actual !== diffId)
          throw new LseError(
            'DIGEST_MISMATCH',
            `layer ${digest} uncompresses to ${actual}, the image config says ${diffId}`,
            { digest, diffId, actual },
          );
        return readTar(tar);
      },
      true,
    );
    await this.st.apply((s) => {
      s.layers[diffId] = [id];
    });
    if (!opts.defer) await this.st.flush();
  }

  /** Bytes held by fragment directories, and by those no snapshot references. */
  usage(): { bytes: number; unreferencedBytes: number; dirs: number; unreferenced: number } {
    const refs = this.refCounts();
    let bytes = 0;
    let unreferencedBytes = 0;
    let unreferenced = 0;
    for (const [id, d] of Object.entries(this.s.fragments)) {
      bytes += d.bytes;
      if (!refs[id]) {
        unreferencedBytes += d.bytes;
        unreferenced++;
      }
    }
    return { bytes, unreferencedBytes, dirs: Object.keys(this.s.fragments).length, unreferenced };
  }

  /**
   * Removes unreferenced directories, least recently used first, until the cache holds at most
   * `budgetBytes`. A directory a committed snapshot names is never removed. Returns the ids removed.
   */
  async collect(budgetBytes: number): Promise<string[]> {
    const removed = await this.st.change((s) => {
      const refs = this.refCounts();
      let total = Object.values(s.fragments).reduce((a, d) => a + d.bytes, 0);
      const out: { id: string; n: number }[] = [];
      const idle = Object.entries(s.fragments)
        .filter(([id]) => !refs[id] && !this.inflight.has(id))
        .sort((a, b) => a[1].usedAt.localeCompare(b[1].usedAt));
      for (const [id, d] of idle) {
        if (total <= budgetBytes) break;
        total -= d.bytes;
        out.push({ id, n: d.n });
        delete s.fragments[id];
      }
      const gone = new Set(out.map((o) => o.id));
      for (const [diffId, ids] of Object.entries(s.layers)) if (ids.some((id) => gone.has(id))) delete s.layers[diffId];
      this.st.count('dirsCollected', out.length);
      return out;
    });
    for (const r of removed) await rm(join(this.root, 'f', String(r.n)), { recursive: true, force: true });
    if (removed.length)
      this.log.info({ removed: removed.length }, 'collector removed unreferenced fragment directories');
    return removed.map((r) => r.id);
  }
}
