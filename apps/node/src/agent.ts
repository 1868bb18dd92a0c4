/**
 * The node agent's own work beside the Snapshots API: put an LSE image into containerd without a
 * pull or an unpack, and hold the synthesis lease while the node uses it.
 *
 * seedImage(ref, manifestDigest):
 *  1. manifest and config are read from the layer store by digest (verified on read);
 *  2. every layer is made servable from the fragment cache: layers whose descriptor names its
 *     fragments (annotation `containerd.io/snapshot/lse.fragments`) from verified fragments,
 *     other layers (base, generated top layer) from their blob, checked against the diffID; new
 *     directories are recorded in memory and written with the snapshot's record (step 3);
 *     meanwhile config and manifest go into containerd's content store (under a containerd
 *     lease) with the GC labels that keep the snapshots
 *     (`containerd.io/gc.ref.snapshot.<snapshotter>`) and the config alive;
 *  3. one Prepare with label `containerd.io/snapshot.ref=<top chainID>` (no parent) through
 *     containerd's Snapshots service: containerd asks this agent, which makes that committed
 *     snapshot from the cache, its layer being the image's whole stack of fragment directories,
 *     and answers ALREADY_EXISTS, so containerd records it without fetching or unpacking anything
 *     (containerd needs only the top chain ID to run a container); the image record is created at
 *     the same time (an existing one is updated afterwards);
 *  4. the lease is deleted (after the answer).
 *
 * Leases: with a gateway configured, each synthesis an image was seeded for is held; the agent
 * renews its lease every third of its TTL while held and releases it when the last image of it is
 * removed through the agent.
 */
import { randomBytes } from 'node:crypto';
import { LseError } from '@lse/core';
import { ANNOTATION_LAYER_FRAGMENTS as ANNOTATION_FRAGMENTS, type Log } from '@lse/engine';
import type { FragmentCache, CacheSources } from './cache';
import { Containerd, grpc, isGrpcCode } from './grpc';
import { LABEL_SNAPSHOT_REF, chainId, chainOfKey, type Snapshotter } from './snapshotter';
import type { StateFile } from './state';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface ImageManifest {
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}
interface ImageConfig {
  created?: string;
  rootfs?: { diff_ids?: string[] };
}

export interface GatewayClient {
  url: string;
  token: string;
  leaseTtlSeconds: number;
}

export interface SeedResult {
  ref: string;
  manifestDigest: string;
  chainId: string;
  layers: number;
  fromCache: number;
  materialized: number;
  /**
   * Milliseconds: manifest and config read (lease created meanwhile), layers checked/made in the
   * cache, snapshot (+ the rest of the content writes and the image record), an existing image's
   * update. `done` says when each of containerd's parts finished, counted from the end of the read:
   * content (config + manifest, started then), the snapshot's Prepare, the image record's Create.
   */
  ms: {
    read: number;
    cache: number;
    snapshots: number;
    register: number;
    done: { content: number; prepare: number; image: number };
  };
}

export class NodeAgent {
  /** Images seeded through the agent → the synthesis they hold. */
  private holds = new Map<string, string>();
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly st: StateFile,
    private readonly cache: FragmentCache,
    private readonly sn: Snapshotter,
    private readonly src: CacheSources,
    private readonly ctrd: Containerd,
    private readonly snapshotter: string,
    private readonly log: Log,
    private readonly gateway?: GatewayClient,
  ) {}

  /** `configDigest`, when the caller knows it (a synthesis result names it), lets the config be read beside the manifest. */
  async seedImage(
    ref: string,
    manifestDigest: string,
    synthesisId?: string,
    configDigest?: string,
  ): Promise<SeedResult> {
    const t0 = performance.now();
    const configRead = configDigest ? this.src.layers.get(configDigest) : undefined;
    configRead?.catch(() => undefined); // awaited below
    const manifestBytes = await this.src.layers.get(manifestDigest);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
    if (!Array.isArray(manifest.layers) || !manifest.config)
      throw new LseError(
        'IMAGE_INVALID',
        `${manifestDigest} is not an image manifest (an index? seed one of its manifests)`,
        { digest: manifestDigest },
      );
    // The lease is created while the config is read (independent round trips).
    const lease = `lse-seed-${randomBytes(6).toString('hex')}`;
    const leaseMade = this.ctrd
      .call(this.ctrd.leases, 'Create', {
        id: lease,
        labels: { 'containerd.io/gc.expire': new Date(Date.now() + 3600_000).toISOString() },
      })
      .then(() => true);
    leaseMade.catch(() => undefined); // awaited below
    try {
      if (configDigest && manifest.config.digest !== configDigest)
        throw new LseError(
          'IMAGE_INVALID',
          `image ${manifestDigest} has config ${manifest.config.digest}, not ${configDigest} as the request said`,
          { digest: manifestDigest, configDigest },
        );
      const configBytes = await (configRead ?? this.src.layers.get(manifest.config.digest));
      const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== manifest.layers.length)
        throw new LseError(
          'IMAGE_INVALID',
          `image ${manifestDigest} has ${manifest.layers.length} layers but ${diffIds.length} diff_ids`,
          { digest: manifestDigest },
        );
      const epoch = config.created ? Math.floor(Date.parse(config.created) / 1000) : 0;
      const before = this.cacheCounter('fragmentsMaterialized');
      const t1 = performance.now();
      const chains: string[] = [];
      for (const d of diffIds) chains.push(chainId(chains[chains.length - 1] ?? '', d));
      const chain = chains[chains.length - 1] ?? '';
      // Config and manifest go into containerd's content store (under the lease) while the layers
      // are checked: each write is two of containerd's metadata commits, which need not wait for
      // the cache. Nothing is extracted by them; an image that fails below leaves them to the lease.
      const labels = { [`containerd.io/gc.ref.snapshot.${this.snapshotter}`]: chain };
      const done = { content: 0, prepare: 0, image: 0 };
      const since = (k: keyof typeof done) => (done[k] = Math.round((performance.now() - t1) * 10) / 10);
      const contentWritten = leaseMade.then(() =>
        Promise.all([
          this.ctrd.writeContent(manifest.config.digest, configBytes, labels, lease),
          this.ctrd.writeContent(
            manifestDigest,
            manifestBytes,
            { 'containerd.io/gc.ref.content.config': manifest.config.digest },
            lease,
          ),
        ]).then(() => since('content')),
      );
      contentWritten.catch(() => undefined); // awaited below

      // Layers are checked (and made) 8 at a time: each is a few round trips to the fragment
      // database and the layer cache, so they overlap.
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(8, manifest.layers.length) }, async () => {
          while (next < manifest.layers.length) {
            const i = next++;
            const layer = manifest.layers[i]!;
            const named = layer.annotations?.[ANNOTATION_FRAGMENTS];
            // New directories are written with the snapshot's record below (one state write).
            if (named) await this.cache.ensureFragmentLayer(diffIds[i]!, named.split(','), epoch, { defer: true });
            else await this.cache.ensureBlobLayer(diffIds[i]!, layer.digest, { defer: true });
          }
        }),
      );

      const t2 = performance.now();
      await leaseMade;
      const fromCacheBefore = this.cacheCounter('layersFromCache');
      // containerd needs the top chain ID only: one snapshot whose layer is the whole stack of
      // fragment directories (top first), made from the cache with one Prepare (when containerd
      // has it already, its metadata store answers ALREADY_EXISTS without asking the agent).
      const stack = [...diffIds].reverse().flatMap((d) => this.st.state.layers[d] ?? []);
      const image = {
        name: ref,
        labels: {},
        target: {
          mediaType: manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest,
          size: manifestBytes.length,
          annotations: {},
        },
      };
      // A new image record is created at the same time as the snapshot (containerd does not read
      // an image's target on Create), and deleted again if the snapshot or the content could not
      // be made; an image of that name that exists already is updated only once both are in place.
      const created = this.ctrd.call(this.ctrd.images, 'Create', { image }, lease).then(
        () => (since('image'), true),
        (e: unknown) => {
          if (isGrpcCode(e, grpc.status.ALREADY_EXISTS)) return (since('image'), false);
          throw e;
        },
      );
      created.catch(() => undefined); // awaited below
      try {
        await Promise.all([
          chain
            ? this.sn.withFlatChain(chain, stack, async () => {
                try {
                  await this.ctrd.call(
                    this.ctrd.snapshots,
                    'Prepare',
                    {
                      snapshotter: this.snapshotter,
                      key: `${lease}-${chain}`,
                      parent: '',
                      labels: { [LABEL_SNAPSHOT_REF]: chain },
                    },
                    lease,
                  );
                  throw new LseError(
                    'INTERNAL',
                    `the snapshotter '${this.snapshotter}' prepared an active snapshot for ${chain} instead of serving it from the fragment cache: is containerd's proxy plugin '${this.snapshotter}' this agent?`,
                    { chain },
                  );
                } catch (e) {
                  // ALREADY_EXISTS: made from the cache now, or containerd had it
                  if (!isGrpcCode(e, grpc.status.ALREADY_EXISTS)) throw e;
                  since('prepare');
                }
              })
            : Promise.resolve(),
          contentWritten,
          created,
        ]);
      } catch (e) {
        if (await created.catch(() => false))
          await this.ctrd
            .call(this.ctrd.images, 'Delete', { name: ref })
            .catch((d: Error) =>
              this.log.warn({ ref, err: d.message }, 'could not delete the image record of a failed seeding'),
            );
        throw e;
      }
      // The agent's Prepare wrote its state (and the directories made above) before it answered;
      // when containerd had the snapshot already, the directories are written here.
      await this.st.flush();
      const t3 = performance.now();
      if (!(await created))
        await this.ctrd.call(this.ctrd.images, 'Update', { image, updateMask: { paths: ['target'] } }, lease);
      if (synthesisId) this.hold(ref, synthesisId);
      const ms = (a: number, b: number) => Math.round((b - a) * 10) / 10;
      const result = {
        ref,
        manifestDigest,
        chainId: chain,
        layers: diffIds.length,
        fromCache: this.cacheCounter('layersFromCache') - fromCacheBefore,
        materialized: this.cacheCounter('fragmentsMaterialized') - before,
        ms: {
          read: ms(t0, t1),
          cache: ms(t1, t2),
          snapshots: ms(t2, t3),
          register: ms(t3, performance.now()),
          done,
        },
      };
      this.log.info(result, 'image seeded into containerd');
      return result;
    } finally {
      // Directories made for an image that failed later are recorded too (a no-op after the flush above).
      void this.st.flush().catch((e: Error) => this.log.warn({ err: e.message }, 'could not write the agent state'));
      // The image record holds what the lease protected: deleting it need not delay the answer.
      void leaseMade
        .then(() => this.ctrd.call(this.ctrd.leases, 'Delete', { id: lease }))
        .catch((e: Error) =>
          this.log.warn({ lease, err: e.message }, 'could not delete the seeding lease; it expires in an hour'),
        );
    }
  }

  /** Manifest digest → the image's layers (diffID, descriptor, chain ID), or null when the layer store has no such image. */
  private imageLayers = new Map<
    string,
    Promise<{
      manifests?: string[];
      layers: { diffId: string; layer: Descriptor; chain: string }[];
      epoch: number;
    } | null>
  >();

  /** `manifestBytes`, when given, must be the bytes of `manifestDigest` (the caller checked their digest). */
  private layersOf(manifestDigest: string, manifestBytes?: Buffer) {
    let p = this.imageLayers.get(manifestDigest);
    if (!p) {
      p = (async () => {
        const manifest = JSON.parse(
          (manifestBytes ?? (await this.src.layers.get(manifestDigest))).toString('utf8'),
        ) as ImageManifest & {
          manifests?: Descriptor[];
        };
        if (Array.isArray(manifest.manifests))
          return { manifests: manifest.manifests.map((m) => m.digest).slice(0, 16), layers: [], epoch: 0 };
        if (!Array.isArray(manifest.layers) || !manifest.config) return null;
        const config = JSON.parse((await this.src.layers.get(manifest.config.digest)).toString('utf8')) as ImageConfig;
        const diffIds = config.rootfs?.diff_ids ?? [];
        if (diffIds.length !== manifest.layers.length) return null;
        let chain = '';
        const layers = diffIds.map((diffId, i) => ({
          diffId,
          layer: manifest.layers[i]!,
          chain: (chain = chainId(chain, diffId)),
        }));
        return { layers, epoch: config.created ? Math.floor(Date.parse(config.created) / 1000) : 0 };
      })().catch(() => null); // not an image of this layer store (any other image containerd pulls)
      this.imageLayers.set(manifestDigest, p);
      if (this.imageLayers.size > 1000) this.imageLayers.delete(this.imageLayers.keys().next().value!);
    }
    return p;
  }

  /**
   * Creates containerd's records of the chain IDs of `layers[at..]` (in `namespace`) from the
   * cache: each layer is made servable (verified, as for seeding; 8 at a time), then, bottom up,
   * a remote-snapshot Prepare (`containerd.io/snapshot.ref=<chainID>`, parent the chain below)
   * under a lease of its own that expires in ten minutes (by then the unpack has labelled the
   * image's config, which keeps the chain). `parentKey` is the agent's key of the snapshot below
   * `at` (as containerd sent it to the agent), '' at the bottom. A layer that cannot be served
   * from the cache stops the walk: the records below it are made, then its error is thrown.
   * Returns how many chain IDs have a record now.
   */
  private async makeChainRecords(
    img: { layers: { diffId: string; layer: Descriptor; chain: string }[]; epoch: number },
    at: number,
    parentKey: string,
    namespace: string,
    timeoutMs: number,
  ): Promise<number> {
    const pending = img.layers.slice(at);
    const ready: (Error | undefined)[] = new Array<Error | undefined>(pending.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(8, pending.length) }, async () => {
        while (next < pending.length) {
          const i = next++;
          const { diffId, layer } = pending[i]!;
          const named = layer.annotations?.[ANNOTATION_FRAGMENTS];
          try {
            if (named) await this.cache.ensureFragmentLayer(diffId, named.split(','), img.epoch);
            else await this.cache.ensureBlobLayer(diffId, layer.digest);
          } catch (e) {
            ready[i] = e as Error;
            next = pending.length; // nothing above a failed layer is needed
          }
        }
      }),
    );
    let lease = '';
    let made = 0;
    for (let j = at; j < img.layers.length; j++) {
      const failed = ready[j - at];
      if (failed) throw failed;
      const { chain: c } = img.layers[j]!;
      const below = j > 0 ? img.layers[j - 1]!.chain : '';
      if (!this.sn.cachedLayer(j === at ? parentKey : below, c)) break;
      if (!lease) {
        lease = `lse-unpack-${randomBytes(6).toString('hex')}`;
        await this.ctrd.call(
          this.ctrd.leases,
          'Create',
          { id: lease, labels: { 'containerd.io/gc.expire': new Date(Date.now() + 600_000).toISOString() } },
          undefined,
          { namespace, timeoutMs },
        );
      }
      const tmp = `${lease}-${j}`;
      try {
        await this.ctrd.call(
          this.ctrd.snapshots,
          'Prepare',
          { snapshotter: this.snapshotter, key: tmp, parent: below, labels: { [LABEL_SNAPSHOT_REF]: c } },
          lease,
          { namespace, timeoutMs },
        );
        // An active snapshot instead of the cache's: not this agent behind the plugin name; undo and stop.
        await this.ctrd.call(this.ctrd.snapshots, 'Remove', { snapshotter: this.snapshotter, key: tmp }, lease, {
          namespace,
          timeoutMs,
        });
        break;
      } catch (e) {
        if (!isGrpcCode(e, grpc.status.ALREADY_EXISTS)) throw e;
        made++;
      }
    }
    return made;
  }

  /**
   * containerd (`ctr images pull`, which sends no snapshot labels) prepares `key`, an extract
   * snapshot for `chain` on `parent`: it applies layers one by one and skips a layer whose chain
   * ID it already has a record of. So, before this Prepare answers, the agent finds the images in
   * that namespace whose chain holds `chain` right above `parent`'s and makes the records of their
   * chain IDs from here up (`makeChainRecords`). containerd still applies this one layer (its
   * Commit then finds the record and the copy is removed), and unpacks none above it. Best
   * effort: any failure leaves containerd's normal extract path. (Pulls through the agent's
   * registry endpoint do not get here: `prepareFromManifest` made every record beforehand.)
   */
  async prepareAhead(key: string, parent: string, chain: string): Promise<void> {
    const namespace = key.split('/')[0] ?? this.ctrd.namespace;
    const parentChain = parent ? (chainOfKey(parent) ?? '') : '';
    const timeoutMs = 20_000; // containerd holds a metadata read lock while it waits for this Prepare
    try {
      const listed = await this.ctrd.call<{
        images?: { target?: { digest?: string }; updatedAt?: { seconds?: number } }[];
      }>(this.ctrd.images, 'List', { filters: [] }, undefined, { namespace, timeoutMs });
      const digests: string[] = [
        ...new Set(
          (listed.images ?? [])
            .sort((a, b) => (b.updatedAt?.seconds ?? 0) - (a.updatedAt?.seconds ?? 0))
            .map((i) => i.target?.digest ?? '')
            .filter((d) => /^sha256:[0-9a-f]{64}$/.test(d)),
        ),
      ].slice(0, 20);
      let made = 0;
      for (let d = 0; d < digests.length && d < 64; d++) {
        const img = await this.layersOf(digests[d]!);
        if (img?.manifests) digests.push(...img.manifests.filter((m) => !digests.includes(m))); // an index: its platforms' manifests
        const at = img?.layers.findIndex((l) => l.chain === chain) ?? -1;
        if (!img || at < 0 || (at > 0 ? img.layers[at - 1]!.chain : '') !== parentChain) continue;
        made += await this.makeChainRecords(img, at, parent, namespace, timeoutMs);
      }
      if (made)
        this.log.info(
          { key, chain, records: made },
          'containerd is unpacking an image the cache can serve: its chain was made from the cache',
        );
    } catch (e) {
      this.log.warn(
        { key, chain, err: (e as Error).message },
        'could not make the rest of the chain from the cache; containerd unpacks it',
      );
    }
  }

  /** Images whose records `prepareFromManifest` is making now (two pulls of one image: one seeding). */
  private preparing = new Map<string, Promise<{ layers: number; records: number } | null>>();

  /**
   * The agent's registry endpoint (registry.ts) relayed a 200 manifest `manifestDigest`
   * (`manifestBytes`, digest checked) to a client the gateway authorized: when it is an LSE image
   * (a layer descriptor names its fragments), every layer is made servable from the cache and each
   * chain ID gets its record in containerd (`makeChainRecords`, in the agent's namespace) before
   * the client gets the manifest, so the unpack that follows finds all of them and prepares
   * nothing for extraction. Null when it is not an LSE image (or an index: its platform manifest
   * is handled when the client fetches it). Throws when the cache cannot serve a layer (the
   * records below it are made); the endpoint then relays the manifest anyway.
   */
  prepareFromManifest(
    manifestDigest: string,
    manifestBytes: Buffer,
  ): Promise<{ layers: number; records: number } | null> {
    let p = this.preparing.get(manifestDigest);
    if (p) return p;
    p = (async () => {
      const img = await this.layersOf(manifestDigest, manifestBytes);
      if (!img || img.manifests || !img.layers.some((l) => l.layer.annotations?.[ANNOTATION_FRAGMENTS])) return null;
      const t0 = performance.now();
      try {
        const records = await this.makeChainRecords(img, 0, '', this.ctrd.namespace, 20_000);
        await this.st.change(() => this.st.count('registryImagesPrepared'));
        const result = { layers: img.layers.length, records };
        this.log.info(
          { manifestDigest, ...result, ms: Math.round(performance.now() - t0) },
          "registry endpoint: the image's chain was made from the cache before its manifest was relayed",
        );
        return result;
      } catch (e) {
        await this.st.change(() => this.st.count('registryPrepareFailures'));
        throw e;
      }
    })().finally(() => this.preparing.delete(manifestDigest));
    this.preparing.set(manifestDigest, p);
    return p;
  }

  /** Removes an image from containerd (its snapshots go with containerd's GC) and drops its hold on the synthesis. */
  async removeImage(ref: string): Promise<void> {
    try {
      await this.ctrd.call(this.ctrd.images, 'Delete', { name: ref, sync: true });
    } catch (e) {
      if (!isGrpcCode(e, grpc.status.NOT_FOUND)) throw e;
    }
    const syn = this.holds.get(ref);
    this.holds.delete(ref);
    if (syn && ![...this.holds.values()].includes(syn)) await this.release(syn);
  }

  private cacheCounter(name: string): number {
    return this.st.state.counters[name] ?? 0;
  }

  held(): Record<string, string> {
    return Object.fromEntries(this.holds);
  }

  private hold(ref: string, synthesisId: string): void {
    this.holds.set(ref, synthesisId);
    if (!this.gateway || this.renewTimer) return;
    const every = Math.max(1, Math.floor(this.gateway.leaseTtlSeconds / 3)) * 1000;
    this.renewTimer = setInterval(() => void this.renewAll(), every);
    this.renewTimer.unref();
    void this.renewAll();
  }

  async renewAll(): Promise<void> {
    if (!this.gateway) return;
    for (const syn of new Set(this.holds.values())) {
      const res = await this.gatewayCall('POST', `/v1/syntheses/${encodeURIComponent(syn)}/lease`, {
        ttlSeconds: this.gateway.leaseTtlSeconds,
      }).catch((e: Error) => ({ status: 0, text: e.message }));
      if (res.status !== 200)
        this.log.warn({ synthesisId: syn, status: res.status, answer: res.text.slice(0, 200) }, 'lease renewal failed');
    }
  }

  private async release(synthesisId: string): Promise<void> {
    if (!this.gateway) return;
    const res = await this.gatewayCall('DELETE', `/v1/syntheses/${encodeURIComponent(synthesisId)}`).catch(
      (e: Error) => ({ status: 0, text: e.message }),
    );
    if (res.status !== 204) this.log.warn({ synthesisId, status: res.status }, 'lease release failed');
    else this.log.info({ synthesisId }, 'synthesis lease released: no image of it is left on this node');
    if (this.holds.size === 0 && this.renewTimer) {
      clearInterval(this.renewTimer);
      this.renewTimer = undefined;
    }
  }

  private async gatewayCall(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const g = this.gateway!;
    const res = await fetch(new URL(path, g.url), {
      method,
      headers: {
        authorization: `Bearer ${g.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, text: await res.text() };
  }

  close(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
  }
}
